"""Invariants of the reservation guard over generated Pods and policy files: an unchanged UPDATE is
never refused, and what our own /mutate placed is never refused for what it placed."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.strategies import pods, policy_documents
from webhook.engine.guard import guard_pod, placement_carried
from webhook.engine.mutation import review_pod
from webhook.engine.placement import apply_plan, plan_placement
from webhook.errors import PodShapeError, PolicyError
from webhook.policy.compiled import PolicySet
from webhook.policy.loading import load_policies_text

RESERVATIONS = st.lists(
    st.fixed_dictionaries(
        {"key": st.sampled_from(["seldon-gpu-srv", "pool"])},
        optional={
            "value": st.sampled_from(["true", "a", ""]),
            "effect": st.sampled_from(["NoSchedule", "NoExecute"]),
        },
    ),
    min_size=1,
    max_size=2,
    unique_by=lambda t: (t["key"], t.get("value"), t.get("effect")),
)
MODES = st.sampled_from(["enforce", "audit"])


def with_reservations(document: str, taints: list[dict[str, Any]], mode: str) -> PolicySet:
    reservations = "".join(f"- {{taint: {_flow(t)}, mode: {mode}}}\n" for t in taints)
    try:
        return load_policies_text(document + "reservations:\n" + reservations)
    except PolicyError:
        assume(False)
        raise  # unreachable: assume(False) stops the example


def _flow(taint: dict[str, Any]) -> str:
    return "{" + ", ".join(f'{k}: "{v}"' for k, v in taint.items()) + "}"


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(policy_documents(), RESERVATIONS, MODES, pods())
def test_an_update_that_changes_no_toleration_is_never_refused(
    document: str, taints: list[dict[str, Any]], mode: str, pod: dict[str, Any]
) -> None:
    policies = with_reservations(document, taints, mode)
    new = copy.deepcopy(pod)
    new["metadata"]["labels"]["touched"] = "yes"
    verdict = guard_pod(new, namespace="seldon-mesh", policies=policies, operation="UPDATE", old_pod=pod)
    assert verdict.allowed and verdict.message is None
    assert all(j.granted for j in verdict.judgements)


@SETTINGS
@given(policy_documents(), RESERVATIONS, MODES, pods())
def test_what_mutate_placed_is_never_refused_for_what_it_placed(
    document: str, taints: list[dict[str, Any]], mode: str, pod: dict[str, Any]
) -> None:
    policies = with_reservations(document, taints, mode)
    before = guard_pod(pod, namespace="seldon-mesh", policies=policies)
    assume(not before.judgements)  # the Pod tolerated no reserved taint on its own
    review = review_pod(pod, namespace="seldon-mesh", policies=policies)
    after = guard_pod(review.pod, namespace="seldon-mesh", policies=policies)
    assert after.outcome in ("allowed", "untouched"), (after.message, review.policy)
    assert all(j.granted_by == f"policy {review.policy}" for j in after.judgements)


@SETTINGS
@given(policy_documents(), pods())
def test_a_pod_mutate_placed_or_left_complete_carries_the_placement(
    document: str, pod: dict[str, Any]
) -> None:
    """``placement_carried`` (what entitles) holds for every Pod ``/mutate`` patched with a policy's
    placement, and for every Pod the planner finds complete without a conflict: the guard never
    asks more of a Pod than ``/mutate`` gave it."""
    policies = with_reservations(document, [{"key": "seldon-gpu-srv"}], "enforce")
    for policy in policies.policies:
        try:
            plan = plan_placement(pod, policy)
        except PodShapeError:
            continue
        if plan.has_conflict:
            continue
        placed, _ = apply_plan(pod, plan)
        assert placement_carried(placed, policy), (policy.name, plan.describe())
        confining = plan.tolerations or plan.node_selector or plan.term_additions or plan.new_term
        assert placement_carried(pod, policy) == (not confining), (policy.name, plan.describe())
