"""Invariants of the reservation guard over generated Pods and policy files: an unchanged UPDATE is
never refused, and what our own /mutate placed is never refused for what it placed."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.strategies import pods, policy_documents
from webhook.engine.guard import guard_pod
from webhook.engine.mutation import review_pod
from webhook.errors import PolicyError
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
