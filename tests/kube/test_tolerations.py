"""Toleration coverage, pinned to the table of kubernetes ``pkg/util/tolerations/tolerations_test.go``."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.kube.tolerations import describe_toleration, missing_tolerations, tolerates_superset

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
