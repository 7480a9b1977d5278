"""Exact rules pinned: when a Pod's own requirement or preferred term counts as the policy's, every
placement field with every wrong JSON type, and ``tolerationSeconds`` tolerations in real placements."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.test_placement import affinity, review
from tests.helpers import minimal_pod, one_policy
from webhook.engine.mutation import review_pod

POOL = {"key": "pool", "operator": "In", "values": ["a", "b"]}
REQUIRE_POOL = "{nodeAffinity: {required: [{key: pool, operator: In, values: [a, b]}]}}"


# --- required: a requirement is present when key, operator and the set of values are equal -----------


@pytest.mark.parametrize(
    ("own", "present"),
    [
        (POOL, True),
        ({**POOL, "values": ["b", "a"]}, True),  # values are a set
        ({**POOL, "values": ["a", "b", "a"]}, True),  # ... repeats included
        ({**POOL, "values": ["a"]}, False),  # a narrower set is another requirement
        ({**POOL, "values": ["a", "b", "c"]}, False),
        ({**POOL, "operator": "NotIn"}, None),  # the operator counts: NotIn [a, b] is a conflict
        ({**POOL, "key": "pool2"}, False),  # the key counts
        ({"key": "pool", "operator": "Exists"}, False),
    ],
)
def test_required_expression_identity(own: dict[str, Any], present: bool | None) -> None:
    result = review(minimal_pod(affinity=affinity({"matchExpressions": [own]})), one_policy(REQUIRE_POOL))
    if present is None:
        assert result.outcome == "conflict" and result.plan is not None and result.plan.conflicts == ["pool"]
        return
    terms = result.pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    expected = [own] if present else [own, POOL]
    assert terms["nodeSelectorTerms"] == [{"matchExpressions": expected}]


def test_a_requirement_in_match_fields_is_not_in_match_expressions() -> None:
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}
    policy = one_policy("{nodeAffinity: {required: [{key: metadata.name, operator: In, values: [n]}]}}")
    result = review(minimal_pod(affinity=affinity(term)), policy)
    added = result.pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert added["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "metadata.name", "operator": "In", "values": ["n"]}
    ]


# --- preferred: identical when weight, the set of expressions and the set of fields are equal ----------

ACC = {"key": "acc", "operator": "In", "values": ["a100", "h100"]}
ZONE = {"key": "zone", "operator": "Exists"}
PREFER = (
    "{nodeAffinity: {preferred: [{weight: 50, matchExpressions: ["
    "{key: acc, operator: In, values: [a100, h100]}, {key: zone, operator: Exists}]}]}}"
)
WANTED = {"weight": 50, "preference": {"matchExpressions": [ACC, ZONE]}}


@pytest.mark.parametrize(
    ("own", "identical"),
    [
        (WANTED, True),
        ({"weight": 50, "preference": {"matchExpressions": [ZONE, ACC]}}, True),  # ANDed: order is moot
        (
            {"weight": 50, "preference": {"matchExpressions": [{**ACC, "values": ["h100", "a100"]}, ZONE]}},
            True,
        ),
        ({"weight": 50, "preference": {"matchExpressions": [ACC, ZONE, ZONE]}}, True),  # a repeat is moot
        ({"weight": 51, "preference": {"matchExpressions": [ACC, ZONE]}}, False),  # the weight counts
        ({"weight": 50, "preference": {"matchExpressions": [ACC]}}, False),
        ({"weight": 50, "preference": {"matchExpressions": [{**ACC, "operator": "NotIn"}, ZONE]}}, False),
        ({"weight": 50, "preference": {"matchExpressions": [{**ACC, "values": ["a100"]}, ZONE]}}, False),
        (  # extra matchFields narrow the term: another term
            {
                "weight": 50,
                "preference": {
                    "matchExpressions": [ACC, ZONE],
                    "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}],
                },
            },
            False,
        ),
    ],
)
def test_preferred_term_identity(own: dict[str, Any], identical: bool) -> None:
    pod = minimal_pod(affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [own]}})
    result = review(pod, one_policy(PREFER))
    preferred = result.pod["spec"]["affinity"]["nodeAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert preferred == ([own] if identical else [own, WANTED])


# --- malformed placement fields: admitted unchanged, one exact warning -------------------------------

WRONG = {"a string": "x", "a number": 5, "a boolean": True, "a list": [], "an object": {}}
OBJECT_FIELDS = [
    ("spec", "spec"),
    ("spec.affinity", ("spec", "affinity")),
    ("spec.affinity.nodeAffinity", ("spec", "affinity", "nodeAffinity")),
    (
        "nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
        ("spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"),
    ),
    ("spec.nodeSelector", ("spec", "nodeSelector")),
    ("metadata.annotations", ("metadata", "annotations")),
]
LIST_FIELDS = [
    ("spec.tolerations", ("spec", "tolerations")),
    (
        "nodeSelectorTerms",
        (
            "spec",
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
        ),
    ),
    (
        "nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution",
        ("spec", "affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"),
    ),
]


def put(pod: dict[str, Any], path: tuple[str, ...] | str, value: Any) -> dict[str, Any]:
    parts = (path,) if isinstance(path, str) else path
    node = pod
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return pod


SHAPES = [
    *[
        pytest.param(path, value, f"{where} is {name}, expected an object", id=f"{where}={name}")
        for where, path in OBJECT_FIELDS
        for name, value in WRONG.items()
        if name != "an object"
    ],
    *[
        pytest.param(path, value, f"{where} is {name}, expected a list", id=f"{where}={name}")
        for where, path in LIST_FIELDS
        for name, value in WRONG.items()
        if name != "a list"
    ],
    pytest.param(("spec", "tolerations"), ["x"], "spec.tolerations[0] is a string, expected an object"),
    pytest.param(
        ("spec", "tolerations"), [{"key": 1}], "spec.tolerations[0].key is a number, expected a string"
    ),
    pytest.param(
        ("spec", "tolerations"), [{"effect": []}], "spec.tolerations[0].effect is a list, expected a string"
    ),
    pytest.param(
        ("spec", "tolerations"),
        [{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": "300"}],
        "spec.tolerations[0].tolerationSeconds is a string, expected an integer",
    ),
    pytest.param(
        ("spec", "tolerations"),
        [{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": True}],
        "spec.tolerations[0].tolerationSeconds is a boolean, expected an integer",
    ),
    pytest.param(
        ("spec", "tolerations"),
        [{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1.5}],
        "spec.tolerations[0].tolerationSeconds is a number, expected an integer",
    ),
    pytest.param(
        ("spec", "nodeSelector"), {"pool": 5}, 'spec.nodeSelector["pool"] is a number, expected a string'
    ),
    pytest.param(
        ("spec", "nodeSelector"), {"pool": None}, 'spec.nodeSelector["pool"] is null, expected a string'
    ),
    pytest.param(
        ("spec", "affinity"),
        affinity({"matchExpressions": "x"}),
        "nodeSelectorTerms[0].matchExpressions is a string, expected a list",
    ),
    pytest.param(
        ("spec", "affinity"),
        affinity({"matchFields": {}}),
        "nodeSelectorTerms[0].matchFields is an object, expected a list",
    ),
    *[
        pytest.param(
            ("spec", "affinity"),
            affinity({"matchExpressions": [expr]}),
            "nodeSelectorTerms[0].matchExpressions has a malformed requirement",
            id=f"requirement {expr}",
        )
        for expr in [
            "pool",
            {"operator": "Exists"},
            {"key": "pool"},
            {"key": "pool", "operator": 1},
            {"key": "pool", "operator": "In", "values": "a"},
            {"key": "pool", "operator": "In", "values": [1]},
            {"key": "pool", "operator": "In", "values": [None]},
        ]
    ],
    pytest.param(
        ("spec", "affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"),
        [5],
        "nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0] is a number, expected an object",
    ),
    pytest.param(
        ("spec", "affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"),
        [{"weight": 1, "preference": []}],
        "nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference is a list, expected an object",
    ),
    pytest.param(
        ("spec", "affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"),
        [{"weight": 1, "preference": {"matchExpressions": [{"key": "a", "operator": "In", "values": [2]}]}}],
        "nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions"
        " has a malformed requirement",
    ),
]

EVERY_FIELD = (
    "{tolerations: [{key: seldon-gpu-srv, operator: Exists}], nodeSelector: {pool: infer-srv},"
    " nodeAffinity: {required: [{key: zone, operator: Exists}],"
    " preferred: [{weight: 1, matchExpressions: [{key: acc, operator: Exists}]}]}}"
)


@pytest.mark.parametrize(("path", "value", "message"), SHAPES)
def test_malformed_placement_fields(path: tuple[str, ...] | str, value: Any, message: str) -> None:
    pod = put(minimal_pod(), path, value)
    result = review_pod(pod, namespace="ns", policies=one_policy(EVERY_FIELD))
    assert (result.outcome, result.allowed, result.patch, result.pod is pod) == ("malformed", True, [], True)
    assert result.warnings == [f"placement-webhook: Pod not placed by p: {message}"]


@pytest.mark.parametrize(
    "path",
    [("spec", "tolerations"), ("spec", "nodeSelector"), ("spec", "affinity"), ("metadata", "annotations")],
)
def test_null_placement_fields_are_absent(path: tuple[str, ...]) -> None:
    result = review(put(minimal_pod(), path, None), one_policy(EVERY_FIELD))
    assert result.outcome == "patched"


# --- tolerationSeconds in real placements -------------------------------------------------------------

UNREACHABLE_300 = {
    "key": "node.kubernetes.io/unreachable",
    "operator": "Exists",
    "effect": "NoExecute",
    "tolerationSeconds": 300,
}
POLICY_600 = "{tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 600}]}"
WANTED_600 = {**UNREACHABLE_300, "tolerationSeconds": 600}


@pytest.mark.parametrize(
    ("existing", "added"),
    [
        ([], [WANTED_600]),
        ([UNREACHABLE_300], [WANTED_600]),  # 300 s does not cover 600 s
        ([WANTED_600], []),
        ([{**UNREACHABLE_300, "tolerationSeconds": 900}], []),  # a longer stay covers it
        ([{k: v for k, v in UNREACHABLE_300.items() if k != "tolerationSeconds"}], []),  # forever covers it
        ([{**UNREACHABLE_300, "effect": "NoSchedule", "tolerationSeconds": 900}], [WANTED_600]),
        ([{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 600}], []),  # any key
        ([{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 599}], [WANTED_600]),
    ],
)
def test_toleration_seconds_in_real_placements(
    existing: list[dict[str, Any]], added: list[dict[str, Any]]
) -> None:
    result = review(minimal_pod(tolerations=existing), one_policy(POLICY_600))
    assert result.pod["spec"]["tolerations"] == existing + added
    assert result.outcome == ("patched" if added else "unchanged")
    if added:
        assert result.plan is not None
        assert result.plan.describe() == ["toleration node.kubernetes.io/unreachable:NoExecute for 600s"]
