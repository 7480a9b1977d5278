"""Selector boundaries mutation testing found unpinned (docs/mutation.md): 63/253 limits, Gt/Lt windows."""

from __future__ import annotations

import pytest

from webhook.kube.selectors import (
    Requirement,
    dns_label_error,
    dns_subdomain_error,
    label_value_error,
    qualified_name_error,
    requirement_matches,
    requirements_satisfiable,
)

NAME_MESSAGE = (
    "name part must be at most 63 characters of alphanumerics, '-', '_' or '.',"
    " starting and ending with an alphanumeric"
)
PREFIX_MESSAGE = "prefix must be a lowercase DNS subdomain of at most 253 characters"
QUALIFIED_MESSAGE = "must be a qualified name: an optional DNS subdomain prefix and '/', then a name"
VALUE_MESSAGE = "must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
DNS_LABEL_MESSAGE = "must be a lowercase RFC 1123 label: a-z, 0-9 and '-', at most 63 characters"
SUBDOMAIN_MESSAGE = "must be a lowercase RFC 1123 subdomain: a-z, 0-9, '-' and '.', at most 253 characters"

# a subdomain of exactly 253 characters: 3 labels of 63 and one of 61, joined by dots
SUBDOMAIN_253 = ".".join(["a" * 63] * 3 + ["b" * 61])


def test_the_subdomain_fixture_is_253_characters() -> None:
    assert len(SUBDOMAIN_253) == 253


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("a" * 63, None),
        ("a" * 64, NAME_MESSAGE),
        (f"{SUBDOMAIN_253}/gpu", None),
        (f"{SUBDOMAIN_253}b/gpu", PREFIX_MESSAGE),
        ("/gpu", PREFIX_MESSAGE),
        ("Example.com/gpu", PREFIX_MESSAGE),
        ("a/b/c", QUALIFIED_MESSAGE),
        ("example.com/", NAME_MESSAGE),
        ("", NAME_MESSAGE),
        ("-a", NAME_MESSAGE),
    ],
)
def test_qualified_name_messages_and_limits(key: str, error: str | None) -> None:
    assert qualified_name_error(key) == error


@pytest.mark.parametrize(
    ("value", "error"),
    [("", None), ("a" * 63, None), ("a" * 64, VALUE_MESSAGE), ("0" * 63, None), ("a b", VALUE_MESSAGE)],
)
def test_label_value_messages_and_limits(value: str, error: str | None) -> None:
    assert label_value_error(value) == error


@pytest.mark.parametrize(
    ("value", "error"),
    [("a" * 63, None), ("a" * 64, DNS_LABEL_MESSAGE), ("A", DNS_LABEL_MESSAGE), ("", DNS_LABEL_MESSAGE)],
)
def test_dns_label_messages_and_limits(value: str, error: str | None) -> None:
    assert dns_label_error(value) == error


@pytest.mark.parametrize(
    ("value", "error"),
    [(SUBDOMAIN_253, None), (SUBDOMAIN_253 + "b", SUBDOMAIN_MESSAGE), ("a..b", SUBDOMAIN_MESSAGE)],
)
def test_dns_subdomain_messages_and_limits(value: str, error: str | None) -> None:
    assert dns_subdomain_error(value) == error


@pytest.mark.parametrize(
    ("operator", "values", "label", "matches"),
    [
        ("Gt", ["1", "2"], "5", False),  # Gt/Lt need exactly one value
        ("Lt", ["9", "10"], "5", False),
        ("Gt", [], "5", False),
        ("Gt", ["x"], "5", False),
        ("Gt", ["4"], "x", False),
        ("Gt", ["4"], None, False),
        ("Gt", ["4"], "5", True),
        ("Gt", ["5"], "5", False),
        ("Lt", ["5"], "4", True),
        ("Lt", ["5"], "5", False),
        ("Unknown", ["5"], "5", False),  # an unknown operator matches nothing
        ("in", ["5"], "5", False),
    ],
)
def test_requirement_matches_edges(
    operator: str, values: list[str], label: str | None, matches: bool
) -> None:
    assert requirement_matches(operator, values, label) is matches


@pytest.mark.parametrize(
    ("requirements", "satisfiable"),
    [
        # a requirement that is not Gt/Lt before the numeric ones does not end the window early
        ([("NotIn", ("x",)), ("Gt", ("5",))], True),
        ([("Exists", ()), ("Gt", ("5",)), ("Lt", ("7",))], True),
        ([("Exists", ()), ("Gt", ("5",)), ("Lt", ("6",))], False),
        ([("DoesNotExist", ()), ("Gt", ("5",))], False),
        ([("Gt", ("5", "6"))], False),
        ([("Lt", ())], False),
        ([("Gt", ("9223372036854775806",))], True),
        ([("Gt", ("9223372036854775807",))], False),
        ([("Lt", ("0",))], False),
        ([("Lt", ("1",))], True),
        ([("Gt", ("-9223372036854775808",)), ("Lt", ("1",))], True),
        ([("Unknown", ("a",))], False),
        ([("NotIn", ("v0", "v1"))], True),
    ],
)
def test_requirements_satisfiable_edges(requirements: list[Requirement], satisfiable: bool) -> None:
    assert requirements_satisfiable(requirements) is satisfiable
