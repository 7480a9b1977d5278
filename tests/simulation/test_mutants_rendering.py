"""The simulate report and its JSON, line by line (docs/mutation.md: the renderers had no unit test)."""

from __future__ import annotations

from typing import Any

from tests.helpers import minimal_pod
from webhook.engine.documents import Subject
from webhook.engine.review import Review
from webhook.simulation.scheduling import NodeFit
from webhook.simulation.simulate import Simulation, render_simulation, simulation_json

SUBJECT = Subject(pod=minimal_pod(), namespace="seldon-mesh", source="pods.yaml")
BEFORE = [
    NodeFit("cpu-1"),
    NodeFit("gpu-node-long-name", "untolerated taint nvidia.com/gpu:NoSchedule"),
]
AFTER = [
    NodeFit("cpu-1", "node affinity does not match"),
    NodeFit("gpu-node-long-name", score=42, avoided=("spot=true:PreferNoSchedule", "x:PreferNoSchedule")),
]


def _patched(**overrides: Any) -> Simulation:
    review = Review(outcome="patched", pod=SUBJECT.pod, policy="gpu", warnings=["placement-webhook: w"])
    values: dict[str, Any] = {
        "subject": SUBJECT,
        "review": review,
        "before": BEFORE,
        "after": AFTER,
        "problems": ["may land on x, which offers no nvidia.com/gpu"],
        "notes": ["cannot check nvidia.com/gpu on y: no status.allocatable"],
    }
    values.update(overrides)
    return Simulation(**values)


def test_render_a_patched_pod() -> None:
    assert render_simulation(_patched()) == [
        "Pod seldon-mesh/srv-0 from pods.yaml",
        "  policy: gpu, outcome patched",
        "  NODE                BEFORE                                       AFTER",
        "  cpu-1               fits                                         node affinity does not match",
        "  gpu-node-long-name  untolerated taint nvidia.com/gpu:NoSchedule  fits (score 42,"
        " prefers not spot=true:PreferNoSchedule, prefers not x:PreferNoSchedule)",
        "  fits: 1 of 2 nodes before, 1 of 2 nodes after",
        "  problem: may land on x, which offers no nvidia.com/gpu",
        "  note: cannot check nvidia.com/gpu on y: no status.allocatable",
        "  warning: placement-webhook: w",
    ]


def test_render_a_fit_with_only_a_score_or_only_avoided_taints() -> None:
    after = [NodeFit("cpu-1", score=3), NodeFit("gpu-node-long-name", avoided=("t:PreferNoSchedule",))]
    lines = render_simulation(_patched(after=after, problems=[], notes=[]))
    assert lines[3:5] == [
        "  cpu-1               fits                                         fits (score 3)",
        "  gpu-node-long-name  untolerated taint nvidia.com/gpu:NoSchedule  fits (prefers not t:PreferNoSchedule)",
    ]
    assert lines[5:] == ["  fits: 1 of 2 nodes before, 2 of 2 nodes after", "  warning: placement-webhook: w"]


def test_render_a_denied_pod_without_policy() -> None:
    review = Review(outcome="denied", pod=SUBJECT.pod, denial="conflict")
    result = Simulation(SUBJECT, review, BEFORE, None, ["denied: conflict"])
    assert render_simulation(result) == [
        "Pod seldon-mesh/srv-0 from pods.yaml",
        "  policy: none matched, outcome denied",
        "  NODE                BEFORE                                       AFTER",
        "  cpu-1               fits                                         not created (denied)",
        "  gpu-node-long-name  untolerated taint nvidia.com/gpu:NoSchedule  not created (denied)",
        "  fits: 1 of 2 nodes before, - after",
        "  problem: denied: conflict",
    ]


def test_simulation_json_field_by_field() -> None:
    assert simulation_json(_patched()) == {
        "pod": "seldon-mesh/srv-0",
        "source": "pods.yaml",
        "policy": "gpu",
        "outcome": "patched",
        "before": {
            "fits": ["cpu-1"],
            "nodes": [
                {"node": "cpu-1", "fits": True, "reason": None, "score": 0, "preferNoSchedule": []},
                {
                    "node": "gpu-node-long-name",
                    "fits": False,
                    "reason": "untolerated taint nvidia.com/gpu:NoSchedule",
                    "score": 0,
                    "preferNoSchedule": [],
                },
            ],
        },
        "after": {
            "fits": ["gpu-node-long-name"],
            "nodes": [
                {
                    "node": "cpu-1",
                    "fits": False,
                    "reason": "node affinity does not match",
                    "score": 0,
                    "preferNoSchedule": [],
                },
                {
                    "node": "gpu-node-long-name",
                    "fits": True,
                    "reason": None,
                    "score": 42,
                    "preferNoSchedule": ["spot=true:PreferNoSchedule", "x:PreferNoSchedule"],
                },
            ],
        },
        "problems": ["may land on x, which offers no nvidia.com/gpu"],
        "notes": ["cannot check nvidia.com/gpu on y: no status.allocatable"],
        "warnings": ["placement-webhook: w"],
        "preScoreError": None,
        "guardRefusal": None,
    }


def test_simulation_json_of_a_denied_pod_has_no_after() -> None:
    review = Review(outcome="denied", pod=SUBJECT.pod, denial="conflict")
    result = simulation_json(Simulation(SUBJECT, review, BEFORE[:1], None, ["denied: conflict"]))
    assert result["after"] is None
    assert result["preScoreError"] is None
    assert result["policy"] is None
    assert result["before"] == {
        "fits": ["cpu-1"],
        "nodes": [{"node": "cpu-1", "fits": True, "reason": None, "score": 0, "preferNoSchedule": []}],
    }


def test_simulation_json_carries_the_pre_score_error() -> None:
    assert simulation_json(_patched(pre_score_error="e"))["preScoreError"] == "e"
