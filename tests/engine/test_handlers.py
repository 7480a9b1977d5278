"""The two handlers' answers beyond the wire: what the server logs and counts for each outcome
(``Response.outcome``, ``details``, ``counts``), which requests need the Namespace's labels or the
node's taints, and the request ``/validate`` gets after ``/mutate`` (``webhook/engine/handlers.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.test_guard import GUARDED, placed, plain_pod
from tests.helpers import admission_review, bundled_policies, fixture, minimal_pod, mutate, policies, validate
from webhook.admission.request import parse_admission_review
from webhook.engine.handlers import Guard, Mutator, after_mutation, pod_request
from webhook.engine.memo import LoadedPolicies
from webhook.engine.review import Review
from webhook.policy.compiled import PolicySet

EXISTS = {"operator": "Exists"}
NAMESPACED = policies("""
    version: 1
    policies:
    - name: nlp
      match: {namespaceSelector: {matchLabels: {team: nlp}}}
      placement: {nodeSelector: {pool: nlp}}
    reservations:
    - taint: {key: seldon-gpu-srv, effect: NoSchedule}
    """)


def telemetry(handled: Any) -> tuple[str, dict[str, Any], tuple[tuple[str, ...], ...]]:
    response = handled.response
    return response.outcome, response.details, response.counts


def test_the_mutator_counts_a_patch_by_policy_and_outcome() -> None:
    handled = mutate(admission_review(fixture("triton-gpu-0")), policies=bundled_policies())
    assert handled.review is not None
    ops = len(handled.review.patch)
    assert ops > 0
    assert telemetry(handled) == (
        "patched",
        {"policy": "gpu-servers", "outcome": "patched", "patch_ops": ops},
        (("gpu-servers", "patched"),),
    )


def test_the_mutator_counts_a_skipped_request_and_a_pod_no_policy_matches() -> None:
    skipped = mutate(
        admission_review(minimal_pod(), operation="DELETE", oldObject=minimal_pod()), policies=GUARDED
    )
    assert telemetry(skipped) == (
        "skipped",
        {"policy": None, "outcome": "skipped", "patch_ops": 0},
        (("", "skipped"),),
    )
    assert skipped.response.audit_annotations is None and skipped.response.allowed
    unmatched = mutate(admission_review(plain_pod()), policies=GUARDED)
    assert telemetry(unmatched) == (
        "unchanged",
        {"policy": None, "outcome": "unchanged", "patch_ops": 0},
        (("", "unchanged"),),
    )
    assert unmatched.response.audit_annotations is None and unmatched.response.patch is None


def test_the_mutators_answers_for_each_review() -> None:
    denied = Mutator().respond(Review("denied", {}, "p", warnings=["w"], denial="no"))
    assert (denied.allowed, denied.code, denied.message, denied.patch, denied.warnings) == (
        False,
        403,
        "no",
        None,
        ["w"],
    )
    assert denied.audit_annotations == {"policy": "p", "outcome": "denied"}
    ops = [{"op": "add", "path": "/a", "value": 1}]
    patched = Mutator().respond(Review("patched", {}, "p", patch=ops, audits=("a",)))
    assert (patched.allowed, patched.patch, patched.warnings) == (
        True,
        "W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6MX1d",
        [],
    )
    assert patched.audit_annotations == {"policy": "p", "outcome": "patched", "audit": "a"}
    assert patched.counts == (("p", "patched"),) and patched.details["patch_ops"] == 1


def test_the_guard_counts_each_judged_taint() -> None:
    denied = validate(admission_review(plain_pod(EXISTS)), policies=GUARDED)
    assert telemetry(denied) == (
        "denied",
        {
            "operation": "CREATE",
            "outcome": "denied",
            "taints": ["seldon-gpu-srv:NoSchedule"],
            "refused": ["seldon-gpu-srv:NoSchedule"],
            "decidedBy": {"seldon-gpu-srv:NoSchedule": "refused"},
        },
        (("denied", "seldon-gpu-srv:NoSchedule"),),
    )
    allowed = validate(admission_review(placed(fixture("triton-gpu-0"))), policies=GUARDED)
    assert telemetry(allowed) == (
        "allowed",
        {
            "operation": "CREATE",
            "outcome": "allowed",
            "taints": ["seldon-gpu-srv:NoSchedule"],
            "refused": [],
            "decidedBy": {"seldon-gpu-srv:NoSchedule": "policy gpu-servers"},
        },
        (("allowed", "seldon-gpu-srv:NoSchedule"),),
    )


def test_the_guard_counts_an_audited_taint_as_audit() -> None:
    audit = policies("""
        version: 1
        policies: []
        reservations:
        - taint: {key: seldon-gpu-srv, effect: NoSchedule}
          mode: audit
        """)
    handled = validate(admission_review(plain_pod(EXISTS)), policies=audit)
    outcome, details, counts = telemetry(handled)
    assert handled.response.allowed and handled.response.warnings
    assert counts == (("audit", "seldon-gpu-srv:NoSchedule"),)
    assert details["refused"] == ["seldon-gpu-srv:NoSchedule"] and details["outcome"] == outcome
    assert handled.response.audit_annotations == {"guard": outcome, "taints": "seldon-gpu-srv:NoSchedule"}


def test_the_guard_counts_untouched_and_skipped_requests_without_a_taint() -> None:
    untouched = validate(admission_review(plain_pod()), policies=GUARDED)
    assert telemetry(untouched) == (
        "untouched",
        {"operation": "CREATE", "outcome": "untouched", "taints": [], "refused": [], "decidedBy": {}},
        (("untouched", ""),),
    )
    assert untouched.response.audit_annotations is None
    skipped = validate(admission_review(None, operation="DELETE", oldObject=plain_pod()), policies=GUARDED)
    assert telemetry(skipped) == (
        "skipped",
        {"operation": "DELETE", "outcome": "skipped", "taints": [], "refused": [], "decidedBy": {}},
        (("skipped", ""),),
    )
    assert skipped.response.allowed and skipped.response.audit_annotations is None


def _request(pod: Any, **fields: Any) -> Any:
    return parse_admission_review(admission_review(pod, **fields))


@pytest.mark.parametrize(
    ("pod", "fields", "policy_set", "wanted"),
    [
        (plain_pod(EXISTS), {}, NAMESPACED, True),
        (plain_pod(EXISTS), {"operation": "UPDATE", "oldObject": plain_pod()}, NAMESPACED, True),
        (plain_pod(), {}, NAMESPACED, False),  # tolerates no reserved taint, names no node
        (plain_pod(EXISTS), {}, GUARDED, False),  # no namespaceSelector: labels never matter
        (
            plain_pod(EXISTS),
            {"operation": "DELETE", "object": None, "oldObject": plain_pod()},
            NAMESPACED,
            False,
        ),
        (plain_pod(EXISTS), {"operation": "CONNECT"}, NAMESPACED, False),
    ],
)
def test_the_guard_wants_the_namespace_labels_only_for_a_pod_it_judges(
    pod: Any, fields: dict[str, Any], policy_set: PolicySet, wanted: bool
) -> None:
    assert Guard().wants_namespace_labels(_request(pod, **fields), LoadedPolicies(policy_set)) is wanted


def test_a_pod_bound_to_a_node_wants_the_labels_and_the_node() -> None:
    pod = plain_pod()
    pod["spec"]["nodeName"] = "gpu-1"
    context = LoadedPolicies(NAMESPACED)
    assert Guard().wants_node(_request(pod), context) == "gpu-1"
    assert Guard().wants_namespace_labels(_request(pod), context) is True
    update = _request(pod, operation="UPDATE", oldObject=pod)
    assert Guard().wants_node(update, context) is None  # only a CREATE goes around the scheduler
    assert Guard().wants_namespace_labels(update, context) is False
    assert Guard().wants_node(_request(pod), LoadedPolicies(bundled_policies())) is None  # no reservations
    assert Mutator().wants_node(_request(pod), context) is None


def test_the_mutator_wants_the_namespace_labels_for_a_pod_create_under_a_namespace_selector() -> None:
    context = LoadedPolicies(NAMESPACED)
    assert Mutator().wants_namespace_labels(_request(minimal_pod()), context) is True
    assert not Mutator().wants_namespace_labels(_request(minimal_pod()), LoadedPolicies(GUARDED))
    update = _request(minimal_pod(), operation="UPDATE", oldObject=minimal_pod())
    assert not Mutator().wants_namespace_labels(update, context)


def test_validate_gets_the_pod_as_mutated() -> None:
    request = _request(fixture("triton-gpu-0"))
    review = Mutator().decide(request, LoadedPolicies(bundled_policies()), None)
    assert review is not None and review.patch
    after = after_mutation(request, review)
    assert after.object == review.pod and after.object is not request.object
    assert (after.uid, after.operation, after.namespace) == (
        request.uid,
        request.operation,
        request.namespace,
    )
    assert after_mutation(request, None) is request
    unchanged = Review("unchanged", request.object)
    assert after_mutation(request, unchanged) is request


def test_an_offline_request_is_a_pod_create_or_update_of_a_v1_pod() -> None:
    pod, old = minimal_pod(), minimal_pod(nodeSelector={"a": "b"})
    request = pod_request(pod, namespace="ns")
    assert (request.uid, request.operation, request.namespace, request.object, request.old_object) == (
        "offline",
        "CREATE",
        "ns",
        pod,
        None,
    )
    assert (request.kind.group, request.kind.version, request.kind.kind) == ("", "v1", "Pod")
    update = pod_request(pod, namespace="ns", operation="UPDATE", old_pod=old)
    assert (update.operation, update.old_object) == ("UPDATE", old)
