"""Which of the Pod's own required terms count: a Pod that matches no node is never loosened, and
a term that can never match neither hides a conflict nor counts as one.

The scheduler's rules are in k8s.io/component-helpers ``scheduling/corev1/nodeaffinity``
(``NewLazyErrorNodeSelector`` skips empty terms; a term with a requirement that fails
``nodeSelectorRequirementsAsSelector`` / ``...AsFieldSelector`` never matches; no terms match
no node).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.test_placement import affinity, review
from tests.helpers import minimal_pod, one_policy
from webhook.engine.mutation import review_pod
from webhook.simulation.scheduling import fit_nodes

POOL_CPU = {"key": "pool", "operator": "In", "values": ["cpu"]}
TO_INFER_SRV = "{nodeSelector: {pool: infer-srv}, tolerations: [{key: seldon-gpu-srv, operator: Exists}]}"
REQUIRED = "nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
NO_TERMS = (
    "placement-webhook: policy p conflicts with the Pod's own placement: its required node affinity"
    " has no nodeSelectorTerms, so it matches no node; not applied"
)
NO_MATCHING_TERM = (
    "placement-webhook: policy p conflicts with the Pod's own placement: no term of its required"
    " node affinity can match a node; not applied"
)


def required(body: Any) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": body}}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


# --- item 6: zero terms, and terms none of which can match ----------------------------------------

# Ported from component-helpers nodeaffinity_test.go, TestPodMatchesNodeSelectorAndAffinityTerms:
# "a nil []NodeSelectorTerm", "an empty []NodeSelectorTerm", "empty MatchExpressions ... will
# match no objects", "an invalid value in Affinity term won't be scheduled"; plus our own.
UNSCHEDULABLE = [
    pytest.param(required({}), NO_TERMS, id="nodeSelectorTerms missing (nil)"),
    pytest.param(required({"nodeSelectorTerms": None}), NO_TERMS, id="nodeSelectorTerms null"),
    pytest.param(required({"nodeSelectorTerms": []}), NO_TERMS, id="nodeSelectorTerms empty"),
    pytest.param(affinity({"matchExpressions": []}), NO_MATCHING_TERM, id="empty MatchExpressions"),
    pytest.param(affinity({}, {"matchFields": []}), NO_MATCHING_TERM, id="only empty terms"),
    pytest.param(
        affinity({"matchExpressions": [expr("foo", "NotIn", "invalid value: ___@#$%^")]}),
        NO_MATCHING_TERM,
        id="invalid value",
    ),
    pytest.param(
        affinity({"matchExpressions": [expr("pool", "In", "a"), expr("pool", "In", "b")]}),
        NO_MATCHING_TERM,
        id="self-contradictory",
    ),
    pytest.param(
        affinity({"matchExpressions": [expr("mem", "Gt", "lots")]}), NO_MATCHING_TERM, id="Gt not an integer"
    ),
]


@pytest.mark.parametrize(("pod_affinity", "warning"), UNSCHEDULABLE)
def test_a_pod_that_matches_no_node_is_a_conflict(pod_affinity: dict[str, Any], warning: str) -> None:
    pod = minimal_pod(affinity=pod_affinity)
    result = review(pod, one_policy(TO_INFER_SRV))
    assert (result.outcome, result.patch, result.pod is pod) == ("conflict", [], True)
    assert result.warnings == [warning]


@pytest.mark.parametrize(("pod_affinity", "warning"), UNSCHEDULABLE)
def test_a_pod_that_matches_no_node_is_denied_with_deny(pod_affinity: dict[str, Any], warning: str) -> None:
    result = review(minimal_pod(affinity=pod_affinity), one_policy(TO_INFER_SRV, extra="onConflict: deny"))
    assert (result.outcome, result.allowed, result.patch) == ("denied", False, [])
    assert result.denial == warning.removesuffix("; not applied")


def test_a_pod_that_matches_no_node_in_audit_mode_only_warns() -> None:
    result = review(minimal_pod(affinity=required({})), one_policy(TO_INFER_SRV, extra="mode: audit"))
    assert (result.outcome, result.allowed, result.patch) == ("audit", True, [])
    assert result.warnings == [NO_TERMS.replace("policy p", "audit: policy p").removesuffix("; not applied")]


def test_zero_terms_merged_would_loosen_the_pod() -> None:
    """Why zero terms are a conflict: the old merge (append one term) made the Pod schedulable."""
    nodes = [{"metadata": {"name": "gpu-1", "labels": {"pool": "infer-srv"}}}]
    pod = minimal_pod(affinity=required({"nodeSelectorTerms": []}))
    merged = minimal_pod(affinity=affinity({"matchExpressions": [expr("pool", "In", "infer-srv")]}))
    assert [f.fits for f in fit_nodes(pod, nodes)] == [False]
    assert [f.fits for f in fit_nodes(merged, nodes)] == [True]
    policy = one_policy("{nodeAffinity: {required: [{key: pool, operator: In, values: [infer-srv]}]}}")
    result = review_pod(pod, namespace="ns", policies=policy)
    assert result.outcome == "conflict" and [f.fits for f in fit_nodes(result.pod, nodes)] == [False]


def test_a_null_required_block_is_no_constraint() -> None:
    result = review(minimal_pod(affinity=required(None)), one_policy(TO_INFER_SRV))
    assert result.outcome == "patched" and result.pod["spec"]["nodeSelector"] == {"pool": "infer-srv"}


def test_zero_terms_block_even_a_toleration_only_policy() -> None:
    policy = one_policy("{tolerations: [{key: seldon-gpu-srv, operator: Exists}]}")
    result = review(minimal_pod(affinity=required({"nodeSelectorTerms": []})), policy)
    assert result.outcome == "conflict" and result.warnings == [NO_TERMS]


# --- item 7: a term that can never match does not hide a conflict ---------------------------------

# (second term, can it match?). Ported case by case from component-helpers nodeaffinity_test.go:
# TestNodeSelectorRequirementsAsSelector (Exists with values; Gt 1 and Lt 7 parse; operator
# "invalid"), TestNodeSelectorMatch "invalid field selector and label selector" (matchFields with
# two values; key "invalid key"); and labels.NewRequirement's checks, one per row after those.
SECOND_TERMS = [
    ({"matchExpressions": [expr("foo", "In", "bar", "baz")]}, True),
    ({"matchExpressions": [expr("foo", "Exists", "bar", "baz")]}, False),
    ({"matchExpressions": [expr("foo", "Gt", "1")]}, True),
    ({"matchExpressions": [expr("bar", "Lt", "7")]}, True),
    ({"matchExpressions": [expr("baz", "invalid", "5")]}, False),
    ({"matchFields": [expr("metadata.name", "In", "host_1", "host_2")]}, False),
    ({"matchExpressions": [expr("invalid key", "In", "label_value")]}, False),
    (
        {
            "matchExpressions": [expr("label_1", "In", "label_1_val")],
            "matchFields": [expr("metadata.name", "In", "host_1")],
        },
        True,
    ),
    ({"matchExpressions": [expr("foo", "In")]}, False),  # In/NotIn: values set can't be empty
    ({"matchExpressions": [expr("foo", "NotIn")]}, False),
    ({"matchExpressions": [expr("foo", "DoesNotExist", "x")]}, False),
    ({"matchExpressions": [expr("foo", "Gt")]}, False),  # Gt/Lt: exactly one value
    ({"matchExpressions": [expr("foo", "Lt", "1", "2")]}, False),
    ({"matchExpressions": [expr("foo", "Gt", "1.5")]}, False),  # the value must be an integer
    ({"matchExpressions": [expr("foo", "Gt", "9223372036854775808")]}, False),  # beyond int64
    ({"matchExpressions": [expr("foo", "Gt", "9223372036854775807")]}, False),  # nothing above max
    ({"matchExpressions": [expr("foo", "Lt", "9223372036854775807")]}, True),
    ({"matchExpressions": [expr("foo", "Gt", "-1")]}, False),  # an int64, but not a label value
    ({"matchExpressions": [expr("foo", "In", "x" * 64)]}, False),  # not a label value
    ({"matchExpressions": [expr("foo", "In", "x" * 63)]}, True),
    ({"matchExpressions": [expr("foo", "Exists"), expr("foo", "DoesNotExist")]}, False),
    ({"matchExpressions": [expr("foo", "In", "a"), expr("foo", "NotIn", "a")]}, False),
    ({"matchExpressions": [expr("foo", "Gt", "5"), expr("foo", "Lt", "6")]}, False),
    ({"matchExpressions": [expr("foo", "Gt", "5"), expr("foo", "Lt", "7")]}, True),
    ({"matchFields": [expr("metadata.name", "Exists")]}, False),  # fields: In or NotIn only
    ({"matchFields": [expr("metadata.name", "NotIn", "host_1")]}, True),
    ({"matchFields": [expr("metadata.name", "In", "a"), expr("metadata.name", "In", "b")]}, False),
    ({}, False),  # an empty term matches nothing
]


@pytest.mark.parametrize(("second", "can_match"), SECOND_TERMS)
def test_conflicts_are_judged_on_the_terms_that_can_match(second: dict[str, Any], can_match: bool) -> None:
    pod = minimal_pod(affinity=affinity({"matchExpressions": [POOL_CPU]}, second))
    result = review(pod, one_policy(TO_INFER_SRV))
    if can_match:  # the second term survives the merge: no conflict
        assert result.outcome == "patched" and result.pod["spec"]["nodeSelector"] == {"pool": "infer-srv"}
    else:  # only the first term could place the Pod, and the policy contradicts it
        assert result.outcome == "conflict" and result.patch == []
        assert result.warnings == [
            "placement-webhook: policy p conflicts with the Pod's own placement on pool; not applied"
        ]


@pytest.mark.parametrize(("second", "can_match"), SECOND_TERMS)
def test_a_pod_whose_only_term_cannot_match_is_unschedulable(second: dict[str, Any], can_match: bool) -> None:
    result = review(minimal_pod(affinity=affinity(second)), one_policy(TO_INFER_SRV))
    assert result.outcome == ("patched" if can_match else "conflict")
    assert result.warnings == ([] if can_match else [NO_MATCHING_TERM])


def test_a_term_contradicting_the_pods_node_selector_cannot_match() -> None:
    pod = minimal_pod(
        nodeSelector={"zone": "a"},
        affinity=affinity({"matchExpressions": [POOL_CPU]}, {"matchExpressions": [expr("zone", "In", "b")]}),
    )
    result = review(pod, one_policy(TO_INFER_SRV))
    assert result.outcome == "conflict" and result.plan is not None and result.plan.conflicts == ["pool"]


def test_requirements_still_go_into_every_non_empty_term() -> None:
    """Terms that cannot match still get the requirements (harmless, never looser); empty stay empty."""
    dead = {"matchExpressions": [expr("mem", "Gt", "lots")]}
    pod = minimal_pod(affinity=affinity({}, dead, {"matchExpressions": []}, {"matchExpressions": [POOL_CPU]}))
    result = review(pod, one_policy("{nodeAffinity: {required: [{key: zone, operator: Exists}]}}"))
    terms = result.pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {},
        {"matchExpressions": [*dead["matchExpressions"], expr("zone", "Exists")]},
        {"matchExpressions": []},
        {"matchExpressions": [POOL_CPU, expr("zone", "Exists")]},
    ]
