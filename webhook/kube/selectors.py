"""Label keys, label values and selector requirements with the API server's own rules.

Validation follows ``k8s.io/apimachinery/pkg/util/validation`` (``IsQualifiedName``,
``IsValidLabelValue``); matching follows ``k8s.io/apimachinery/pkg/labels`` (``Requirement.Matches``)
as used by ``k8s.io/component-helpers/scheduling/corev1/nodeaffinity``; satisfiability answers
"is there any node label value that meets all these requirements on one key", which is what a
placement conflict is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_NAME_RE = re.compile(rf"^{_NAME}$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_INT64_RE = re.compile(r"^[+-]?[0-9]+$")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

SET_OPERATORS = ("In", "NotIn")
EXISTENCE_OPERATORS = ("Exists", "DoesNotExist")
NUMERIC_OPERATORS = ("Gt", "Lt")
NODE_OPERATORS = SET_OPERATORS + EXISTENCE_OPERATORS + NUMERIC_OPERATORS
LABEL_OPERATORS = SET_OPERATORS + EXISTENCE_OPERATORS


def qualified_name_error(key: str) -> str | None:
    """Why ``key`` is not a valid label key (``[prefix/]name``), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and prefix.count("/"):
        return "must be a qualified name: an optional DNS subdomain prefix and '/', then a name"
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix)):
        return "prefix must be a lowercase DNS subdomain of at most 253 characters"
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        return (
            "name part must be at most 63 characters of alphanumerics, '-', '_' or '.',"
            " starting and ending with an alphanumeric"
        )
    return None


def label_value_error(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None (the empty value is valid)."""
    if value == "" or (len(value) <= 63 and _NAME_RE.match(value)):
        return None
    return (
        "must be at most 63 characters of alphanumerics, '-', '_' or '.',"
        " starting and ending with an alphanumeric"
    )


def dns_label_error(value: str) -> str | None:
    """Why ``value`` is not an RFC 1123 DNS label (policy names), or None."""
    if len(value) <= 63 and _DNS_LABEL_RE.match(value):
        return None
    return "must be a lowercase RFC 1123 label: a-z, 0-9 and '-', at most 63 characters"


def parse_int64(value: str) -> int | None:
    """``strconv.ParseInt(value, 10, 64)``: the integer, or None when Go would fail."""
    if not _INT64_RE.match(value):
        return None
    number = int(value)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def requirement_matches(operator: str, values: Iterable[str], label: str | None) -> bool:
    """``labels.Requirement.Matches`` for one key: ``label`` is the node's value, None if absent."""
    if operator == "In":
        return label is not None and label in values
    if operator == "NotIn":
        return label is None or label not in values
    if operator == "Exists":
        return label is not None
    if operator == "DoesNotExist":
        return label is None
    if operator in NUMERIC_OPERATORS:
        if label is None:
            return False
        have, bounds = parse_int64(label), [parse_int64(v) for v in values]
        if have is None or len(bounds) != 1 or bounds[0] is None:
            return False
        return have > bounds[0] if operator == "Gt" else have < bounds[0]
    return False


def label_selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """``metav1.LabelSelectorAsSelector(selector).Matches(labels)``; an empty selector matches all."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or ():
        if not requirement_matches(expr["operator"], expr.get("values") or (), labels.get(expr["key"])):
            return False
    return True


def is_empty_term(term: Any) -> bool:
    """A NodeSelectorTerm without expressions or fields matches no node (component-helpers
    ``nodeaffinity``); a malformed (non-mapping) term counts as empty."""
    if not isinstance(term, Mapping):
        return True
    return not any(
        isinstance(term.get(part), list) and term.get(part) for part in ("matchExpressions", "matchFields")
    )


Requirement = tuple[str, tuple[str, ...]]
"""(operator, values) of one requirement on a key; the key is implied by the caller's grouping."""


def _candidate_values(requirements: list[Requirement]) -> Iterable[str | None]:
    """A finite set of label values that contains a witness whenever the requirements are satisfiable.

    In-sets bound the value to their members. Otherwise, absence is one candidate and, for a
    present value, the numeric window (Gt/Lt) or any string outside every NotIn set: a finite
    exclusion list leaves infinitely many strings, so one fresh value per excluded one suffices.
    """
    in_sets = [set(values) for op, values in requirements if op == "In"]
    if in_sets:
        return set.intersection(*in_sets)
    excluded = {v for op, values in requirements if op == "NotIn" for v in values}
    lows = [parse_int64(v[0]) for op, v in requirements if op == "Gt" and v]
    highs = [parse_int64(v[0]) for op, v in requirements if op == "Lt" and v]
    if lows or highs:
        low = max(max((b for b in lows if b is not None), default=-1) + 1, 0)
        high = min((b for b in highs if b is not None), default=_INT64_MAX + 1) - 1
        count = min(high - low + 1, len(excluded) + 1)
        return [None] + [str(low + i) for i in range(max(count, 0))]
    return [None] + [f"v{i}" for i in range(len(excluded) + 1)]


def requirements_satisfiable(requirements: list[Requirement]) -> bool:
    """True when some label value (or its absence) meets every requirement on one key."""
    return any(
        all(requirement_matches(op, values, candidate) for op, values in requirements)
        for candidate in _candidate_values(requirements)
    )
