"""Scheduling semantics, case by case against the upstream Go code each function names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import minimal_pod
from webhook.simulation.scheduling import (
    affinity_failure,
    describe_taint,
    filter_reason,
    find_untolerated_taint,
    fit_node,
    missing_resources,
    preferred_score,
    preferred_terms_error,
    tolerates_taint,
)

GPU_TAINT = {"key": "seldon-gpu-srv", "value": "true", "effect": "NoSchedule"}


def taint(effect: str, key: str = "seldon-gpu-srv", value: str = "true") -> dict[str, Any]:
    return {"key": key, "value": value, "effect": effect}


# --- Toleration.ToleratesTaint (k8s.io/api core/v1 toleration.go), its own test table and more ----


@pytest.mark.parametrize(
    ("toleration", "taint_", "expected"),
    [
        # operator Equal (and empty, which means Equal): same key, value and effect
        (
            {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
            GPU_TAINT,
            True,
        ),
        ({"key": "seldon-gpu-srv", "value": "true", "effect": "NoSchedule"}, GPU_TAINT, True),
        (
            {"key": "seldon-gpu-srv", "operator": "Equal", "value": "false", "effect": "NoSchedule"},
            GPU_TAINT,
            False,
        ),
        ({"key": "seldon-gpu-srv", "operator": "Equal", "effect": "NoSchedule"}, GPU_TAINT, False),
        (
            {"key": "k", "operator": "Equal", "effect": "NoSchedule"},
            {"key": "k", "effect": "NoSchedule"},
            True,
        ),
        ({"key": "other", "operator": "Equal", "value": "true", "effect": "NoSchedule"}, GPU_TAINT, False),
        # operator Exists: any value
        ({"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoSchedule"}, GPU_TAINT, True),
        (
            {"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoSchedule"},
            taint("NoSchedule", value="x"),
            True,
        ),
        # empty key with Exists: every key
        ({"operator": "Exists"}, GPU_TAINT, True),
        ({"operator": "Exists", "effect": "NoExecute"}, GPU_TAINT, False),
        # empty effect: every effect; otherwise effects must be equal
        ({"key": "seldon-gpu-srv", "operator": "Exists"}, taint("NoExecute"), True),
        ({"key": "seldon-gpu-srv", "operator": "Exists"}, taint("PreferNoSchedule"), True),
        ({"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoSchedule"}, taint("NoExecute"), False),
        ({"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoExecute"}, taint("NoSchedule"), False),
        (
            {"key": "seldon-gpu-srv", "operator": "Exists", "effect": "PreferNoSchedule"},
            taint("PreferNoSchedule"),
            True,
        ),
        # tolerationSeconds never matters for whether a taint is tolerated
        (
            {"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0},
            taint("NoExecute"),
            True,
        ),
        # Lt / Gt compare integers: taint value < or > toleration value; unparsable is not tolerated
        (
            {"key": "gen", "operator": "Lt", "value": "5", "effect": "NoSchedule"},
            taint("NoSchedule", "gen", "3"),
            True,
        ),
        (
            {"key": "gen", "operator": "Lt", "value": "5", "effect": "NoSchedule"},
            taint("NoSchedule", "gen", "5"),
            False,
        ),
        (
            {"key": "gen", "operator": "Gt", "value": "5", "effect": "NoSchedule"},
            taint("NoSchedule", "gen", "7"),
            True,
        ),
        (
            {"key": "gen", "operator": "Gt", "value": "5", "effect": "NoSchedule"},
            taint("NoSchedule", "gen", "x"),
            False,
        ),
        # an unknown operator tolerates nothing
        ({"key": "seldon-gpu-srv", "operator": "Matches", "value": "true"}, GPU_TAINT, False),
    ],
)
def test_tolerates_taint(toleration: dict[str, Any], taint_: dict[str, Any], expected: bool) -> None:
    assert tolerates_taint(toleration, taint_) is expected


def test_yaml_boolean_values_compare_as_written() -> None:
    """A hand-written node file with ``value: true`` unquoted still matches a "true" toleration."""
    assert tolerates_taint({"key": "k", "value": "true"}, {"key": "k", "value": True, "effect": "NoSchedule"})


def test_find_untolerated_taint_returns_the_first_filtered_one() -> None:
    taints = [taint("PreferNoSchedule", "soft"), taint("NoSchedule", "a"), taint("NoExecute", "b")]
    found = find_untolerated_taint(taints, [], effects=("NoSchedule", "NoExecute"))
    assert found == taints[1]
    tolerated = [{"key": "a", "operator": "Exists"}]
    assert find_untolerated_taint(taints, tolerated, effects=("NoSchedule", "NoExecute")) == taints[2]
    assert (
        find_untolerated_taint(taints, [{"operator": "Exists"}], effects=("NoSchedule", "NoExecute")) is None
    )


@pytest.mark.parametrize(
    ("taint_", "text"),
    [
        (GPU_TAINT, "seldon-gpu-srv=true:NoSchedule"),
        (
            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
            "node-role.kubernetes.io/control-plane:NoSchedule",
        ),
    ],
)
def test_describe_taint_like_kubectl(taint_: dict[str, Any], text: str) -> None:
    assert describe_taint(taint_) == text


# --- the TaintToleration plugin: NoSchedule and NoExecute filter, PreferNoSchedule only scores -----


def node(
    name: str = "n1", *, labels: dict[str, str] | None = None, taints: list[Any] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or [], **spec},
    }


def pod(**spec: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}], **spec}}


NOSCHEDULE_TOLERATION = {
    "key": "seldon-gpu-srv",
    "operator": "Equal",
    "value": "true",
    "effect": "NoSchedule",
}
NOEXECUTE_TOLERATION = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoExecute"}
ANY_EFFECT_TOLERATION = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true"}


@pytest.mark.parametrize(
    ("effect", "tolerations", "reason"),
    [
        ("NoSchedule", [], "untolerated taint seldon-gpu-srv=true:NoSchedule"),
        ("NoSchedule", [NOSCHEDULE_TOLERATION], None),
        ("NoSchedule", [NOEXECUTE_TOLERATION], "untolerated taint seldon-gpu-srv=true:NoSchedule"),
        ("NoExecute", [], "untolerated taint seldon-gpu-srv=true:NoExecute"),
        ("NoExecute", [NOSCHEDULE_TOLERATION], "untolerated taint seldon-gpu-srv=true:NoExecute"),
        ("NoExecute", [NOEXECUTE_TOLERATION], None),
        ("NoExecute", [ANY_EFFECT_TOLERATION], None),
        ("PreferNoSchedule", [], None),
    ],
)
def test_noschedule_and_noexecute_filter_prefernoschedule_does_not(
    effect: str, tolerations: list[dict[str, Any]], reason: str | None
) -> None:
    assert filter_reason(pod(tolerations=tolerations), node(taints=[taint(effect)])) == reason


@pytest.mark.parametrize(
    ("tolerations", "avoided"),
    [
        ([], ("maintenance=soon:PreferNoSchedule",)),
        ([{"key": "maintenance", "operator": "Exists", "effect": "PreferNoSchedule"}], ()),
        ([{"key": "maintenance", "operator": "Exists"}], ()),
        # only tolerations with an empty or PreferNoSchedule effect count (getAllTolerationPreferNoSchedule)
        (
            [{"key": "maintenance", "operator": "Exists", "effect": "NoSchedule"}],
            ("maintenance=soon:PreferNoSchedule",),
        ),
    ],
)
def test_prefernoschedule_taints_are_scored_not_filtered(
    tolerations: list[dict[str, Any]], avoided: tuple[str, ...]
) -> None:
    fit = fit_node(
        pod(tolerations=tolerations), node(taints=[taint("PreferNoSchedule", "maintenance", "soon")])
    )
    assert fit.fits and fit.avoided == avoided


# --- RequiredNodeAffinity.Match (component-helpers nodeaffinity.go) --------------------------------


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}
    }


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


GPU_LABELS = {"pool": "infer-srv", "nvidia.com/gpu.count": "8", "nvidia.com/gpu.product": "A100-SXM4-40GB"}


@pytest.mark.parametrize(
    ("requirement", "reason"),
    [
        (expr("pool", "In", "infer-srv", "batch"), None),
        (expr("pool", "In", "general"), "affinity: pool In [general] (pool=infer-srv)"),
        (expr("zone", "In", "a"), "affinity: zone In [a] (no zone label)"),
        (expr("pool", "NotIn", "general"), None),
        (expr("zone", "NotIn", "a"), None),
        (expr("pool", "NotIn", "infer-srv"), "affinity: pool NotIn [infer-srv] (pool=infer-srv)"),
        (expr("pool", "Exists"), None),
        (expr("zone", "Exists"), "affinity: zone Exists (no zone label)"),
        (expr("zone", "DoesNotExist"), None),
        (expr("pool", "DoesNotExist"), "affinity: pool DoesNotExist (pool=infer-srv)"),
        (expr("nvidia.com/gpu.count", "Gt", "4"), None),
        (
            expr("nvidia.com/gpu.count", "Gt", "8"),
            "affinity: nvidia.com/gpu.count Gt [8] (nvidia.com/gpu.count=8)",
        ),
        (expr("nvidia.com/gpu.count", "Lt", "9"), None),
        (
            expr("nvidia.com/gpu.count", "Lt", "8"),
            "affinity: nvidia.com/gpu.count Lt [8] (nvidia.com/gpu.count=8)",
        ),
        (expr("pool", "Gt", "1"), "affinity: pool Gt [1] (pool=infer-srv)"),  # a label that is no integer
        (expr("zone", "Lt", "1"), "affinity: zone Lt [1] (no zone label)"),
        # requirements labels.NewRequirement refuses: the term matches nothing
        (expr("pool", "In"), "affinity: invalid requirement pool In: In needs values"),
        (
            expr("pool", "Exists", "x"),
            "affinity: invalid requirement pool Exists [x]: Exists takes no values",
        ),
        (expr("n", "Gt", "a"), "affinity: invalid requirement n Gt [a]: Gt needs one integer"),
        (
            expr("pool", "Equals", "x"),
            'affinity: invalid requirement pool Equals [x]: operator "Equals" is not one of In, NotIn, Exists, DoesNotExist, Gt, Lt',
        ),
    ],
)
def test_every_node_selector_operator(requirement: dict[str, Any], reason: str | None) -> None:
    spec_pod = pod(affinity=required({"matchExpressions": [requirement]}))
    assert affinity_failure(spec_pod, node(labels=GPU_LABELS)) == reason


@pytest.mark.parametrize(
    ("field", "name", "reason"),
    [
        (expr("metadata.name", "In", "gpu-1"), "gpu-1", None),
        (expr("metadata.name", "In", "gpu-1"), "gpu-2", "affinity: metadata.name In [gpu-1]"),
        (expr("metadata.name", "NotIn", "gpu-1"), "gpu-2", None),
        (expr("metadata.name", "NotIn", "gpu-1"), "gpu-1", "affinity: metadata.name NotIn [gpu-1]"),
        # only metadata.name is a node field: any other key reads as empty
        (expr("spec.unschedulable", "In", "false"), "gpu-1", "affinity: spec.unschedulable In [false]"),
        (expr("spec.unschedulable", "NotIn", "true"), "gpu-1", None),
        # field requirements: In/NotIn with exactly one value
        (
            expr("metadata.name", "In", "a", "b"),
            "a",
            "affinity: invalid requirement metadata.name In [a, b]: matchFields needs exactly one value",
        ),
        (
            expr("metadata.name", "Exists"),
            "a",
            'affinity: invalid requirement metadata.name Exists: matchFields operator "Exists" is not In or NotIn',
        ),
    ],
)
def test_match_fields_know_only_the_node_name(field: dict[str, Any], name: str, reason: str | None) -> None:
    spec_pod = pod(affinity=required({"matchFields": [field]}))
    assert affinity_failure(spec_pod, node(name)) == reason


@pytest.mark.parametrize(
    ("affinity", "labels", "reason"),
    [
        # terms are ORed: one matching term is enough
        (
            required(
                {"matchExpressions": [expr("pool", "In", "a")]},
                {"matchExpressions": [expr("pool", "In", "b")]},
            ),
            {"pool": "b"},
            None,
        ),
        (
            required(
                {"matchExpressions": [expr("pool", "In", "a")]},
                {"matchExpressions": [expr("pool", "In", "b")]},
            ),
            {"pool": "c"},
            "affinity: no term matches: pool In [a] (pool=c) | pool In [b] (pool=c)",
        ),
        # within a term, expressions are ANDed and the first failing one is named
        (
            required({"matchExpressions": [expr("pool", "In", "a"), expr("gpu", "Exists")]}),
            {"pool": "a"},
            "affinity: gpu Exists (no gpu label)",
        ),
        # an empty term matches nothing and is skipped; the others still count
        (required({}, {"matchExpressions": [expr("pool", "In", "a")]}), {"pool": "a"}, None),
        (
            required({}),
            {"pool": "a"},
            "affinity: no non-empty nodeSelectorTerm (an empty term matches no node)",
        ),
        (
            required(),
            {"pool": "a"},
            "affinity: no non-empty nodeSelectorTerm (an empty term matches no node)",
        ),
        ({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": None}}, {}, None),
        # an invalid term does not match, but another valid one still can (LazyErrorNodeSelector)
        (
            required(
                {"matchExpressions": [expr("pool", "In")]}, {"matchExpressions": [expr("pool", "Exists")]}
            ),
            {"pool": "a"},
            None,
        ),
    ],
)
def test_required_terms(affinity: dict[str, Any], labels: dict[str, str], reason: str | None) -> None:
    assert affinity_failure(pod(affinity=affinity), node(labels=labels)) == reason


@pytest.mark.parametrize(
    ("selector", "reason"),
    [
        ({"pool": "infer-srv"}, None),
        ({"pool": "general"}, "nodeSelector pool=general (pool=infer-srv)"),
        ({"pool": "infer-srv", "zone": "a"}, "nodeSelector zone=a (no zone label)"),
    ],
)
def test_node_selector_is_anded_before_affinity(selector: dict[str, str], reason: str | None) -> None:
    assert affinity_failure(pod(nodeSelector=selector), node(labels=GPU_LABELS)) == reason


def test_node_selector_and_affinity_must_both_hold() -> None:
    both = pod(
        nodeSelector={"pool": "infer-srv"}, affinity=required({"matchExpressions": [expr("zone", "Exists")]})
    )
    assert affinity_failure(both, node(labels=GPU_LABELS)) == "affinity: zone Exists (no zone label)"


# --- PreferredSchedulingTerms.Score ----------------------------------------------------------------


def preferred(*terms: tuple[int, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": w, "preference": {"matchExpressions": e}} for w, e in terms
            ]
        }
    }


@pytest.mark.parametrize(
    ("affinity", "score"),
    [
        (preferred((50, [expr("pool", "In", "infer-srv")])), 50),
        (
            preferred(
                (50, [expr("pool", "In", "infer-srv")]), (30, [expr("nvidia.com/gpu.count", "Gt", "4")])
            ),
            80,
        ),
        (preferred((50, [expr("pool", "In", "general")]), (30, [expr("pool", "Exists")])), 30),
        (preferred((0, [expr("pool", "Exists")])), 0),  # zero weight is skipped
        (preferred((10, [])), 0),  # an empty preference matches nothing
        ({}, 0),
    ],
)
def test_preferred_terms_score_the_sum_of_matching_weights(affinity: dict[str, Any], score: int) -> None:
    assert preferred_score(pod(affinity=affinity), node(labels=GPU_LABELS)) == score


# --- filter order of the default profile: NodeUnschedulable, NodeName, TaintToleration, NodeAffinity


def test_first_reason_follows_the_filter_order() -> None:
    cordoned = node(labels={"pool": "a"}, taints=[GPU_TAINT], unschedulable=True)
    strict = pod(nodeSelector={"pool": "b"})
    assert filter_reason(strict, cordoned) == "unschedulable (cordoned)"
    tolerant = pod(
        nodeSelector={"pool": "b"},
        tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}],
    )
    assert filter_reason(tolerant, cordoned) == "untolerated taint seldon-gpu-srv=true:NoSchedule"
    assert filter_reason(pod(nodeName="other"), node("n1")) == "spec.nodeName is other"
    assert filter_reason(pod(nodeName="n1"), node("n1")) is None


@pytest.mark.parametrize(
    ("status", "missing"),
    [
        ({"allocatable": {"nvidia.com/gpu": "8"}}, []),
        ({"allocatable": {"nvidia.com/gpu": "0"}}, ["nvidia.com/gpu"]),
        ({"allocatable": {"cpu": "4"}}, ["nvidia.com/gpu"]),
        ({"capacity": {"nvidia.com/gpu": "1"}}, []),
        ({}, None),
    ],
)
def test_missing_resources_reads_allocatable_then_capacity(
    status: dict[str, Any], missing: list[str] | None
) -> None:
    assert missing_resources({"status": status}, ["nvidia.com/gpu"]) == missing


# --- NewPreferredSchedulingTerms (component-helpers nodeaffinity.go): a term that does not parse
# fails the NodeAffinity plugin's PreScore for the whole Pod (scheduler node_affinity.go PreScore).

NAME_IN_TWO = {"key": "metadata.name", "operator": "In", "values": ["host_1", "host_2"]}


def weighted(*terms: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": w, "preference": p} for w, p in terms
            ]
        }
    }


# component-helpers scheduling/corev1/nodeaffinity/nodeaffinity_test.go, TestPreferredSchedulingTermsScore
@pytest.mark.parametrize(
    ("affinity", "node_", "error", "score"),
    [
        (  # "invalid field selector and label selector": upstream aggregates [0] and [2]; we name the first
            weighted(
                (1, {"matchFields": [NAME_IN_TWO]}),
                (
                    1,
                    {
                        "matchExpressions": [expr("label_1", "In", "label_1_val")],
                        "matchFields": [expr("metadata.name", "In", "host_1")],
                    },
                ),
                (1, {"matchExpressions": [expr("invalid key", "In", "label_value")]}),
            ),
            node("host_1"),
            "preferred term 0: invalid requirement metadata.name In [host_1, host_2]: matchFields needs exactly one value",
            0,
        ),
        (  # "invalid field selector but no weight, error not reported"
            weighted((0, {"matchFields": [NAME_IN_TWO]})),
            node("host_1"),
            None,
            0,
        ),
        (  # "first and third term match"
            weighted(
                (5, {"matchFields": [expr("metadata.name", "In", "host_1")]}),
                (7, {"matchExpressions": [expr("unknown_label", "In", "unknown_label_val")]}),
                (11, {"matchExpressions": [expr("label_1", "In", "label_1_val")]}),
            ),
            node("host_1", labels={"label_1": "label_1_val"}),
            None,
            16,
        ),
    ],
)
def test_preferred_scheduling_terms_score_upstream(
    affinity: dict[str, Any], node_: dict[str, Any], error: str | None, score: int
) -> None:
    assert (
        preferred_terms_error(pod(affinity=affinity)),
        preferred_score(pod(affinity=affinity), node_),
    ) == (
        error,
        score,
    )


def test_the_invalid_key_of_the_upstream_table_is_reported_alone() -> None:
    bad_key = weighted((1, {"matchExpressions": [expr("invalid key", "In", "label_value")]}))
    assert preferred_terms_error(pod(affinity=bad_key)) == (
        'preferred term 0: invalid requirement invalid key In [label_value]: key "invalid key" is not a valid label key'
    )


# ours: one row per kind of parse error


@pytest.mark.parametrize(
    ("affinity", "error"),
    [
        (preferred((50, [expr("pool", "In", "infer-srv")])), None),
        (
            preferred((50, [expr("pool", "In", "infer-srv")]), (30, [expr("gen", "Gt", "abc")])),
            "preferred term 1: invalid requirement gen Gt [abc]: Gt needs one integer",
        ),
        (
            preferred((30, [expr("gen", "Lt", "1", "2")])),
            "preferred term 0: invalid requirement gen Lt [1, 2]: Lt needs one integer",
        ),
        (
            preferred((30, [expr("-bad-", "Exists")])),
            'preferred term 0: invalid requirement -bad- Exists: key "-bad-" is not a valid label key',
        ),
        (
            preferred((30, [expr("pool", "Matches", "x")])),
            "preferred term 0: invalid requirement pool Matches [x]: "
            'operator "Matches" is not one of In, NotIn, Exists, DoesNotExist, Gt, Lt',
        ),
        (
            preferred((30, [expr("pool", "In")])),
            "preferred term 0: invalid requirement pool In: In needs values",
        ),
        # zero weight and empty preferences are skipped before parsing, as upstream
        (preferred((0, [expr("gen", "Gt", "abc")])), None),
        (preferred((10, []), (20, [expr("pool", "Exists")])), None),
        (
            {
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 5, "preference": {"matchFields": [expr("metadata.name", "In", "a", "b")]}}
                    ]
                }
            },
            "preferred term 0: invalid requirement metadata.name In [a, b]: matchFields needs exactly one value",
        ),
    ],
)
def test_preferred_terms_that_do_not_parse(affinity: dict[str, Any], error: str | None) -> None:
    assert preferred_terms_error(pod(affinity=affinity)) == error


def test_no_score_at_all_when_a_preferred_term_does_not_parse() -> None:
    """The scheduler computes no score then: not the other terms' weights with the bad one skipped."""
    broken = preferred((50, [expr("pool", "In", "infer-srv")]), (30, [expr("gen", "Gt", "abc")]))
    assert preferred_score(pod(affinity=broken), node(labels=GPU_LABELS)) == 0


