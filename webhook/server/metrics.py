"""Prometheus metrics on a registry of their own (no global state shared between app instances)."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the output and nobody alerts on them

LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.admissions = Counter(
            "placement_webhook_admissions_total",
            "Admission reviews answered, by policy and outcome.",
            ["policy", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "placement_webhook_admission_duration_seconds",
            "Time to decide one admission review.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.bad_requests = Counter(
            "placement_webhook_bad_requests_total",
            "Requests answered with a 4xx status, by status code.",
            ["code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "placement_webhook_internal_errors_total",
            "Admission requests that failed with an internal error.",
            registry=self.registry,
        )
        self.reloads = Counter(
            "placement_webhook_policy_reloads_total",
            "Policy file reloads, by result.",
            ["result"],
            registry=self.registry,
        )
        self.generation = Gauge(
            "placement_webhook_policy_generation",
            "Generation of the policies in force (1 at start-up).",
            registry=self.registry,
        )
        self.policies = Gauge(
            "placement_webhook_policies", "Number of policies in force.", registry=self.registry
        )
        self.certificate_reloads = Counter(
            "placement_webhook_certificate_reloads_total",
            "Serving certificate reloads, by result.",
            ["result"],
            registry=self.registry,
        )
        self.certificate_expiry = Gauge(
            "placement_webhook_certificate_expiry_timestamp_seconds",
            "Unix time when the serving certificate expires.",
            registry=self.registry,
        )

        self._admission_children: dict[tuple[str, str], Any] = {}

    def count_admission(self, policy: str, outcome: str, seconds: float) -> None:
        """Count one answered review; label children are cached (``labels()`` locks and hashes)."""
        child = self._admission_children.get((policy, outcome))
        if child is None:
            child = self._admission_children.setdefault(
                (policy, outcome), self.admissions.labels(policy, outcome)
            )
        child.inc()
        self.latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
