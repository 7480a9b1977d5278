"""``NodeFitMemo`` answers as ``fit_nodes`` does, for any sequence of Pods over one list of nodes."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.e2e.kube import node_objects, node_status
from tests.helpers import fixture
from webhook.simulation import scheduling
from webhook.simulation.scheduling import NodeFitMemo, fit_nodes

NODES = [{**n, "status": node_status(n, i)} for i, n in enumerate(node_objects())]
TOLERATIONS = st.lists(
    st.fixed_dictionaries(
        {
            "key": st.sampled_from(["seldon-gpu-srv", "nvidia.com/gpu", ""]),
            "operator": st.sampled_from(["Exists", "Equal"]),
        },
        optional={
            "value": st.sampled_from(["true", "present"]),
            "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule"]),
        },
    ),
    max_size=3,
)
SELECTORS = st.dictionaries(
    st.sampled_from(["pool", "nvidia.com/gpu.product"]),
    st.sampled_from(["infer-srv", "NVIDIA-A100-SXM4-80GB", "x"]),
    max_size=2,
)
TERMS = st.lists(
    st.fixed_dictionaries({"matchExpressions": st.lists(st.fixed_dictionaries({
        "key": st.sampled_from(["pool", "nvidia.com/gpu.product"]),
        "operator": st.sampled_from(["In", "NotIn", "Exists"]),
        "values": st.lists(st.sampled_from(["infer-srv", "cpu", "NVIDIA-L4"]), min_size=1, max_size=2),
    }), min_size=1, max_size=2)}),
    max_size=2,
)  # fmt: skip


def _pod(tolerations: list[Any], selector: dict[str, str], terms: list[Any], base: str) -> dict[str, Any]:
    pod = copy.deepcopy(fixture(base))
    spec = pod["spec"]
    spec["tolerations"], spec["nodeSelector"] = tolerations, selector
    for term in terms:  # Exists takes no values
        for expr in term["matchExpressions"]:
            if expr["operator"] == "Exists":
                expr.pop("values", None)
    if terms:
        spec["affinity"] = {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}
        }
    return pod


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(TOLERATIONS, SELECTORS, TERMS, st.sampled_from(["triton-gpu-0", "mlserver-0"])),
        min_size=1,
        max_size=6,
    )
)
def test_the_memo_answers_as_fit_nodes_for_any_sequence_of_pods(pods: list[Any]) -> None:
    memo = NodeFitMemo(NODES)
    for given_pod in [_pod(*p) for p in pods] * 2:  # every Pod twice: the second answer is remembered
        assert memo.fit(given_pod) == fit_nodes(given_pod, NODES)


def test_pods_of_one_server_cost_one_pass_over_the_nodes(monkeypatch: Any) -> None:
    calls: list[int] = []
    original = scheduling.fit_nodes
    monkeypatch.setattr(scheduling, "fit_nodes", lambda pod, nodes: calls.append(1) or original(pod, nodes))
    memo = NodeFitMemo(NODES)
    replicas = [copy.deepcopy(fixture("triton-gpu-0")) for _ in range(4)]
    for i, pod in enumerate(replicas):
        pod["metadata"]["name"] = f"triton-gpu-{i}"
        memo.fit(pod)
    assert len(calls) == 1
    replicas[0]["spec"]["nodeSelector"] = {"pool": "other"}  # another placement: another pass
    memo.fit(replicas[0])
    assert len(calls) == 2
