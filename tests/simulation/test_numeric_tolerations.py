"""Numeric toleration operators (``Lt``/``Gt``), ported case by case from upstream Go tables.

Simulate models the alpha feature gate ``TaintTolerationComparisonOperators`` as on (it is off by
default through Kubernetes 1.37; with it off the API server refuses such tolerations anyway).
"""

from __future__ import annotations

from typing import Any

import pytest

from webhook.simulation.scheduling import canonical_int64, is_decimal_integer, tolerates_taint

INT64_MAX, INT64_MIN = "9223372036854775807", "-9223372036854775808"


# k8s.io/apimachinery pkg/api/validate/content/decimal_int_test.go, TestIsDecimalInteger
DECIMAL_VALID = [
    "0", "1", "2", "5", "9", "-5", "-1", "-9",
    "100", "234", "345", "456", "567", "678", "789", "890", "999",
    "123", "-456", "-100", "-987", INT64_MAX, INT64_MIN, "12345678901234567890", "999999999999",
]  # fmt: skip
DECIMAL_INVALID = [
    "-0", "00", "000", "0000000", "01", "02", "09", "0123", "0700", "0950", "00123", "-01", "-0123",
    "-00", "+123", "+5", "+0",
    "", "-", "+", " ", "   ", " 123", "123 ", "12 3", " 123 ",
    "12.3", "0.0", "-12.5", "123.", ".123",
    "abc", "12a3", "a123", "123a", "ABC", "12A3",
    "0x123", "0X123", "0o777", "0b101", "1e5", "1e-5", "1E5",
    "1_000", "1,000", "1.000", "1'000",
    "--123", "++123", "+-123", "-+123", "123-", "12-3", "123+", "12+3",
    "\t123", "123\t", "123\n", "123\r", "123\x00", "123\v", "123\f",
    "(123)", "[123]", "{123}", "$123", "123%", "#123", "@123", "&123", "*123", "12/3", "12\\3",
    "12|3", "12;3", "12:3", "12?3", "12!3", "~123", "`123", "'123'", '"123"',
    "\u2212123", "\uff11\uff12\uff13", "\u0661\u0662\u0663", "\u4e00\u4e8c\u4e09", "123\u2074", "123\u2084",
]  # fmt: skip


@pytest.mark.parametrize("value", DECIMAL_VALID)
def test_is_decimal_integer_accepts(value: str) -> None:
    assert is_decimal_integer(value)


@pytest.mark.parametrize("value", DECIMAL_INVALID)
def test_is_decimal_integer_refuses(value: str) -> None:
    assert not is_decimal_integer(value)


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("0", 0),
        ("-1", -1),
        (INT64_MAX, 2**63 - 1),
        (INT64_MIN, -(2**63)),
        ("9223372036854775808", None),  # canonical, but ParseInt overflows int64
        ("-9223372036854775809", None),
        ("12345678901234567890", None),
        ("0950", None),  # ParseInt would read 950; IsDecimalInteger refuses it first
        ("+5", None),
        ("-0", None),
    ],
)
def test_canonical_int64_is_is_decimal_integer_then_parse_int(value: str, number: int | None) -> None:
    assert canonical_int64(value) == number


def _tol(operator: str, value: str, key: str = "node.kubernetes.io/sla") -> dict[str, Any]:
    return {"key": key, "operator": operator, "value": value, "effect": "NoSchedule"}


def _taint(value: str, key: str = "node.kubernetes.io/sla") -> dict[str, Any]:
    return {"key": key, "value": value, "effect": "NoSchedule"}


# k8s.io/api core/v1/toleration_test.go, TestTolerationToleratesTaint (the Gt/Lt rows, gate on)
@pytest.mark.parametrize(
    ("toleration", "taint_", "expected"),
    [
        (_tol("Gt", "950"), _taint("800"), False),
        (_tol("Gt", "750"), _taint("950"), True),
        (_tol("Lt", "800"), _taint("950"), False),
        (_tol("Lt", "950"), _taint("800"), True),
        (_tol("Gt", "950"), _taint("950"), False),
        (_tol("Gt", "950"), _taint("high"), False),
        (_tol("Gt", "-100", "test-key"), _taint("-200", "test-key"), False),
        (_tol("Gt", "9223372036854775806", "test-key"), _taint("100", "test-key"), False),
    ],
)
def test_tolerates_taint_numeric_rows(
    toleration: dict[str, Any], taint_: dict[str, Any], expected: bool
) -> None:
    assert tolerates_taint(toleration, taint_) is expected


# k8s.io/api core/v1/toleration_test.go, TestCompareNumericValues (toleration value, taint value)
@pytest.mark.parametrize(
    ("operator", "toleration_value", "taint_value", "expected"),
    [
        ("Gt", "100", "200", True),
        ("Gt", "200", "100", False),
        ("Gt", "100", "100", False),
        ("Gt", "-100", "-50", True),
        ("Gt", "-50", "-100", False),
        ("Gt", "0", "1", True),
        ("Gt", "9223372036854775806", INT64_MAX, True),
        ("Lt", "200", "100", True),
        ("Lt", "100", "200", False),
        ("Lt", "100", "100", False),
        ("Lt", "-50", "-100", True),
        ("Lt", "-100", "-50", False),
        ("Lt", "0", "-1", True),
        # invalid toleration values
        ("Gt", "abc", "100", False),
        ("Gt", "", "100", False),
        ("Gt", "0100", "200", False),
        ("Gt", "+100", "200", False),
        ("Gt", "100.5", "200", False),
        ("Gt", "-", "100", False),
        # invalid taint values
        ("Gt", "100", "xyz", False),
        ("Gt", "100", "", False),
        ("Gt", "100", "0200", False),
        ("Lt", "100", "+200", False),
        ("Lt", "100", " 200 ", False),
        # zero and the int64 bounds
        ("Gt", "0", "0", False),
        ("Lt", "0", "0", False),
        ("Gt", "0", INT64_MAX, True),
        ("Lt", "0", INT64_MIN, True),
        # ours: beyond the table, what the issue and the two parse steps imply
        ("Gt", "900", "0950", False),  # the case: a leading zero on the taint side
        ("Lt", "0950", "900", False),
        ("Gt", "-1", "-0", False),
        ("Lt", "1", "-0", False),
        ("Lt", "0", "-1\n", False),  # Go's parse has no trailing-newline slack
        ("Gt", "0", "9223372036854775808", False),  # out of int64: ParseInt fails
        ("Lt", "-9223372036854775809", "0", False),
        ("Lt", INT64_MAX, INT64_MIN, True),
    ],
)
def test_compare_numeric_values(
    operator: str, toleration_value: str, taint_value: str, expected: bool
) -> None:
    assert tolerates_taint(_tol(operator, toleration_value), _taint(taint_value)) is expected


# TestCompareNumericValues' "Equal/Exists are not numeric" rows, seen through ToleratesTaint
@pytest.mark.parametrize(("operator", "expected"), [("Equal", True), ("Exists", True), ("gt", False)])
def test_other_operators_do_not_compare_numbers(operator: str, expected: bool) -> None:
    assert tolerates_taint(_tol(operator, "100"), _taint("100")) is expected
