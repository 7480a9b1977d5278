"""Three replicas from the image behind the Service, restarted every way under steady load.

One load of GPU server Pod creates (50/s, ``failurePolicy: Fail``) runs through every scenario in
turn: a policy reload, a certificate rotation, a rolling restart as the Deployment controller does
it, one replica deleted (the EndpointSlice controller withdraws it, the kubelet stand-in runs the
``preStop`` sleep, then SIGTERM), and one replica SIGKILLed (restarted by the kubelet; the API
server keeps dialing it until the readiness probe fails). Each scenario's creates are counted
over its own window: created and placed, created unplaced, failed; and the API server's own
rejection and fail-open counters. Targets: nothing unplaced anywhere, no failed admission but
under SIGKILL, which is bounded and reported.
"""

from __future__ import annotations

import base64
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.controlplane import wait_for
from tests.e2e.imaged import NS, ImagedCluster, failures_since, imaged_cluster, require_image
from tests.e2e.kube import create_namespace
from tests.e2e.kubelet import Termination
from tests.e2e.load import Load, webhook_metrics
from webhook.cluster.certs import build_serving_certificate, load_key_pair, service_hostnames

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

REPLICAS = 3
LOAD_NS = "e2e-ha-load"
SETTLE = 3.0  # seconds of load after each scenario, counted with it


@dataclass
class Scenario:
    name: str
    seconds: float
    counts: Counter[str]
    api_server: Counter[str]
    failures: list[str]

    def row(self) -> str:
        c = self.counts
        seen = (
            ", ".join(f"{k.split(':', 1)[1]} {v:g}" for k, v in sorted(self.api_server.items()) if v)
            or "none"
        )
        return (
            f"{self.name:<18} {self.seconds:5.1f} s  created {c['placed'] + c['unplaced']:5d}  placed {c['placed']:5d}"
            f"  unplaced {c['unplaced']:3d}  failed {c['failed']:3d}  API server: {seen}"
        )


def _policy_reload(cluster: ImagedCluster) -> None:
    path = f"/api/v1/namespaces/{NS}/configmaps/placement-webhook-policies"
    policies = yaml.safe_load(cluster.api.get(path)["data"]["policies.yaml"])
    policies["policies"][0].setdefault("description", "")
    policies["policies"][0]["description"] += " (reloaded under load)"
    pods = cluster.ready_pods()
    before = {p["metadata"]["uid"]: cluster.metric(p, "placement_webhook_policy_generation") for p in pods}
    cluster.api.merge(path, {"data": {"policies.yaml": yaml.safe_dump(policies, sort_keys=False)}})
    wait_for(
        "every replica to reload",
        lambda: all(
            cluster.metric(p, "placement_webhook_policy_generation") > before[p["metadata"]["uid"]]
            for p in pods
        ),
        30,
    )


def _certificate_rotation(cluster: ImagedCluster) -> None:
    ca_secret = cluster.api.get(f"/api/v1/namespaces/{NS}/secrets/placement-webhook-ca")["data"]
    ca = load_key_pair(
        base64.b64decode(ca_secret["ca.crt"]), base64.b64decode(ca_secret["ca.key"]), what="CA"
    )
    serving = build_serving_certificate(ca, service_hostnames("placement-webhook", NS), days=200)
    pods = cluster.ready_pods()
    data = {"tls.crt": serving.cert_pem, "tls.key": serving.key_pem}
    cluster.api.merge(
        f"/api/v1/namespaces/{NS}/secrets/placement-webhook-tls",
        {"data": {k: base64.b64encode(v).decode() for k, v in data.items()}},
    )
    expiry = serving.certificate.not_valid_after_utc.timestamp()
    wait_for(
        "every replica to serve the new certificate",
        lambda: all(
            abs(cluster.metric(p, "placement_webhook_certificate_expiry_timestamp_seconds") - expiry) < 2
            for p in pods
        ),
        30,
    )


def _settled(cluster: ImagedCluster) -> bool:
    pods = cluster.server_pods()
    return len(pods) == REPLICAS and len(cluster.ready_pods()) == REPLICAS


def _rolling_restart(cluster: ImagedCluster) -> None:
    before = {p["metadata"]["uid"] for p in cluster.server_pods()}
    restarted = {"kubectl.kubernetes.io/restartedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    cluster.api.merge(
        f"/apis/apps/v1/namespaces/{NS}/deployments/placement-webhook",
        {"spec": {"template": {"metadata": {"annotations": restarted}}}},
    )
    wait_for(
        "every replica replaced",
        lambda: _settled(cluster) and not before & {p["metadata"]["uid"] for p in cluster.server_pods()},
        180,
    )


