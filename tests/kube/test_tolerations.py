"""Toleration coverage, pinned to the table of kubernetes ``pkg/util/tolerations/tolerations_test.go``."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.kube.tolerations import (
    describe_toleration,
    is_decimal_integer,
    missing_tolerations,
    tolerates_superset,
)

T: dict[str, dict[str, Any]] = {
    "all": {"operator": "Exists"},
    "all-nosched": {"operator": "Exists", "effect": "NoSchedule"},
    "all-noexec": {"operator": "Exists", "effect": "NoExecute"},
    "foo": {"key": "foo", "operator": "Exists"},
    "foo-bar": {"key": "foo", "operator": "Equal", "value": "bar"},
    "foo-nosched": {"key": "foo", "operator": "Exists", "effect": "NoSchedule"},
    "foo-bar-nosched": {"key": "foo", "operator": "Equal", "value": "bar", "effect": "NoSchedule"},
    "foo-baz-nosched": {"key": "foo", "operator": "Equal", "value": "baz", "effect": "NoSchedule"},
    "faz-nosched": {"key": "faz", "operator": "Exists", "effect": "NoSchedule"},
    "faz-baz-nosched": {"key": "faz", "operator": "Equal", "value": "baz", "effect": "NoSchedule"},
    "foo-prefnosched": {"key": "foo", "operator": "Exists", "effect": "PreferNoSchedule"},
    "foo-noexec": {"key": "foo", "operator": "Exists", "effect": "NoExecute"},
    "foo-bar-noexec": {"key": "foo", "operator": "Equal", "value": "bar", "effect": "NoExecute"},
    "foo-noexec-10": {"key": "foo", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10},
    "foo-noexec-0": {"key": "foo", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0},
    "foo-bar-noexec-10": {
        "key": "foo",
        "operator": "Equal",
        "value": "bar",
        "effect": "NoExecute",
        "tolerationSeconds": 10,
    },
}

SUPERSETS = {
    "all": [n for n in T if n != "all"],
    "all-nosched": ["foo-nosched", "foo-bar-nosched", "foo-baz-nosched", "faz-nosched", "faz-baz-nosched"],
    "all-noexec": ["foo-noexec", "foo-bar-noexec", "foo-noexec-10", "foo-noexec-0", "foo-bar-noexec-10"],
    "foo": [
        "foo-bar",
        "foo-nosched",
        "foo-bar-nosched",
        "foo-baz-nosched",
        "foo-prefnosched",
        "foo-noexec",
        "foo-bar-noexec",
        "foo-noexec-10",
        "foo-noexec-0",
        "foo-bar-noexec-10",
    ],
    "foo-bar": ["foo-bar-nosched", "foo-bar-noexec", "foo-bar-noexec-10"],
    "foo-nosched": ["foo-bar-nosched", "foo-baz-nosched"],
    "foo-bar-nosched": [],
    "faz-nosched": ["faz-baz-nosched"],
    "faz-baz-nosched": [],
    "foo-prefnosched": [],
    "foo-noexec": ["foo-bar-noexec", "foo-noexec-10", "foo-noexec-0", "foo-bar-noexec-10"],
    "foo-bar-noexec": ["foo-bar-noexec-10"],
    "foo-noexec-10": ["foo-noexec-0", "foo-bar-noexec-10"],
    "foo-noexec-0": [],
    "foo-bar-noexec-10": [],
}


@pytest.mark.parametrize("have", list(SUPERSETS))
def test_is_superset_matches_upstream_table(have: str) -> None:
    for want in T:
        expected = want == have or want in SUPERSETS[have]
        assert tolerates_superset(T[have], T[want]) is expected, f"{have} ⊇ {want} should be {expected}"


def test_empty_operator_means_equal_on_the_covering_side() -> None:
    assert tolerates_superset({"key": "foo", "value": "bar"}, T["foo-bar-nosched"])
    assert not tolerates_superset({"key": "foo", "value": "bar"}, T["foo-baz-nosched"])


def test_odd_types_never_cover_and_never_crash() -> None:
    odd = {"key": "foo", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": "ten"}
    assert not tolerates_superset(odd, T["foo-noexec-10"])
    assert missing_tolerations(["not-a-dict", None], [T["foo-bar"]]) == [T["foo-bar"]]


@pytest.mark.parametrize(
    ("existing", "wanted", "added"),
    [
        ([], ["foo-bar-nosched"], ["foo-bar-nosched"]),
        (["foo-bar-nosched"], ["foo-bar-nosched"], []),  # identical: skipped
        (["foo"], ["foo-bar-nosched"], []),  # covered by Exists on the key
        (["all"], ["foo-bar-nosched", "faz-nosched"], []),  # empty key + Exists covers all
        (["foo-bar-noexec"], ["foo-bar-nosched"], ["foo-bar-nosched"]),  # other effect
        (["foo-noexec-0"], ["foo-noexec-10"], ["foo-noexec-10"]),  # shorter tolerationSeconds
        ([], ["foo-nosched", "foo-bar-nosched"], ["foo-nosched"]),  # covered by one added before
        ([], ["foo-bar-nosched", "foo-nosched"], ["foo-bar-nosched", "foo-nosched"]),  # never removed
    ],
)
def test_missing_tolerations(existing: list[str], wanted: list[str], added: list[str]) -> None:
    assert missing_tolerations([T[n] for n in existing], [T[n] for n in wanted]) == [T[n] for n in added]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("foo-bar-nosched", "foo=bar:NoSchedule"),
        ("foo-noexec-10", "foo:NoExecute for 10s"),
        ("all", "*"),
        ("foo-bar", "foo=bar"),
    ],
)
def test_describe_toleration(name: str, text: str) -> None:
    assert describe_toleration(T[name]) == text


def test_describe_an_equal_toleration_without_value() -> None:
    assert describe_toleration({"key": "k", "operator": "Equal", "effect": "NoSchedule"}) == "k=:NoSchedule"
    assert describe_toleration({"key": "k", "effect": "NoSchedule"}) == "k=:NoSchedule"


# kubernetes pkg/util/tolerations tolerations_test.go TestMergeTolerations. MergeTolerations drops
# tolerations that a later one covers; we never remove or reorder what the Pod has, we only append
# what is not covered yet (docs/upstream.md), so "merge redundant" and "merge all" differ.
@pytest.mark.parametrize(
    ("existing", "wanted", "upstream", "ours"),
    [
        (
            ["foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10"],
            ["foo-prefnosched", "foo-baz-nosched"],
            ["foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10", "foo-prefnosched", "foo-baz-nosched"],
            ["foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10", "foo-prefnosched", "foo-baz-nosched"],
        ),  # disjoint
        (
            ["foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10"],
            ["foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10"],
            ["foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10"],
            ["foo-bar-nosched", "faz-baz-nosched", "foo-noexec-10"],
        ),  # duplicate
        (
            ["foo-bar-nosched", "foo-baz-nosched"],
            ["foo-nosched", "faz-baz-nosched"],
            ["foo-nosched", "faz-baz-nosched"],
            ["foo-bar-nosched", "foo-baz-nosched", "foo-nosched", "faz-baz-nosched"],
        ),  # merge redundant
        (
            ["foo-bar-nosched", "foo-baz-nosched", "foo-noexec-10"],
            ["all"],
            ["all"],
            ["foo-bar-nosched", "foo-baz-nosched", "foo-noexec-10", "all"],
        ),  # merge all
        (
            ["all"],
            ["foo-bar-nosched", "foo-baz-nosched", "foo-noexec-10"],
            ["all"],
            ["all"],
        ),  # merge into all
    ],
)
def test_merge_tolerations_upstream_table(
    existing: list[str], wanted: list[str], upstream: list[str], ours: list[str]
) -> None:
    result = [T[n] for n in existing] + missing_tolerations([T[n] for n in existing], [T[n] for n in wanted])
    assert result == [T[n] for n in ours]
    # what both agree on: every upstream result toleration is covered by ours
    assert all(any(tolerates_superset(have, T[n]) for have in result) for n in upstream)


_GEN_EFFECTS = ["", "NoExecute", "NoSchedule", "PreferNoSchedule"]


@st.composite
def fuzzed_tolerations(draw: st.DrawFn) -> dict[str, Any]:
    """TestFuzzed's genToleration: a small key/value space to encourage collisions."""
    if draw(st.integers(0, 99)) == 0:
        return dict(T["all"])
    toleration: dict[str, Any] = {"key": "a" * draw(st.integers(1, 6))}
    effect = draw(st.sampled_from(_GEN_EFFECTS))
    if draw(st.booleans()):
        toleration["operator"] = "Exists"
    else:
        toleration["operator"] = "Equal"
        toleration["value"] = "b" * draw(st.integers(1, 6))
    if effect:
        toleration["effect"] = effect
    if effect == "NoExecute" and draw(st.booleans()):
        toleration["tolerationSeconds"] = draw(st.integers(0, 9))
    return toleration


