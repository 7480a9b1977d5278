"""The guard and ``spec.nodeName``: a Pod created bound to a node skips the scheduler and with it
the node's NoSchedule taints, so a reserved node's taint must be kept by the guard."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.test_guard import ALLOWING, GUARDED, placed, plain_pod, reserving
from tests.helpers import BUNDLED_POLICIES, admission_review, fixture, policies, validate
from webhook.admission.request import parse_admission_review
from webhook.engine.guard import DEFAULT_ACCESS, guard_pod
from webhook.engine.handlers import Guard
from webhook.engine.memo import LoadedPolicies
from webhook.errors import NodeTaintsUnknownError

GPU_TAINTS = [{"key": "seldon-gpu-srv", "value": "true", "effect": "NoSchedule"}]
CPU_TAINTS = [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]


def bound(pod: dict[str, Any], node: str = "gpu-a100-1") -> dict[str, Any]:
    pod["spec"]["nodeName"] = node
    return pod


def test_a_pod_bound_to_a_reserved_node_without_any_toleration_is_denied() -> None:
    pod = bound(plain_pod())
    verdict = guard_pod(pod, namespace="team-a", policies=GUARDED, node_taints=GPU_TAINTS)
    assert verdict.outcome == "denied"
    assert verdict.message == (
        "placement-webhook: Pod team-a/web-1 names node gpu-a100-1 in spec.nodeName, skipping the"
        " scheduler, and that node carries the reserved taint seldon-gpu-srv:NoSchedule, but no enforce"
        f" policy places it there and no allow rule admits it; {DEFAULT_ACCESS}"
    )
    (judgement,) = verdict.judgements
    assert judgement.node == "gpu-a100-1" and judgement.tolerations == () and not judgement.granted


def test_a_pod_bound_and_tolerating_names_both() -> None:
    pod = bound(plain_pod({"operator": "Exists"}))
    verdict = guard_pod(pod, namespace="team-a", policies=GUARDED, node_taints=GPU_TAINTS)
    assert verdict.outcome == "denied"
    assert (
        "seldon-gpu-srv:NoSchedule (toleration *; and spec.nodeName gpu-a100-1, a node that carries it)"
        in str(verdict.message)
    )


@pytest.mark.parametrize(
    "taints",
    [
        [],
        CPU_TAINTS,
        [
            {"key": "seldon-gpu-srv", "value": "true", "effect": "NoExecute"}
        ],  # the reservation names NoSchedule
        [{"key": "Seldon-gpu-srv", "value": "true", "effect": "NoSchedule"}],
        ["not-a-taint", None],
    ],
)
def test_a_pod_bound_to_a_node_without_a_reserved_taint_is_untouched(taints: list[Any]) -> None:
    verdict = guard_pod(bound(plain_pod()), namespace="team-a", policies=GUARDED, node_taints=taints)
    assert verdict.outcome == "untouched" and verdict.judgements == ()


@pytest.mark.parametrize(
    ("reservation", "taint", "carried"),
    [
        ("{key: k}", {"key": "k", "value": "v", "effect": "NoExecute"}, True),
        ("{key: k}", {"key": "k"}, True),
        ("{key: k, value: v}", {"key": "k", "value": "v", "effect": "PreferNoSchedule"}, True),
        ("{key: k, value: v}", {"key": "k", "value": "w", "effect": "NoSchedule"}, False),
        ("{key: k, value: ''}", {"key": "k", "effect": "NoSchedule"}, True),
        ("{key: k, effect: NoSchedule}", {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
        ("{key: k, effect: NoSchedule}", {"key": "k", "value": "v", "effect": "NoExecute"}, False),
        ("{key: k}", {"key": "kk", "effect": "NoSchedule"}, False),
    ],
)
def test_which_node_taints_a_reservation_stands_for(
    reservation: str, taint: dict[str, Any], carried: bool
) -> None:
    policy_set = reserving(f"- taint: {reservation}\n")
    verdict = guard_pod(bound(plain_pod()), namespace="team-a", policies=policy_set, node_taints=[taint])
    assert verdict.outcome == ("denied" if carried else "untouched")


def test_an_allow_rule_admits_a_bound_pod() -> None:
    pod = bound(plain_pod(namespace="gpu-operator"))
    verdict = guard_pod(pod, namespace="gpu-operator", policies=ALLOWING, node_taints=GPU_TAINTS)
    assert verdict.outcome == "allowed"
    assert verdict.judgements[0].granted_by == "allow[0] (namespaces [gpu-*, kube-system])"


def test_a_placed_seldon_server_bound_to_a_reserved_node_is_allowed() -> None:
    pod = bound(placed(fixture("triton-gpu-0")))
    verdict = guard_pod(pod, namespace="seldon-mesh", policies=GUARDED, node_taints=GPU_TAINTS)
    assert verdict.outcome == "allowed"
    assert [j.granted_by for j in verdict.judgements] == ["policy gpu-servers"]


def test_an_unplaced_seldon_server_bound_to_a_reserved_node_is_denied() -> None:
    pod = bound(fixture("triton-gpu-0"))
    verdict = guard_pod(pod, namespace="seldon-mesh", policies=GUARDED, node_taints=GPU_TAINTS)
    assert verdict.outcome == "denied" and verdict.judgements[0].node == "gpu-a100-1"


def test_unknown_taints_give_no_answer_unless_the_pod_is_entitled_anyway() -> None:
    with pytest.raises(NodeTaintsUnknownError, match="the taints of node 'gpu-a100-1'"):
        guard_pod(bound(plain_pod()), namespace="team-a", policies=GUARDED, node_taints=None)
    entitled = bound(placed(fixture("triton-gpu-0")))
    assert guard_pod(entitled, namespace="seldon-mesh", policies=GUARDED).outcome == "allowed"
    allowed = bound(plain_pod(namespace="gpu-operator"))
    assert guard_pod(allowed, namespace="gpu-operator", policies=ALLOWING).outcome == "untouched"


def test_an_audit_reservation_warns_about_a_bound_pod() -> None:
    policy_set = reserving("- taint: {key: seldon-gpu-srv}\n  mode: audit\n")
    verdict = guard_pod(bound(plain_pod()), namespace="team-a", policies=policy_set, node_taints=GPU_TAINTS)
    assert verdict.outcome == "audit" and verdict.message is None
    assert verdict.warnings[0].startswith("placement-webhook: audit: Pod team-a/web-1 names node gpu-a100-1")


def test_an_update_is_not_judged_on_its_node() -> None:
    """``spec.nodeName`` cannot change on UPDATE, and every scheduled Pod has one."""
    old = bound(plain_pod())
    new = bound(plain_pod())
    new["metadata"]["labels"] = {"touched": "yes"}
    verdict = guard_pod(new, namespace="team-a", policies=GUARDED, operation="UPDATE", old_pod=old)
    assert verdict.outcome == "untouched"


def test_no_reservations_means_no_node_is_asked_for() -> None:
    no_reservations = policies(BUNDLED_POLICIES.read_text())
    request = parse_admission_review(admission_review(bound(plain_pod()), namespace="team-a"))
    assert Guard().wants_node(request, LoadedPolicies(no_reservations)) is None
    assert guard_pod(bound(plain_pod()), namespace="team-a", policies=no_reservations).outcome == "untouched"


@pytest.mark.parametrize(
    ("operation", "node", "wanted"),
    [("CREATE", "gpu-a100-1", "gpu-a100-1"), ("UPDATE", "gpu-a100-1", None), ("CREATE", "", None)],
)
def test_the_guard_asks_for_the_node_of_a_pod_being_created(
    operation: str, node: str, wanted: str | None
) -> None:
    pod = bound(plain_pod(), node)
    data = admission_review(pod, namespace="team-a", operation=operation, oldObject=pod)
    request = parse_admission_review(data)
    assert Guard().wants_node(request, LoadedPolicies(GUARDED)) == wanted


def test_validate_denies_a_bound_pod_with_403_and_names_the_taint() -> None:
    handled = validate(
        admission_review(bound(plain_pod()), namespace="team-a"), policies=GUARDED, node_taints=GPU_TAINTS
    )
    answer = handled.answer["response"]
    assert answer["allowed"] is False and answer["status"]["code"] == 403
    assert answer["auditAnnotations"] == {"guard": "denied", "taints": "seldon-gpu-srv:NoSchedule"}
    with pytest.raises(NodeTaintsUnknownError):
        validate(admission_review(bound(plain_pod()), namespace="team-a"), policies=GUARDED)
