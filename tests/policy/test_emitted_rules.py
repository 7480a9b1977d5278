"""What a policy emits must pass the API server: each rule, its boundary and its exact message.

The rules come from kubernetes ``pkg/apis/core/validation/validation.go`` (``ValidateTolerations``,
``ValidateNodeSelectorRequirement``, ``ValidatePreferredSchedulingTerms``); the tables below port
the cases of ``validation_test.go`` that apply to what the policy file accepts, and add the
boundaries (63/253 characters, int64) and the Python pitfalls (a trailing newline, defaults that
validators never saw, snake_case names).
"""

from __future__ import annotations

import re

import pytest

from webhook.errors import PolicyError
from webhook.policy.loading import load_policies_text

WHERE = "policies.yaml:4: policies[0] (p)"
NAME_PART = (
    "name part must be at most 63 characters of alphanumerics, '-', '_' or '.',"
    " starting and ending with an alphanumeric"
)
LABEL_VALUE = "must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
EMPTY_KEY = (
    "must be Exists when key is empty (an empty key tolerates every taint; the operator defaults to Equal)"
)


def policy(placement: str, *, extra: str = "") -> str:
    return f"version: 1\npolicies:\n- name: p\n  placement: {placement}\n{extra}"


def problems_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_policies_text(text, source="policies.yaml")
    return raised.value.problems


def loads(placement: str) -> tuple[dict[str, object], ...]:
    (compiled,) = load_policies_text(policy(placement)).policies
    return compiled.tolerations


# ValidateTolerations: key is a qualified name when set; empty key needs Exists; Exists needs an
# empty value; Equal's value is a label value; tolerationSeconds only with NoExecute (an error
# upstream, not a warning: "effect must be 'NoExecute' when `tolerationSeconds` is set"); effect
# is one of three. The rules apply to the toleration as emitted: the operator defaults to Equal.
@pytest.mark.parametrize(
    ("toleration", "field", "message"),
    [
        ("{value: x, effect: NoSchedule}", "operator", EMPTY_KEY),  # issue 17 item 8: the default
        ("{effect: NoSchedule}", "operator", EMPTY_KEY),
        ("{value: x}", "operator", EMPTY_KEY),
        ("{}", "operator", EMPTY_KEY),
        ("{key: '', value: x}", "operator", EMPTY_KEY),
        ("{operator: Equal, value: x}", "operator", EMPTY_KEY),
        ("{key: a, operator: Exists, value: x}", "value", "must be empty when operator is Exists"),
        ("{operator: Exists, value: x}", "value", "must be empty when operator is Exists"),
        ("{key: a, value: 'a b'}", "value", LABEL_VALUE),
        ('{key: a, value: "gpu\\n"}', "value", LABEL_VALUE),
        ("{key: a, value: " + "v" * 64 + "}", "value", LABEL_VALUE),
        ('{key: "gpu\\n", operator: Exists}', "key", '"gpu\\n": ' + NAME_PART),
        ("{key: " + "k" * 64 + ", operator: Exists}", "key", f'"{"k" * 64}": {NAME_PART}'),
        ("{key: a, operator: Equl}", "operator", "must be Equal or Exists"),
        ("{key: a, operator: exists}", "operator", "must be Equal or Exists"),
        (
            "{key: a, operator: Exists, effect: NoSchedul}",
            "effect",
            "must be NoSchedule, PreferNoSchedule or NoExecute",
        ),
        (
            "{key: a, operator: Exists, effect: ''}",
            "effect",
            "must be NoSchedule, PreferNoSchedule or NoExecute",
        ),
        (
            "{key: a, operator: Exists, effect: NoSchedule, tolerationSeconds: 5}",
            "tolerationSeconds",
            "may only be set when effect is NoExecute",
        ),
        (
            "{key: a, operator: Exists, effect: PreferNoSchedule, tolerationSeconds: 0}",
            "tolerationSeconds",
            "may only be set when effect is NoExecute",
        ),
        (
            "{key: a, operator: Exists, tolerationSeconds: 5}",
            "tolerationSeconds",
            "may only be set when effect is NoExecute",
        ),
        (
            "{key: a, operator: Exists, effect: NoExecute, tolerationSeconds: 9223372036854775808}",
            "tolerationSeconds",
            "must be at most 9223372036854775807",
        ),
        (
            "{key: a, operator: Exists, effect: NoExecute, tolerationSeconds: 18446744073709551616}",
            "tolerationSeconds",
            "must be at most 9223372036854775807",
        ),
        (
            "{key: a, operator: Exists, effect: NoExecute, tolerationSeconds: -9223372036854775809}",
            "tolerationSeconds",
            "must be at least -9223372036854775808",
        ),
        (
            "{key: a, operator: Exists, effect: NoExecute, tolerationSeconds: 1.5}",
            "tolerationSeconds",
            "must be an integer",
        ),
        (
            "{key: a, operator: Exists, effect: NoExecute, tolerationSeconds: '5'}",
            "tolerationSeconds",
            "must be an integer",
        ),
    ],
)
def test_toleration_rules(toleration: str, field: str, message: str) -> None:
    problems = problems_of(policy(f"{{tolerations: [{toleration}]}}"))
    assert problems == [f"{WHERE}.placement.tolerations[0].{field}: {message}"]


