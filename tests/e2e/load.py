"""A steady stream of Seldon server Pod creates through the API server, and what it saw.

Each create is one GPU server Pod (the shipped policies place it and the guard is asked about it),
held out of the scheduler by a scheduling gate so the load is admission, not scheduling. Every
outcome is kept with its time, so scenarios that run one after another under one load are each
counted over their own window: created and placed (the policy annotation is there), created
unplaced (admitted without the webhook: impossible with ``failurePolicy: Fail``), or failed (the
API server refused the create, e.g. ``failed calling webhook``). The API server's own view comes
from its metrics: rejections and fail-open counts per webhook.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.controlplane import ApiError, ControlPlane

POLICY_ANNOTATION = "placement-webhook.io/policy"
WEBHOOK_METRICS = (
    "apiserver_admission_webhook_rejection_count",
    "apiserver_admission_webhook_fail_open_count",
)


def server_pod(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"load-{index:06d}", "labels": {"seldon-server-name": "load"}},
        "spec": {
            "schedulingGates": [{"name": "e2e.placement-webhook.io/admission-load"}],
            "containers": [
                {
                    "name": "main",
                    "image": "registry.invalid/load:1",
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ],
        },
    }


@dataclass
class Outcome:
    at: float
    result: str  # placed | unplaced | failed
    detail: str = ""


@dataclass
class Load:
    plane: ControlPlane
    namespace: str
    rate: float = 50.0
    workers: int = 16
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        with ThreadPoolExecutor(self.workers) as pool:
            started, index = time.monotonic(), 0
            while not self._stop.is_set():
                pool.submit(self._create, path, index)
                index += 1
                delay = started + index / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def _create(self, path: str, index: int) -> None:
        at = time.monotonic()
        try:
            pod = self.plane.api.create(path, server_pod(index))
        except ApiError as error:
            self.outcomes.append(Outcome(at, "failed", str(error)[:300]))
            return
        annotations = pod["metadata"].get("annotations") or {}
        self.outcomes.append(Outcome(at, "placed" if POLICY_ANNOTATION in annotations else "unplaced"))

    def between(self, start: float, end: float) -> Counter[str]:
        return Counter(o.result for o in list(self.outcomes) if start <= o.at < end)

    def failures_between(self, start: float, end: float) -> list[str]:
        return [o.detail for o in list(self.outcomes) if start <= o.at < end and o.result == "failed"]


def webhook_metrics(plane: ControlPlane) -> Counter[str]:
    """The API server's counters of webhook rejections and fail-opens, by metric and webhook."""
    text = plane.api.http.get("/metrics").text
    totals: Counter[str] = Counter()
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if name in WEBHOOK_METRICS:
            webhook = re.search(r'name="([^"]+)"', line)
            kind = re.search(r'error_type="([^"]+)"', line)
            key = f"{name}:{webhook.group(1) if webhook else '?'}" + (f":{kind.group(1)}" if kind else "")
            totals[key] += float(line.rsplit(" ", 1)[1])
    return totals