# tolerations_test.go TestFuzzed "MergeTolerations": every input toleration is contained in the result
@settings(max_examples=500, deadline=None)
@given(
    a=st.lists(fuzzed_tolerations(), max_size=9),
    b=st.lists(fuzzed_tolerations(), max_size=9),
)
def test_fuzzed_every_toleration_stays_covered(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    result = a + missing_tolerations(a, b)
    assert result[: len(a)] == a  # never removed or reordered
    for toleration in a + b:
        assert any(tolerates_superset(have, toleration) for have in result)


# isSuperset's edges the table above does not reach, with the upstream line each pins
@pytest.mark.parametrize(
    ("have", "want", "covers"),
    [
        # "case TolerationOpEqual, \"\": return t.Operator == Equal && t.Value == ss.Value"
        ({"key": "foo", "operator": "Equal", "value": "bar"}, {"key": "foo", "operator": "Exists"}, False),
        ({"key": "foo", "operator": "Exists"}, {"key": "foo", "operator": "Equal", "value": "bar"}, True),
        ({"key": "foo", "operator": "Equal", "value": "bar"}, {"key": "foo", "value": "bar"}, False),
        ({"key": "foo", "value": "bar"}, {"key": "foo", "value": "bar"}, True),  # DeepEqual first
        ({"key": "foo", "operator": "Equal"}, {"key": "foo", "operator": "Equal", "value": ""}, True),
        # unknown operators cover nothing but themselves
        ({"key": "foo", "operator": "Bogus"}, {"key": "foo", "operator": "Equal", "value": "bar"}, False),
        ({"key": "foo", "operator": "Bogus"}, {"key": "foo", "operator": "Bogus"}, True),
        (
            {"key": "", "operator": "Equal"},
            {"key": "foo", "operator": "Equal"},
            False,
        ),  # empty key needs Exists
        # tolerationSeconds only counts when the covering toleration's effect is NoExecute
        (
            {"key": "foo", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5},
            {"key": "foo", "operator": "Exists", "effect": "NoSchedule"},
            True,
        ),
        ({"key": "foo", "operator": "Exists", "tolerationSeconds": 5}, T["foo-noexec-10"], True),
        (T["foo-noexec-10"], {**T["foo-noexec-10"], "tolerationSeconds": 10}, True),
        (T["foo-noexec-10"], {**T["foo-noexec-10"], "tolerationSeconds": 11}, False),
        (T["foo-noexec-10"], T["foo-noexec"], False),  # forever is longer than 10 s
        (T["foo-noexec-10"], {**T["foo-noexec-10"], "tolerationSeconds": -(2**63)}, True),
        (
            {**T["foo-noexec"], "tolerationSeconds": 2**63 - 1},
            {**T["foo-noexec"], "tolerationSeconds": 2**63 - 1},
            True,
        ),
        ({**T["foo-noexec"], "tolerationSeconds": -1}, {**T["foo-noexec"], "tolerationSeconds": 0}, False),
    ],
)
def test_is_superset_edges(have: dict[str, Any], want: dict[str, Any], covers: bool) -> None:
    assert tolerates_superset(have, want) is covers


@pytest.mark.parametrize("char", sorted(set(string.printable) - set(string.digits)))
def test_a_decimal_integer_has_no_other_character_anywhere(char: str) -> None:
    assert not is_decimal_integer(f"1{char}2")
    assert not is_decimal_integer(f"1{char}")
    if char != "-":  # "-1" is one
        assert not is_decimal_integer(f"{char}1")
