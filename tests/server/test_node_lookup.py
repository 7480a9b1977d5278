"""The server's side of the guard's ``spec.nodeName`` rule: the node's taints are looked up only for
a Pod being created bound to a node while reservations exist; unknown taints give no answer (502),
so the API server's failurePolicy (Fail for the chart's nodeName webhook) decides."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import ROOT, admission_review, minimal_pod
from webhook.server.app import AppState, create_app
from webhook.server.metrics import Metrics
from webhook.server.namespace_lookup import NamespaceLookup
from webhook.server.reloading import PolicyStore

RESERVED = ROOT / "examples" / "reserved-gpu-pool.yaml"
GPU_TAINT = {"key": "seldon-gpu-srv", "value": "true", "effect": "NoSchedule"}


class RecordingTaints:
    """A node taint source (``LabelSource``): gpu-1 is reserved, cpu-1 is not, others unknown."""

    ready = True
    failure = None

    def __init__(self) -> None:
        self.asked: list[str] = []

    def start(self) -> None:
        pass

    def labels(self, name: str) -> Sequence[Mapping[str, Any]] | None:
        self.asked.append(name)
        return {"gpu-1": [GPU_TAINT], "cpu-1": []}.get(name)

    def fetch(self, name: str) -> Sequence[Mapping[str, Any]] | None:
        self.asked.append(f"GET {name}")
        return None


def serve(policies: Path, source: RecordingTaints) -> Any:
    metrics = Metrics()
    lookup = NamespaceLookup(lambda: source, subject="node")
    lookup.ensure_started()
    return create_app(
        AppState(PolicyStore(policies, metrics), None, metrics, 1 << 20, 5.0, nodes=lookup)
    ), metrics


def post(app: Any, pod: dict[str, Any], **request: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as client:
            return await client.post("/validate", json=admission_review(pod, namespace="team-a", **request))

    return asyncio.run(go())


def tenant_pod(node: str | None) -> dict[str, Any]:
    pod = minimal_pod()
    pod["metadata"] = {"name": "train-0", "namespace": "team-a"}
    if node is not None:
        pod["spec"]["nodeName"] = node
    return pod


def test_a_pod_bound_to_a_reserved_node_is_refused_and_one_bound_elsewhere_admitted() -> None:
    source = RecordingTaints()
    app, metrics = serve(RESERVED, source)
    refused = post(app, tenant_pod("gpu-1")).json()["response"]
    assert refused["allowed"] is False and refused["status"]["code"] == 403
    assert "names node gpu-1 in spec.nodeName" in refused["status"]["message"]
    assert "ask the platform team" in refused["status"]["message"]
    assert post(app, tenant_pod("cpu-1")).json()["response"]["allowed"] is True
    assert post(app, tenant_pod(None)).json()["response"]["allowed"] is True
    assert source.asked == ["gpu-1", "cpu-1"]  # not for the unbound Pod
    assert (
        b'placement_webhook_guard_decisions_total{outcome="denied",taint="seldon-gpu-srv:NoSchedule"} 1.0'
        in (metrics.render())
    )


def test_unknown_taints_get_no_answer_but_the_reason() -> None:
    source = RecordingTaints()
    app, metrics = serve(RESERVED, source)
    response = post(app, tenant_pod("gpu-new"))
    assert response.status_code == 502
    assert (
        response.text == "the taints of node 'gpu-new' (the Pod's spec.nodeName) are unknown; not deciding\n"
    )
    assert source.asked == ["gpu-new", "GET gpu-new"]
    assert b"placement_webhook_undecided_total 1.0" in metrics.render()


def test_an_update_of_a_bound_pod_never_asks_for_its_node() -> None:
    source = RecordingTaints()
    app, _ = serve(RESERVED, source)
    pod = tenant_pod("gpu-new")
    assert post(app, pod, operation="UPDATE", oldObject=pod).json()["response"]["allowed"] is True
    assert source.asked == []


def test_without_reservations_no_node_is_looked_up(tmp_path: Path) -> None:
    source = RecordingTaints()
    app, _ = serve(ROOT / "policies.yaml", source)
    assert post(app, tenant_pod("gpu-new")).json()["response"]["allowed"] is True
    assert source.asked == []
