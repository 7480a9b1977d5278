"""``simulate`` of Pod files as written, against the real kube-scheduler, on nodes tainted
``node.kubernetes.io/not-ready`` or ``unreachable`` with NoExecute.

A Pod file has not been through the API server: its ``DefaultTolerationSeconds`` admission plugin
adds a 300 s toleration of each of the two taints unless the Pod already has one for that key (or
an empty key) and NoExecute (or any effect). ``simulate`` must add them as the API server does, or
it says "does not fit" where the scheduler binds the Pod. Each Pod is created pinned to each node
(a ``matchFields metadata.name`` requirement) exactly as the file has it, and the scheduler's
verdict must equal ``simulate``'s. The control plane runs no node lifecycle controller, so the
taints stay as created.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import wait_for
from tests.e2e.helpers import by_pod, simulate, write_yaml
from tests.e2e.kube import ROOT, create_namespace, create_node, pods, scheduled
from tests.e2e.test_simulate_vs_scheduler import pinned

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NS = "e2e-unhealthy"
SELECTOR = "e2e-fit=pinned"  # what ``pinned`` labels each Pod with
NOT_READY, UNREACHABLE = "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"

NODES: dict[str, list[dict[str, str]]] = {
    "unhealthy-not-ready": [{"key": NOT_READY, "effect": "NoExecute"}],
    "unhealthy-unreachable": [{"key": UNREACHABLE, "effect": "NoExecute"}],
    "unhealthy-both": [
        {"key": NOT_READY, "effect": "NoExecute"},
        {"key": UNREACHABLE, "effect": "NoExecute"},
    ],
    # as a node the lifecycle controller finds not ready: the NoSchedule taint the defaults do not cover
    "unhealthy-not-ready-noschedule": [
        {"key": NOT_READY, "effect": "NoSchedule"},
        {"key": NOT_READY, "effect": "NoExecute"},
    ],
    "unhealthy-control": [],
}

TOLERATIONS: dict[str, list[dict[str, Any]]] = {
    "none": [],
    # NoSchedule is not NoExecute: both defaults are still added, and this one covers the NoSchedule taint
    "not-ready-noschedule": [{"key": NOT_READY, "operator": "Exists", "effect": "NoSchedule"}],
    # key and NoExecute: no not-ready default, although this toleration tolerates no not-ready taint
    "not-ready-wrong-value": [{"key": NOT_READY, "operator": "Equal", "value": "x", "effect": "NoExecute"}],
    # any effect counts as NoExecute: no unreachable default; this one tolerates the taint itself
    "unreachable-any-effect": [{"key": UNREACHABLE, "operator": "Exists"}],
    # an empty key stands for both keys: no default at all
    "every-noexecute-briefly": [{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}],
}


def pod_file_pod(name: str, tolerations: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "registry.invalid/fit:1"}]}
    if tolerations:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": spec}


@pytest.fixture(scope="module")
def unhealthy_nodes(cluster: Cluster) -> Iterator[list[dict[str, Any]]]:
    offset = len(cluster.nodes) + 100  # addresses apart from the other scenarios' nodes
    created = [
        create_node(
            cluster.api,
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {"taints": taints}},
            offset + index,
        )
        for index, (name, taints) in enumerate(NODES.items())
    ]
    create_namespace(cluster.api, NS)
    try:
        yield created
    finally:
        for name in NODES:
            cluster.api.delete(f"/api/v1/nodes/{name}")


def scheduler_verdicts(cluster: Cluster, attempts: list[dict[str, Any]]) -> dict[str, bool]:
    """Pod name → whether the scheduler bound it; every Pod deleted afterwards."""
    for pod in attempts:
        cluster.api.create(f"/api/v1/namespaces/{NS}/pods", pod)

    def decided() -> list[dict[str, Any]] | None:
        found = pods(cluster.api, NS, SELECTOR)
        return found if len(found) == len(attempts) and all(scheduled(p) for p in found) else None

    verdicts = {
        p["metadata"]["name"]: scheduled(p) == "bound"
        for p in wait_for(f"the scheduler on {len(attempts)} pinned Pods", decided, 180, interval=0.5)
    }
    cluster.api.request(
        "DELETE", f"/api/v1/namespaces/{NS}/pods", labelSelector=SELECTOR, gracePeriodSeconds=0
    )
    wait_for("the pinned Pods to go", lambda: not pods(cluster.api, NS, SELECTOR), 60, interval=0.3)
    return verdicts


def test_simulate_adds_the_default_tolerations_to_pod_files_as_the_api_server_does(
    cluster: Cluster, unhealthy_nodes: list[dict[str, Any]]
) -> None:
    files = {name: pod_file_pod(name, tolerations) for name, tolerations in TOLERATIONS.items()}
    nodes_file = write_yaml(unhealthy_nodes, cluster.plane.run_dir)
    _, report = simulate(
        [write_yaml(list(files.values()), cluster.plane.run_dir)],
        nodes=nodes_file,
        policies=ROOT / "policies.yaml",
    )
    predicted = {
        pod: {n["node"]: n for n in entry["before"]["nodes"]} for pod, entry in by_pod(report).items()
    }
    attempts, expected = [], {}
    for pod_name, pod in files.items():
        for node in NODES:
            name = f"{pod_name}-on-{node.removeprefix('unhealthy-')}"
            attempts.append(pinned(pod, node, name))
            verdict = predicted[f"{NS}/{pod_name}"][node]
            expected[name] = (verdict["fits"], verdict["reason"])

    actual = scheduler_verdicts(cluster, attempts)
    disagreements = [
        f"{name}: simulate fits={fits} ({reason}), scheduler bound={actual[name]}"
        for name, (fits, reason) in expected.items()
        if actual[name] != fits
    ]
    assert not disagreements, "\n".join(disagreements)
    # the scenario is the one meant: a Pod without tolerations lands on every NoExecute-only node
    assert {n for n in NODES if actual[f"none-on-{n.removeprefix('unhealthy-')}"]} == {
        "unhealthy-not-ready",
        "unhealthy-unreachable",
        "unhealthy-both",
        "unhealthy-control",
    }
    assert not actual["not-ready-wrong-value-on-not-ready"] and actual["not-ready-wrong-value-on-unreachable"]