def _preferred(expr: dict[str, Any], part: str = "matchExpressions") -> dict[str, Any]:
    term = {"weight": 1, "preference": {part: [expr]}}
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]}}


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        (
            {"key": "k", "operator": "Bogus"},
            'k Bogus: operator "Bogus" is not one of In, NotIn, Exists, DoesNotExist, Gt, Lt',
        ),
        ({"key": "-k", "operator": "Exists"}, '-k Exists: key "-k" is not a valid label key'),
        ({"key": "k", "operator": "In"}, "k In: In needs values"),
        ({"key": "k", "operator": "NotIn", "values": []}, "k NotIn: NotIn needs values"),
        ({"key": "k", "operator": "Exists", "values": ["a"]}, "k Exists [a]: Exists takes no values"),
        (
            {"key": "k", "operator": "DoesNotExist", "values": ["a"]},
            "k DoesNotExist [a]: DoesNotExist takes no values",
        ),
        ({"key": "k", "operator": "Gt", "values": ["1", "2"]}, "k Gt [1, 2]: Gt needs one integer"),
        ({"key": "k", "operator": "Lt", "values": ["x"]}, "k Lt [x]: Lt needs one integer"),
        ({"key": "k", "operator": "Gt"}, "k Gt: Gt needs one integer"),
        (
            {"key": "k", "operator": "In", "values": ["a b"]},
            'k In [a b]: value "a b" is not a valid label value',
        ),
        (
            {"key": "k", "operator": "In", "values": ["a", "-b"]},
            'k In [a, -b]: value "-b" is not a valid label value',
        ),
        ({"key": "k", "operator": "Gt", "values": ["5"]}, None),
        ({"key": "k", "operator": "In", "values": ["a", "b"]}, None),
        ({"key": "k", "operator": "Exists"}, None),
    ],
)
def test_preferred_expression_parse_errors(expr: dict[str, Any], error: str | None) -> None:
    expected = None if error is None else f"preferred term 0: invalid requirement {error}"
    assert preferred_terms_error(minimal_pod(affinity=_preferred(expr))) == expected


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        (
            {"key": "metadata.name", "operator": "Exists"},
            'metadata.name Exists: matchFields operator "Exists" is not In or NotIn',
        ),
        (
            {"key": "metadata.name", "operator": "In", "values": ["a", "b"]},
            "metadata.name In [a, b]: matchFields needs exactly one value",
        ),
        ({"key": "metadata.name", "operator": "NotIn", "values": ["a"]}, None),
    ],
)
def test_preferred_field_parse_errors(expr: dict[str, Any], error: str | None) -> None:
    expected = None if error is None else f"preferred term 0: invalid requirement {error}"
    assert preferred_terms_error(minimal_pod(affinity=_preferred(expr, "matchFields"))) == expected


