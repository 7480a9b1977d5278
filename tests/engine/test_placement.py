"""Placement semantics, one table per rule of the engine (see ``webhook.placement``)."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from tests.helpers import minimal_pod, one_policy, validate_pod
from webhook import POLICY_ANNOTATION
from webhook.engine.mutation import review_pod
from webhook.engine.review import Review
from webhook.policy.compiled import PolicySet

GPU_TOL = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
POOL_IN = {"key": "pool", "operator": "In", "values": ["infer-srv"]}
GPU_PLACEMENT = (
    "{tolerations: [{key: seldon-gpu-srv, operator: Equal, value: 'true', effect: NoSchedule}],"
    " nodeAffinity: {required: [{key: pool, operator: In, values: [infer-srv]}]}}"
)


def review(pod: dict[str, Any], policies: PolicySet, *, namespace: str = "seldon-mesh") -> Review:
    """Review, and check the invariants every review must keep."""
    original = copy.deepcopy(pod)
    result = review_pod(pod, namespace=namespace, policies=policies)
    assert pod == original, "the engine modified its input"
    assert jsonpatch.apply_patch(original, result.patch) == result.pod, (
        "patch does not reproduce the mutation"
    )
    again = review_pod(result.pod, namespace=namespace, policies=policies)
    assert again.patch == [], "not idempotent"
    if result.patch:
        validate_pod(result.pod)
    return result


def terms(pod: dict[str, Any]) -> list[dict[str, Any]]:
    affinity = pod["spec"]["affinity"]["nodeAffinity"]
    return affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]  # type: ignore[no-any-return]


# --- tolerations -------------------------------------------------------------------------------------

NOT_READY = {
    "key": "node.kubernetes.io/not-ready",
    "operator": "Exists",
    "effect": "NoExecute",
    "tolerationSeconds": 300,
}


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (None, [GPU_TOL]),  # no field: the field is created
        ([], [GPU_TOL]),
        ([NOT_READY], [NOT_READY, GPU_TOL]),  # appended after the Pod's own, never reordered
        ([GPU_TOL], [GPU_TOL]),  # already there
        (
            [{"key": "seldon-gpu-srv", "operator": "Exists"}],
            [{"key": "seldon-gpu-srv", "operator": "Exists"}],
        ),
        ([{"operator": "Exists"}], [{"operator": "Exists"}]),  # tolerate-everything covers it
        (
            [{"key": "seldon-gpu-srv", "operator": "Equal", "value": "false", "effect": "NoSchedule"}],
            [
                {"key": "seldon-gpu-srv", "operator": "Equal", "value": "false", "effect": "NoSchedule"},
                GPU_TOL,
            ],
        ),
    ],
)
def test_tolerations_are_appended_unless_covered(existing: Any, expected: list[dict[str, Any]]) -> None:
    pod = minimal_pod() if existing is None else minimal_pod(tolerations=existing)
    result = review(
        pod, one_policy("{tolerations: [{key: seldon-gpu-srv, value: 'true', effect: NoSchedule}]}")
    )
    assert result.pod["spec"]["tolerations"] == expected


def test_null_tolerations_are_replaced_by_a_list() -> None:
    result = review(minimal_pod(tolerations=None), one_policy(GPU_PLACEMENT))
    assert result.pod["spec"]["tolerations"] == [GPU_TOL]


# --- required node affinity ----------------------------------------------------------------------------


def affinity(*term_list: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(term_list)}
        }
    }


ZONE_A = {"key": "zone", "operator": "In", "values": ["a"]}
ZONE_B = {"key": "zone", "operator": "In", "values": ["b"]}
NAME_FIELD = {"key": "metadata.name", "operator": "In", "values": ["node-1"]}


@pytest.mark.parametrize(
    ("pod_affinity", "expected_terms"),
    [
        (None, [{"matchExpressions": [POOL_IN]}]),  # none: one term with the requirements
        ({}, [{"matchExpressions": [POOL_IN]}]),
        ({"podAntiAffinity": {}}, [{"matchExpressions": [POOL_IN]}]),  # other affinity kinds kept
        (affinity({"matchExpressions": [ZONE_A]}), [{"matchExpressions": [ZONE_A, POOL_IN]}]),
        (  # ORed terms: added to every term, never as a new (loosening) term
            affinity({"matchExpressions": [ZONE_A]}, {"matchExpressions": [ZONE_B]}),
            [{"matchExpressions": [ZONE_A, POOL_IN]}, {"matchExpressions": [ZONE_B, POOL_IN]}],
        ),
        (  # already present in one term: only the other gets it
            affinity({"matchExpressions": [POOL_IN]}, {"matchExpressions": [ZONE_B]}),
            [{"matchExpressions": [POOL_IN]}, {"matchExpressions": [ZONE_B, POOL_IN]}],
        ),
        (  # a term with only matchFields gets matchExpressions
            affinity({"matchFields": [NAME_FIELD]}),
            [{"matchFields": [NAME_FIELD], "matchExpressions": [POOL_IN]}],
        ),
        (  # an empty term matches nothing: it stays empty rather than start matching
            affinity({}, {"matchExpressions": [ZONE_A]}),
            [{}, {"matchExpressions": [ZONE_A, POOL_IN]}],
        ),
    ],
)
def test_required_affinity_is_added_to_every_term(pod_affinity: Any, expected_terms: list[Any]) -> None:
    pod = minimal_pod() if pod_affinity is None else minimal_pod(affinity=pod_affinity)
    result = review(
        pod, one_policy("{nodeAffinity: {required: [{key: pool, operator: In, values: [infer-srv]}]}}")
    )
    assert terms(result.pod) == expected_terms
    if pod_affinity and "podAntiAffinity" in pod_affinity:
        assert result.pod["spec"]["affinity"]["podAntiAffinity"] == {}


def test_same_requirement_with_values_in_another_order_is_present() -> None:
    pod = minimal_pod(
        affinity=affinity({"matchExpressions": [{"key": "pool", "operator": "In", "values": ["b", "a"]}]})
    )
    result = review(
        pod, one_policy("{nodeAffinity: {required: [{key: pool, operator: In, values: [a, b]}]}}")
    )
    assert result.outcome == "unchanged" and result.patch == []


# --- nodeSelector and preferred terms --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (None, {"pool": "infer-srv"}),
        ({"disk": "ssd"}, {"disk": "ssd", "pool": "infer-srv"}),
        ({"pool": "infer-srv"}, {"pool": "infer-srv"}),
    ],
)
def test_node_selector_keys_are_merged(existing: Any, expected: dict[str, str]) -> None:
    pod = minimal_pod() if existing is None else minimal_pod(nodeSelector=existing)
    assert (
        review(pod, one_policy("{nodeSelector: {pool: infer-srv}}")).pod["spec"]["nodeSelector"] == expected
    )


def test_node_selector_key_with_slash_is_pointer_escaped() -> None:
    pod = minimal_pod(nodeSelector={"disk": "ssd"})
    result = review(pod, one_policy("{nodeSelector: {nvidia.com/gpu.present: 'true'}}"))
    assert {
        "op": "add",
        "path": "/spec/nodeSelector/nvidia.com~1gpu.present",
        "value": "true",
    } in result.patch


PREFERRED = {
    "weight": 50,
    "preference": {"matchExpressions": [{"key": "acc", "operator": "In", "values": ["a100"]}]},
}
OTHER_PREFERRED = {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}}


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (None, [PREFERRED]),
        ([OTHER_PREFERRED], [OTHER_PREFERRED, PREFERRED]),
        ([PREFERRED], [PREFERRED]),  # identical term exists
        (
            [{**PREFERRED, "weight": 20}],
            [{**PREFERRED, "weight": 20}, PREFERRED],
        ),  # other weight: not identical
    ],
)
def test_preferred_terms_are_appended_unless_identical(existing: Any, expected: list[Any]) -> None:
    node_affinity = {} if existing is None else {"preferredDuringSchedulingIgnoredDuringExecution": existing}
    pod = minimal_pod(affinity={"nodeAffinity": node_affinity})
    policy = one_policy(
        "{nodeAffinity: {preferred: [{weight: 50, matchExpressions: [{key: acc, operator: In, values: [a100]}]}]}}"
    )
    result = review(pod, policy)
    assert (
        result.pod["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        == expected
    )


# --- conflicts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pod_spec", "policy_placement", "key"),
    [
        ({"nodeSelector": {"pool": "cpu"}}, "{nodeSelector: {pool: infer-srv}}", "pool"),  # different values
        (
            {"nodeSelector": {"pool": "cpu"}},
            "{nodeAffinity: {required: [{key: pool, operator: In, values: [infer-srv]}]}}",
            "pool",
        ),
        (
            {
                "affinity": affinity(
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["cpu"]}]}
                )
            },
            "{nodeAffinity: {required: [{key: pool, operator: In, values: [infer-srv]}]}}",
            "pool",
        ),  # disjoint In
        (
            {
                "affinity": affinity(
                    {"matchExpressions": [{"key": "pool", "operator": "NotIn", "values": ["infer-srv"]}]}
                )
            },
            "{nodeSelector: {pool: infer-srv}}",
            "pool",
        ),  # NotIn covers the In set
        (
            {"affinity": affinity({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]})},
            "{nodeAffinity: {required: [{key: gpu, operator: Exists}]}}",
            "gpu",
        ),  # Exists vs DoesNotExist
        (
            {
                "affinity": affinity(
                    {"matchExpressions": [{"key": "mem", "operator": "Gt", "values": ["80"]}]}
                )
            },
            "{nodeAffinity: {required: [{key: mem, operator: Lt, values: ['40']}]}}",
            "mem",
        ),  # empty range
        (
            {
                "affinity": affinity(
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]},
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["b"]}]},
                )
            },
            "{nodeSelector: {pool: infer-srv}}",
            "pool",
        ),  # every term dies
    ],
)
def test_conflicts_apply_nothing_and_warn(pod_spec: dict[str, Any], policy_placement: str, key: str) -> None:
    pod = minimal_pod(**pod_spec)
    placement = policy_placement[:-1] + ", tolerations: [{key: seldon-gpu-srv, operator: Exists}]}"
    result = review(pod, one_policy(placement))
    assert result.outcome == "conflict" and result.allowed and result.patch == []
    assert result.pod is pod
    assert result.warnings == [
        f"placement-webhook: policy p conflicts with the Pod's own placement on {key}; not applied"
    ]


def test_conflict_with_deny_rejects_the_pod() -> None:
    pod = minimal_pod(nodeSelector={"pool": "cpu"})
    result = review(pod, one_policy("{nodeSelector: {pool: infer-srv}}", extra="onConflict: deny"))
    assert result.outcome == "denied" and not result.allowed and result.patch == []
    assert result.denial == "placement-webhook: policy p conflicts with the Pod's own placement on pool"


def test_one_surviving_term_is_no_conflict() -> None:
    pod = minimal_pod(
        affinity=affinity(
            {"matchExpressions": [ZONE_A, {"key": "pool", "operator": "In", "values": ["cpu"]}]},
            {"matchExpressions": [ZONE_B]},
        )
    )
    result = review(pod, one_policy("{nodeSelector: {pool: infer-srv}}"))
    assert result.outcome == "patched"
    assert result.pod["spec"]["nodeSelector"] == {"pool": "infer-srv"}


def test_the_pods_own_unsatisfiable_term_is_not_a_conflict_on_its_key() -> None:
    """A term that cannot match on ``pool`` is left out, the other term decides (tests/engine/test_terms.py)."""
    own = {
        "matchExpressions": [
            {"key": "pool", "operator": "In", "values": ["a"]},
            {"key": "pool", "operator": "In", "values": ["b"]},
        ]
    }
    pod = minimal_pod(affinity=affinity(own, {"matchExpressions": [ZONE_A]}))
    result = review(pod, one_policy("{nodeSelector: {pool: infer-srv}}"))
    assert result.outcome == "patched"


def test_compatible_constraints_on_the_same_key_are_no_conflict() -> None:
    pod = minimal_pod(
        affinity=affinity(
            {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["infer-srv", "cpu"]}]}
        )
    )
    result = review(pod, one_policy(GPU_PLACEMENT))
    assert result.outcome == "patched"
    assert terms(result.pod)[0]["matchExpressions"][-1] == POOL_IN


# --- modes, annotation, scope -------------------------------------------------------------------------------


def test_audit_mode_changes_nothing_and_says_what_it_would_add() -> None:
    result = review(minimal_pod(), one_policy(GPU_PLACEMENT, extra="mode: audit"))
    assert result.outcome == "audit" and result.patch == [] and result.allowed
    assert result.warnings == [
        "placement-webhook: audit: policy p would add toleration seldon-gpu-srv=true:NoSchedule",
        "placement-webhook: audit: policy p would add required pool In [infer-srv]",
    ]


def test_audit_mode_reports_conflicts_without_denying() -> None:
    pod = minimal_pod(nodeSelector={"pool": "cpu"})
    result = review(
        pod, one_policy("{nodeSelector: {pool: infer-srv}}", extra="mode: audit\n          onConflict: deny")
    )
    assert result.outcome == "audit" and result.allowed
    assert "audit: policy p conflicts with the Pod's own placement on pool" in result.warnings[0]


def test_annotation_records_the_policy_with_pointer_escaping() -> None:
    result = review(minimal_pod(), one_policy(GPU_PLACEMENT))
    assert result.pod["metadata"]["annotations"] == {POLICY_ANNOTATION: "p"}
    assert result.patch[-1] == {
        "op": "add",
        "path": "/metadata/annotations",
        "value": {POLICY_ANNOTATION: "p"},
    }
    pod = minimal_pod()
    pod["metadata"]["annotations"] = {"a~b/c": "x"}
    result = review(pod, one_policy(GPU_PLACEMENT))
    assert result.patch[-1] == {
        "op": "add",
        "path": "/metadata/annotations/placement-webhook.io~1policy",
        "value": "p",
    }


def test_nothing_to_add_means_no_patch_and_no_annotation() -> None:
    pod = minimal_pod(tolerations=[GPU_TOL], affinity=affinity({"matchExpressions": [POOL_IN]}))
    result = review(pod, one_policy(GPU_PLACEMENT))
    assert result.outcome == "unchanged" and result.policy == "p" and result.patch == []


def test_only_placement_fields_and_the_annotation_change() -> None:
    pod = minimal_pod(tolerations=[NOT_READY], hostname="srv-0", unknownFutureField={"x": [1, 2]})
    result = review_pod(pod, namespace="seldon-mesh", policies=one_policy(GPU_PLACEMENT))
    changed = {op["path"].split("/")[2] for op in result.patch}
    assert changed == {"tolerations", "affinity", "annotations"}
    assert result.pod["spec"]["unknownFutureField"] == {"x": [1, 2]}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tolerations", "oops", "spec.tolerations is a string, expected a list"),
        ("affinity", [], "spec.affinity is a list, expected an object"),
        ("nodeSelector", ["a"], "spec.nodeSelector is a list, expected an object"),
        (
            "affinity",
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": ["x"]}
                }
            },
            "nodeSelectorTerms[0] is a string, expected an object",
        ),
        (
            "affinity",
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": 1}]}]
                    }
                }
            },
            "nodeSelectorTerms[0].matchExpressions has a malformed requirement",
        ),
    ],
)
def test_odd_placement_fields_allow_unchanged_with_a_warning(field: str, value: Any, message: str) -> None:
    result = review_pod(minimal_pod(**{field: value}), namespace="ns", policies=one_policy(GPU_PLACEMENT))
    assert result.outcome == "malformed" and result.allowed and result.patch == []
    assert result.warnings == [f"placement-webhook: Pod not placed by p: {message}"]


def test_odd_types_outside_placement_fields_are_ignored() -> None:
    pod = minimal_pod()
    pod["spec"]["containers"] = "not a list"
    pod["metadata"]["labels"]["weird"] = 5
    result = review_pod(pod, namespace="ns", policies=one_policy(GPU_PLACEMENT))
    assert result.outcome == "patched"
