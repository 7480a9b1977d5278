"""Label key/value validation and requirement semantics, pinned to apimachinery's behaviour."""

from __future__ import annotations

import pytest

from webhook.kube.selectors import (
    dns_label_error,
    label_selector_matches,
    label_value_error,
    parse_int64,
    qualified_name_error,
    requirement_matches,
    requirements_satisfiable,
)


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("pool", True),
        ("nvidia.com/gpu.product", True),
        ("cloud.google.com/gke-accelerator", True),
        ("a_b.c-d", True),
        ("x" * 63, True),
        ("x" * 64, False),
        ("-pool", False),
        ("pool-", False),
        ("", False),
        ("Example.com/x", False),  # prefix must be lowercase
        ("a/b/c", False),
        ("/name", False),
        ("pool~x", False),
        ("sub." * 70 + "com/x", False),  # prefix over 253 characters
    ],
)
def test_qualified_name(key: str, valid: bool) -> None:
    assert (qualified_name_error(key) is None) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("", True), ("true", True), ("A100-SXM4-40GB", True), ("a b", False), ("-x", False), ("x" * 64, False)],
)
def test_label_value(value: str, valid: bool) -> None:
    assert (label_value_error(value) is None) is valid


@pytest.mark.parametrize(
    ("name", "valid"), [("gpu-servers", True), ("Gpu", False), ("a_b", False), ("-a", False)]
)
def test_dns_label(name: str, valid: bool) -> None:
    assert (dns_label_error(name) is None) is valid


@pytest.mark.parametrize(
    ("text", "number"),
    [("5", 5), ("-3", -3), ("+7", 7), ("007", 7), ("1.5", None), ("", None), ("9223372036854775808", None)],
)
def test_parse_int64_like_go(text: str, number: int | None) -> None:
    assert parse_int64(text) == number


@pytest.mark.parametrize(
    ("operator", "values", "label", "matches"),
    [
        ("In", ["a", "b"], "a", True),
        ("In", ["a"], "c", False),
        ("In", ["a"], None, False),
        ("NotIn", ["a"], "b", True),
        ("NotIn", ["a"], None, True),  # an absent label is "not in"
        ("NotIn", ["a"], "a", False),
        ("Exists", [], "", True),
        ("Exists", [], None, False),
        ("DoesNotExist", [], None, True),
        ("DoesNotExist", [], "x", False),
        ("Gt", ["3"], "4", True),
        ("Gt", ["3"], "3", False),
        ("Gt", ["3"], "four", False),  # unparsable label values never match
        ("Gt", ["3"], None, False),
        ("Lt", ["3"], "2", True),
        ("Lt", ["3"], "3", False),
        ("Bogus", ["3"], "3", False),
    ],
)
def test_requirement_matches(operator: str, values: list[str], label: str | None, matches: bool) -> None:
    assert requirement_matches(operator, values, label) is matches


def test_label_selector_semantics() -> None:
    labels = {"team": "nlp", "tier": "critical"}
    assert label_selector_matches({}, labels)  # empty selects everything
    assert label_selector_matches({"matchLabels": {"team": "nlp"}}, labels)
    assert not label_selector_matches({"matchLabels": {"team": "cv"}}, labels)
    expr = {"key": "tier", "operator": "In", "values": ["critical"]}
    assert label_selector_matches({"matchLabels": {"team": "nlp"}, "matchExpressions": [expr]}, labels)
    assert not label_selector_matches(
        {"matchLabels": {"team": "nlp"}, "matchExpressions": [expr]}, {"team": "nlp"}
    )


@pytest.mark.parametrize(
    ("requirements", "satisfiable"),
    [
        ([("In", ("a", "b")), ("In", ("b", "c"))], True),
        ([("In", ("a",)), ("In", ("b",))], False),  # disjoint In sets
        ([("In", ("a", "b")), ("NotIn", ("a", "b"))], False),  # NotIn covers the In set
        ([("In", ("a", "b")), ("NotIn", ("a",))], True),
        ([("Exists", ()), ("DoesNotExist", ())], False),
        ([("In", ("a",)), ("DoesNotExist", ())], False),
        ([("NotIn", ("a",)), ("DoesNotExist", ())], True),
        ([("Gt", ("5",)), ("Lt", ("6",))], False),  # empty integer range
        ([("Gt", ("5",)), ("Lt", ("7",))], True),
        ([("Gt", ("5",)), ("Lt", ("7",)), ("NotIn", ("6",))], False),
        ([("Gt", ("5",)), ("In", ("4", "9"))], True),
        ([("Gt", ("5",)), ("In", ("4", "x"))], False),
        ([("Lt", ("0",))], False),  # label values cannot be negative numbers
        ([("Gt", ("1",)), ("DoesNotExist", ())], False),
        ([("NotIn", tuple(f"v{i}" for i in range(5)))], True),
        ([("Exists", ()), ("NotIn", ("a",))], True),
    ],
)
def test_requirements_satisfiable(requirements: list[tuple[str, tuple[str, ...]]], satisfiable: bool) -> None:
    assert requirements_satisfiable(requirements) is satisfiable