# --- labels.NewRequirement's refusals, exactly, at their boundaries (a required term that does not
# parse matches no node): apimachinery pkg/labels/selector.go NewRequirement, validateLabelKey,
# validateLabelValue; strconv.ParseInt for Gt/Lt.

LONG_NAME, LONG_PREFIX = "k" * 63, "p" * 253


def _failure(requirement: dict[str, Any], labels: dict[str, str] | None = None) -> str | None:
    return affinity_failure(
        pod(affinity=required({"matchExpressions": [requirement]})), node(labels=labels or {})
    )


@pytest.mark.parametrize(
    ("requirement", "labels", "reason"),
    [
        # values: 63 characters is a valid label value, 64 is not
        (expr("k", "In", "v" * 63), {"k": "v" * 63}, None),
        (
            expr("k", "In", "v" * 64),
            {"k": "v" * 64},
            f'affinity: invalid requirement k In [{"v" * 64}]: value "{"v" * 64}" is not a valid label value',
        ),
        # keys: a 63-character name and a 253-character prefix are valid, one more is not
        (expr(LONG_NAME, "Exists"), {LONG_NAME: ""}, None),
        (
            expr(LONG_NAME + "k", "Exists"),
            {},
            f'affinity: invalid requirement {LONG_NAME}k Exists: key "{LONG_NAME}k" is not a valid label key',
        ),
        (expr(f"{LONG_PREFIX}/k", "Exists"), {f"{LONG_PREFIX}/k": "x"}, None),
        (
            expr(f"{LONG_PREFIX}p/k", "Exists"),
            {},
            f'affinity: invalid requirement {LONG_PREFIX}p/k Exists: key "{LONG_PREFIX}p/k" is not a valid label key',
        ),
        # Gt/Lt: exactly one value, an int64 (ParseInt: the bounds parse, one past them does not)
        (expr("n", "Gt", "9223372036854775806"), {"n": "9223372036854775807"}, None),
        (  # a negative number parses, but is no valid label value (it must start alphanumeric)
            expr("n", "Lt", "-5"),
            {"n": "-6"},
            'affinity: invalid requirement n Lt [-5]: value "-5" is not a valid label value',
        ),
        (expr("n", "Lt", "0"), {"n": "-6"}, None),  # the node's label need only parse
        (
            expr("n", "Gt", "9223372036854775808"),
            {"n": "1"},
            "affinity: invalid requirement n Gt [9223372036854775808]: Gt needs one integer",
        ),
        (
            expr("n", "Gt", "1", "2"),
            {"n": "5"},
            "affinity: invalid requirement n Gt [1, 2]: Gt needs one integer",
        ),
        (expr("n", "Lt"), {"n": "5"}, "affinity: invalid requirement n Lt: Lt needs one integer"),
        # Gt/Lt compare the node's label as an integer; one that does not parse does not match
        (expr("n", "Gt", "5"), {"n": "6"}, None),
        (expr("n", "Gt", "5"), {"n": "5"}, "affinity: n Gt [5] (n=5)"),
        (expr("n", "Gt", "5"), {"n": "six"}, "affinity: n Gt [5] (n=six)"),
        (expr("n", "Lt", "5"), {}, "affinity: n Lt [5] (no n label)"),
        # value counts per operator
        (
            expr("k", "Exists", "x"),
            {"k": "x"},
            "affinity: invalid requirement k Exists [x]: Exists takes no values",
        ),
        (
            expr("k", "DoesNotExist", "x"),
            {},
            "affinity: invalid requirement k DoesNotExist [x]: DoesNotExist takes no values",
        ),
        (expr("k", "NotIn"), {}, "affinity: invalid requirement k NotIn: NotIn needs values"),
        (
            expr("k", "in", "x"),
            {"k": "x"},
            'affinity: invalid requirement k in [x]: operator "in" is not one of In, NotIn, Exists, DoesNotExist, Gt, Lt',
        ),
    ],
)
def test_requirement_refusals_and_boundaries(
    requirement: dict[str, Any], labels: dict[str, str], reason: str | None
) -> None:
    assert _failure(requirement, labels) == reason


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        (
            expr("metadata.name", "Exists"),
            'affinity: invalid requirement metadata.name Exists: matchFields operator "Exists" is not In or NotIn',
        ),
        (
            expr("metadata.name", "NotIn", "a", "b"),
            "affinity: invalid requirement metadata.name NotIn [a, b]: matchFields needs exactly one value",
        ),
        (expr("metadata.name", "NotIn", "n1"), "affinity: metadata.name NotIn [n1]"),
        (expr("metadata.name", "In", "n1"), None),
    ],
)
def test_match_fields_refusals_exactly(field: dict[str, Any], reason: str | None) -> None:
    assert affinity_failure(pod(affinity=required({"matchFields": [field]})), node("n1")) == reason