def test_an_invalid_effect_does_not_also_blame_toleration_seconds() -> None:
    problems = problems_of(
        policy("{tolerations: [{key: a, operator: Exists, effect: Bad, tolerationSeconds: 5}]}")
    )
    assert problems == [
        f"{WHERE}.placement.tolerations[0].effect: must be NoSchedule, PreferNoSchedule or NoExecute"
    ]


@pytest.mark.parametrize(
    ("toleration", "emitted"),
    [
        # validation_test.go TestValidateTolerations successCases that the policy file can express
        (
            "{key: foo, operator: Exists, effect: NoSchedule}",
            {"key": "foo", "operator": "Exists", "effect": "NoSchedule"},
        ),
        (
            "{key: foo, operator: Equal, value: bar, effect: NoSchedule}",
            {"key": "foo", "operator": "Equal", "value": "bar", "effect": "NoSchedule"},
        ),
        (
            "{key: foo, value: bar}",
            {"key": "foo", "operator": "Equal", "value": "bar"},
        ),  # empty operator = Equal
        ("{operator: Exists}", {"operator": "Exists"}),  # empty key + Exists: tolerates everything
        ("{operator: Exists, effect: NoExecute}", {"operator": "Exists", "effect": "NoExecute"}),
        (
            "{key: foo, operator: Exists, effect: NoExecute, tolerationSeconds: 300}",
            {"key": "foo", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ),
        # a negative tolerationSeconds is valid API input: the node lifecycle controller evicts at once
        (
            "{key: foo, operator: Exists, effect: NoExecute, tolerationSeconds: -5}",
            {"key": "foo", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": -5},
        ),
        (
            "{key: foo, operator: Exists, effect: NoExecute, tolerationSeconds: 0}",
            {"key": "foo", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0},
        ),
        (
            "{key: foo, operator: Exists, effect: NoExecute, tolerationSeconds: 9223372036854775807}",
            {"key": "foo", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2**63 - 1},
        ),
        (
            "{key: foo, operator: Exists, effect: NoExecute, tolerationSeconds: -9223372036854775808}",
            {"key": "foo", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": -(2**63)},
        ),
        ("{key: foo, value: ''}", {"key": "foo", "operator": "Equal"}),  # Equal to the empty value
        (
            "{key: " + "k" * 63 + ", value: " + "v" * 63 + "}",
            {"key": "k" * 63, "operator": "Equal", "value": "v" * 63},
        ),
        (
            "{key: " + "p" * 253 + "/" + "k" * 63 + ", operator: Exists}",
            {"key": "p" * 253 + "/" + "k" * 63, "operator": "Exists"},
        ),
    ],
)
def test_valid_tolerations_are_emitted_as_written(toleration: str, emitted: dict[str, object]) -> None:
    assert loads(f"{{tolerations: [{toleration}]}}") == (emitted,)


def required(*exprs: str) -> str:
    return "{nodeAffinity: {required: [" + ", ".join(exprs) + "]}}"


SIGNED = "must be an integer without a sign when operator is {op} (every value must also be a valid label value, which cannot start with '+' or '-')"


# ValidateNodeSelectorRequirement: In/NotIn need values, Exists/DoesNotExist forbid them, Gt/Lt need
# exactly one, the key is a qualified name and every value a label value (so Gt/Lt values are
# unsigned: issue 17 item 2). We also require the Gt/Lt value to parse as an int64, which the API
# server leaves to the scheduler (a term that never parses would never match).
@pytest.mark.parametrize(
    ("expr", "field", "message"),
    [
        ("{key: a, operator: Gt, values: ['-5']}", "values", '"-5": ' + SIGNED.format(op="Gt")),
        ("{key: a, operator: Gt, values: ['+5']}", "values", '"+5": ' + SIGNED.format(op="Gt")),
        ("{key: a, operator: Lt, values: ['-0']}", "values", '"-0": ' + SIGNED.format(op="Lt")),
        (
            "{key: a, operator: Gt, values: ['1', '2']}",
            "values",
            "must be exactly one integer when operator is Gt",
        ),
        ("{key: a, operator: Lt, values: []}", "values", "must be exactly one integer when operator is Lt"),
        ("{key: a, operator: Lt}", "values", "must be exactly one integer when operator is Lt"),
        ("{key: a, operator: Gt, values: [x]}", "values", "must be exactly one integer when operator is Gt"),
        (
            '{key: a, operator: Gt, values: ["5\\n"]}',
            "values",
            "must be exactly one integer when operator is Gt",
        ),
        (
            "{key: a, operator: Gt, values: ['5_0']}",
            "values",
            "must be exactly one integer when operator is Gt",
        ),
        (
            "{key: a, operator: Gt, values: [' 5']}",
            "values",
            "must be exactly one integer when operator is Gt",
        ),
        (
            "{key: a, operator: Gt, values: ['9223372036854775808']}",
            "values",
            "must be exactly one integer when operator is Gt",
        ),
        (
            "{key: a, operator: Gt, values: ['" + "0" * 63 + "1']}",
            "values",
            f'"{"0" * 63}1": ' + SIGNED.format(op="Gt"),  # 64 characters: no label value
        ),
        ('{key: a, operator: In, values: ["gpu\\n"]}', "values[0]", '"gpu\\n": ' + LABEL_VALUE),
        (
            "{key: a, operator: NotIn, values: ['" + "v" * 64 + "']}",
            "values[0]",
            f'"{"v" * 64}": {LABEL_VALUE}',
        ),
        ("{key: a, operator: In, values: [a, '-b']}", "values[1]", '"-b": ' + LABEL_VALUE),
        ("{key: a, operator: In}", "values", "must be non-empty when operator is In"),
        ("{key: a, operator: NotIn, values: []}", "values", "must be non-empty when operator is NotIn"),
        ("{key: a, operator: Exists, values: [a]}", "values", "must be empty when operator is Exists"),
        (
            "{key: a, operator: DoesNotExist, values: ['']}",
            "values",
            "must be empty when operator is DoesNotExist",
        ),
        (
            "{key: a, operator: Near, values: ['1']}",
            "operator",
            "must be In, NotIn, Exists, DoesNotExist, Gt or Lt",
        ),
        (
            "{key: a, operator: gt, values: ['1']}",
            "operator",
            "must be In, NotIn, Exists, DoesNotExist, Gt or Lt",
        ),
        ('{key: "pool\\n", operator: Exists}', "key", '"pool\\n": ' + NAME_PART),
        ("{key: '', operator: Exists}", "key", '"": ' + NAME_PART),
        (
            "{key: '" + "p" * 254 + "/a', operator: Exists}",
            "key",
            f'"{"p" * 254}/a": prefix must be a lowercase DNS subdomain of at most 253 characters',
        ),
    ],
)
def test_node_selector_requirement_rules(expr: str, field: str, message: str) -> None:
    problems = problems_of(policy(required(expr)))
    assert problems == [f"{WHERE}.placement.nodeAffinity.required[0].{field}: {message}"]


@pytest.mark.parametrize(
    ("expr", "emitted"),
    [
        ("{key: a, operator: Gt, values: ['007']}", {"key": "a", "operator": "Gt", "values": ["007"]}),
        ("{key: a, operator: Lt, values: ['0']}", None),  # valid but unsatisfiable: see below
        (
            "{key: a, operator: Lt, values: ['9223372036854775807']}",
            {"key": "a", "operator": "Lt", "values": ["9223372036854775807"]},
        ),
        (
            "{key: a, operator: Gt, values: ['" + "0" * 62 + "1']}",
            {"key": "a", "operator": "Gt", "values": ["0" * 62 + "1"]},
        ),
        ("{key: a, operator: In, values: ['']}", {"key": "a", "operator": "In", "values": [""]}),
        (
            "{key: a, operator: In, values: ['" + "v" * 63 + "']}",
            {"key": "a", "operator": "In", "values": ["v" * 63]},
        ),
    ],
)
def test_valid_requirements_are_emitted_as_written(expr: str, emitted: dict[str, object] | None) -> None:
    text = policy(required(expr))
    if emitted is None:
        assert problems_of(text) == [f"{WHERE}.placement: no node label value can satisfy every rule on a"]
        return
    (compiled,) = load_policies_text(text).policies
    assert compiled.required == (emitted,)


def test_preferred_terms_follow_the_same_rules() -> None:
    problems = problems_of(
        policy(
            "{nodeAffinity: {preferred: [{weight: 1, matchExpressions: [{key: a, operator: Gt, values: ['-1']}]}]}}"
        )
    )
    assert problems == [
        f'{WHERE}.placement.nodeAffinity.preferred[0].matchExpressions[0].values: "-1": '
        + SIGNED.format(op="Gt")
    ]


# Satisfiability at load (issue 17 item 10): exact, so no false conflict and no missed one.
@pytest.mark.parametrize(
    ("exprs", "unsatisfiable"),
    [
        (
            [
                "{key: n, operator: Gt, values: ['6']}",
                "{key: n, operator: Lt, values: ['8']}",
                "{key: n, operator: NotIn, values: ['7']}",
            ],
            False,  # "07" is a node label value ParseInt reads as 7
        ),
        (["{key: n, operator: Gt, values: ['9223372036854775807']}"], True),
        (["{key: n, operator: Gt, values: ['5']}", "{key: n, operator: Lt, values: ['6']}"], True),
        (["{key: n, operator: Lt, values: ['0']}"], True),  # a label value has no sign
        (["{key: n, operator: Exists}", "{key: n, operator: DoesNotExist}"], True),
        (["{key: n, operator: NotIn, values: [a]}", "{key: n, operator: DoesNotExist}"], False),
        (["{key: n, operator: In, values: ['07']}", "{key: n, operator: Gt, values: ['6']}"], False),
    ],
)
def test_satisfiability_at_load(exprs: list[str], unsatisfiable: bool) -> None:
    text = policy(required(*exprs))
    if unsatisfiable:
        assert problems_of(text) == [f"{WHERE}.placement: no node label value can satisfy every rule on n"]
    else:
        assert len(load_policies_text(text)) == 1


@pytest.mark.parametrize(
    ("placement", "field"),
    [
        ("{node_selector: {a: b}}", "placement.node_selector"),
        ("{node_affinity: {required: [{key: a, operator: Exists}]}}", "placement.node_affinity"),
        (
            "{tolerations: [{key: a, operator: Exists, effect: NoExecute, toleration_seconds: 5}]}",
            "placement.tolerations[0].toleration_seconds",
        ),
        (
            "{nodeAffinity: {preferred: [{weight: 1, match_expressions: [{key: a, operator: Exists}]}]}}",
            "placement.nodeAffinity.preferred[0].match_expressions",
        ),
    ],
)
def test_snake_case_placement_fields_are_unknown(placement: str, field: str) -> None:
    # issue 17 item 9: the schema only knows camelCase; populate_by_name let these load
    problems = problems_of(policy(placement))
    suggestion = camel_case(field.rsplit(".", 1)[-1])
    assert (
        f"{WHERE}.{field}: unknown field; did you mean {suggestion}? (see `placement-webhook schema`)"
        in problems
    )


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("  on_conflict: deny\n", "on_conflict"),
        ("  match: {server_types: [mlserver]}\n", "match.server_types"),
        ("  match: {pod_selector: {}}\n", "match.pod_selector"),
        ("  match: {podSelector: {match_labels: {a: b}}}\n", "match.podSelector.match_labels"),
        ("  match: {podSelector: {match_expressions: []}}\n", "match.podSelector.match_expressions"),
    ],
)
def test_snake_case_policy_fields_are_unknown(extra: str, field: str) -> None:
    problems = problems_of(policy("{tolerations: [{key: a, operator: Exists}]}", extra=extra))
    suggestion = camel_case(field.rsplit(".", 1)[-1])
    assert problems == [
        f"policies.yaml:5: policies[0] (p).{field}: unknown field; did you mean {suggestion}?"
        " (see `placement-webhook schema`)"
    ]


def camel_case(name: str) -> str:
    """The camelCase field a snake_case one misspells: what "did you mean" names."""
    return re.sub(r"_(.)", lambda m: m[1].upper(), name)


def test_camel_case_names_still_load() -> None:
    text = policy(
        "{tolerations: [{key: a, operator: Exists, effect: NoExecute, tolerationSeconds: 5}],"
        " nodeSelector: {a: b}, nodeAffinity: {preferred: [{weight: 1, matchExpressions: [{key: c, operator: Exists}]}]}}",
        extra="  onConflict: deny\n  match: {serverTypes: [mlserver], podSelector: {matchLabels: {t: x}, matchExpressions: []}}\n",
    )
    (compiled,) = load_policies_text(text).policies
    assert compiled.policy.on_conflict == "deny"
    assert compiled.node_selector == {"a": "b"}
