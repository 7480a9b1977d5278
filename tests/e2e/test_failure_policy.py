"""Scenario 7: ``failurePolicy: Fail`` while the webhook is down, and ``Ignore`` for contrast."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import install, seldon
from tests.e2e.conftest import Cluster, probe_pod
from tests.e2e.controlplane import wait_for
from tests.e2e.helpers import POLICY_ANNOTATION, create, tolerations, wait_pods
from tests.e2e.kube import create_namespace, pods

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NS = "e2e-outage"
GPU_TOLERATION = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/placement-webhook"


@pytest.fixture(scope="module")
def outage(cluster: Cluster) -> Iterator[Cluster]:
    create_namespace(cluster.api, NS)
    cluster.api.create(f"/api/v1/namespaces/{NS}/serviceaccounts", {"metadata": {"name": "seldon-server"}})
    yield cluster
    if cluster.webhook.process is None:
        cluster.webhook.start()
    set_failure_policy(cluster, "Fail")


def set_failure_policy(cluster: Cluster, policy: str) -> None:
    patch = [{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": policy}]
    cluster.api.request("PATCH", MWC, patch, content_type="application/json-patch+json")


def gpu_statefulset(name: str, replicas: int) -> dict[str, Any]:
    server = seldon.server(
        name,
        "triton",
        {"containers": [{"name": "triton", "resources": {"limits": {"nvidia.com/gpu": 1}}}]},
        replicas=replicas,
    )
    sts = seldon.workload(server)
    sts["metadata"]["namespace"] = NS
    return sts


def failed_creates(cluster: Cluster, name: str) -> list[str] | None:
    events = cluster.api.items(
        f"/api/v1/namespaces/{NS}/events", fieldSelector=f"involvedObject.name={name},reason=FailedCreate"
    )
    return [e["message"] for e in events] or None


def placed(pod: dict[str, Any]) -> bool:
    return POLICY_ANNOTATION in (pod["metadata"].get("annotations") or {}) and GPU_TOLERATION in tolerations(
        pod
    )


def wait_called(cluster: Cluster) -> None:
    install.wait_until_called(cluster.plane, NS, probe_pod())


def test_fail_refuses_server_pods_while_down_and_the_statefulset_catches_up(outage: Cluster) -> None:
    cluster = outage
    cluster.webhook.stop()
    create(cluster.api, gpu_statefulset("outage", 3))
    refused = wait_for("a refused Pod creation", lambda: failed_creates(cluster, "outage"), 30)
    assert any('failed calling webhook "pods.placement-webhook.io"' in m for m in refused), refused
    assert pods(cluster.api, NS, "seldon-server-name=outage") == []

    cluster.webhook.start()
    created = wait_pods(cluster.api, NS, "seldon-server-name=outage", 3, timeout=120)
    counts = {"created": len(created), "placed": sum(map(placed, created))}
    counts["unplaced"] = counts["created"] - counts["placed"]
    print(f"failurePolicy Fail after an outage: {counts}")
    assert counts == {"created": 3, "placed": 3, "unplaced": 0}
    assert all(p["spec"].get("nodeName") for p in created)


def test_ignore_creates_unplaced_pods_while_down(outage: Cluster) -> None:
    cluster = outage
    set_failure_policy(cluster, "Ignore")
    cluster.webhook.stop()
    try:
        # the configuration change reaches the API server's informer a little later
        def ignored() -> bool:
            pod = cluster.api.create(f"/api/v1/namespaces/{NS}/pods", probe_pod("ignored"), dryRun="All")
            return not placed(pod)

        wait_for("failurePolicy Ignore to take effect", ignored, 30, interval=0.3)
        create(cluster.api, gpu_statefulset("ignored", 3))
        created = wait_pods(cluster.api, NS, "seldon-server-name=ignored", 3, timeout=60)
    finally:
        cluster.webhook.start()
        set_failure_policy(cluster, "Fail")
    counts = {"created": len(created), "placed": sum(map(placed, created))}
    counts["unplaced"] = counts["created"] - counts["placed"]
    print(f"failurePolicy Ignore during an outage: {counts}")
    assert counts == {"created": 3, "placed": 0, "unplaced": 3}
    # unplaced GPU servers: no toleration for the GPU pool, and no untainted node offers a GPU
    assert all(not p["spec"].get("nodeName") for p in created)
    wait_called(cluster)
