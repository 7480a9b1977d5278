"""Why the scheduler refuses a preferred term, message by message (docs/mutation.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import minimal_pod
from webhook.simulation.scheduling import preferred_terms_error


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