def _sigterm_one(cluster: ImagedCluster) -> None:
    pod = cluster.ready_pods()[0]
    cluster.api.delete(f"/api/v1/namespaces/{NS}/pods/{pod['metadata']['name']}")
    gone = pod["metadata"]["uid"]
    wait_for(
        "the replica replaced",
        lambda: _settled(cluster) and gone not in {p["metadata"]["uid"] for p in cluster.server_pods()},
        90,
    )


def _sigkill_one(cluster: ImagedCluster) -> None:
    container = next(
        c for c in cluster.kubelet.containers.values() if c.spec["name"] == "webhook" and c.ready
    )
    restarts = container.restarts
    assert container.process is not None
    os.kill(container.process.popen.pid, signal.SIGKILL)
    wait_for(
        "the killed replica restarted and ready",
        lambda: container.restarts > restarts and _settled(cluster),
        60,
    )


SCENARIOS: list[tuple[str, Callable[[ImagedCluster], None]]] = [
    ("policy reload", _policy_reload),
    ("cert rotation", _certificate_rotation),
    ("rolling restart", _rolling_restart),
    ("SIGTERM one", _sigterm_one),
    ("SIGKILL one", _sigkill_one),
]


@dataclass
class Run:
    scenarios: dict[str, Scenario]
    terminations: list[Termination]


@pytest.fixture(scope="module")
def run(binaries: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[Run]:
    require_image()
    with imaged_cluster(binaries, {"replicas": REPLICAS}, keep_logs=failures_since(request)) as cluster:
        create_namespace(cluster.api, LOAD_NS)
        load = Load(cluster.plane, LOAD_NS)
        results: dict[str, Scenario] = {}
        load.start()
        try:
            time.sleep(SETTLE)
            for name, run in [("steady", lambda _: time.sleep(5)), *SCENARIOS]:
                metrics, start = webhook_metrics(cluster.plane), time.monotonic()
                run(cluster)
                time.sleep(SETTLE)
                end = time.monotonic()
                results[name] = Scenario(
                    name, end - start, load.between(start, end), webhook_metrics(cluster.plane) - metrics,
                    load.failures_between(start, end),
                )  # fmt: skip
        finally:
            load.stop()
        total = load.between(0, time.monotonic())
        print(f"\nHA under load ({load.rate:g} creates/s, {REPLICAS} replicas from the image):")
        for scenario in results.values():
            print("  " + scenario.row())
        print(f"  all: {sum(total.values())} creates, {dict(total)}")
        for ended in cluster.kubelet.terminations:
            print(
                f"  {ended.pod}: SIGTERM {ended.signalled_after:.1f} s after deletion, exit {ended.exit_code} {ended.exited_after:.1f} s later"
            )
        yield Run(results, list(cluster.kubelet.terminations))


@pytest.mark.parametrize(
    "name", ["steady", "policy reload", "cert rotation", "rolling restart", "SIGTERM one"]
)
def test_no_admission_fails_and_no_pod_goes_unplaced(run: Run, name: str) -> None:
    scenario = run.scenarios[name]
    assert scenario.counts["placed"] > 0, scenario.row()
    assert scenario.counts["unplaced"] == 0, scenario.row()
    assert scenario.counts["failed"] == 0, (scenario.row(), scenario.failures[:5])
    assert not +scenario.api_server, scenario.row()


def test_a_sigkilled_replica_costs_a_bounded_number_of_admissions(run: Run) -> None:
    """Killed, its connections reset and its address refuses until the restarted process listens:
    the API server fails what it sent there meanwhile (nothing is created unplaced)."""
    scenario = run.scenarios["SIGKILL one"]
    assert scenario.counts["unplaced"] == 0, scenario.row()
    assert scenario.counts["placed"] > 0, scenario.row()
    assert scenario.counts["failed"] <= 0.1 * sum(scenario.counts.values()), (
        scenario.row(),
        scenario.failures[:5],
    )


def test_deleted_replicas_wait_for_prestop_then_drain_and_exit_0(run: Run) -> None:
    """Four deletions (three by the rolling restart, one by hand): each got SIGTERM only after the
    chart's preStop sleep and exited 0 well within the grace period."""
    assert len(run.terminations) == REPLICAS + 1, run.terminations
    for ended in run.terminations:
        assert ended.signalled_after >= 5 - 0.5, ended
        assert ended.exit_code == 0, ended
        assert ended.exited_after < 5, ended
