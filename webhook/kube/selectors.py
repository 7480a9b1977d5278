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

# Go's regexp anchors ``^...$`` at the very end; Python's ``$`` also matches before a trailing
# newline ("gpu\n"), so every pattern here is applied with ``fullmatch`` and carries no anchors.
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_NAME_RE = re.compile(_NAME)
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL_RE = re.compile(_DNS_LABEL)
_DNS_SUBDOMAIN_RE = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_INT64_RE = re.compile(r"[+-]?[0-9]+")  # ``[0-9]``, not ``\d``: no other script's digits
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: The longest label value, and so the longest integer a node label can spell (leading zeros count).
LABEL_VALUE_MAX = 63

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
    if slash and (not prefix or dns_subdomain_error(prefix)):
        return "prefix must be a lowercase DNS subdomain of at most 253 characters"
    if not name or len(name) > 63 or not _NAME_RE.fullmatch(name):
        return (
            "name part must be at most 63 characters of alphanumerics, '-', '_' or '.',"
            " starting and ending with an alphanumeric"
        )
    return None


def label_value_error(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None (the empty value is valid)."""
    if value == "" or (len(value) <= LABEL_VALUE_MAX and _NAME_RE.fullmatch(value)):
        return None
    return (
        "must be at most 63 characters of alphanumerics, '-', '_' or '.',"
        " starting and ending with an alphanumeric"
    )


def dns_label_error(value: str) -> str | None:
    """Why ``value`` is not an RFC 1123 DNS label (policy names), or None."""
    if len(value) <= 63 and _DNS_LABEL_RE.fullmatch(value):
        return None
    return "must be a lowercase RFC 1123 label: a-z, 0-9 and '-', at most 63 characters"


def dns_subdomain_error(value: str) -> str | None:
    """Why ``value`` is not an RFC 1123 DNS subdomain (a label key's prefix), or None."""
    if len(value) <= 253 and _DNS_SUBDOMAIN_RE.fullmatch(value):
        return None
    return "must be a lowercase RFC 1123 subdomain: a-z, 0-9, '-' and '.', at most 253 characters"


def parse_int64(value: str) -> int | None:
    """``strconv.ParseInt(value, 10, 64)``: the integer, or None when Go would fail.

    Go takes an optional ``+`` or ``-`` and ASCII digits only; Python's ``int`` would also take
    spaces, ``_`` separators and other scripts' digits, and refuses over 4300 digits outright.
    """
    if not _INT64_RE.fullmatch(value):
        return None
    digits = value.lstrip("+-").lstrip("0") or "0"
    if len(digits) > 19:  # int64 has 19 digits; int() would refuse over 4300 of them
        return None
    number = -int(digits) if value[0] == "-" else int(digits)
    return number if INT64_MIN <= number <= INT64_MAX else None


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


def _requirement_words(key: str, operator: str, values: Iterable[str], label: str | None) -> str:
    listed = f" [{', '.join(values)}]" if operator in SET_OPERATORS else ""
    have = f"{key} absent" if label is None else f"{key}={label}"
    return f"{key} {operator}{listed} ({have})"


def label_selector_mismatch(selector: Mapping[str, Any], labels: Mapping[str, str]) -> str | None:
    """The first requirement of ``selector`` that ``labels`` fail, in words, or None when they match.

    Walks the requirements in the order ``label_selector_matches`` does, so the sentence always
    names the requirement that decided: ``team=nlp (team absent)``, ``env NotIn [prod] (env=prod)``.
    """
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            have = f"{key} absent" if key not in labels else f"{key}={labels[key]}"
            return f"{key}={value} ({have})"
    for expr in selector.get("matchExpressions") or ():
        key, operator, values = expr["key"], expr["operator"], expr.get("values") or ()
        if not requirement_matches(operator, values, labels.get(key)):
            return _requirement_words(key, operator, values, labels.get(key))
    return None


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


def _numeric_window(requirements: list[Requirement]) -> tuple[int, int] | None:
    """The integers a node label value may spell under every Gt/Lt here, or None if none can.

    A node label value is a valid label value, so it has no sign: only ``0`` to int64's maximum.
    A malformed Gt/Lt (not exactly one value, or one ParseInt refuses) never matches anything.
    """
    low, high = 0, INT64_MAX
    for operator, values in requirements:
        if operator not in NUMERIC_OPERATORS:
            continue
        bound = parse_int64(values[0]) if len(values) == 1 else None
        if bound is None:
            return None
        if operator == "Gt":
            low = max(low, bound + 1)
        else:
            high = min(high, bound - 1)
    return (low, high) if low <= high else None


def _spellings(number: int, excluded: set[str]) -> str | None:
    """A label value that ParseInt reads as ``number`` and is not excluded: leading zeros pad the
    canonical digits up to the 63-character limit (``7``, ``07``, ``007`` ...)."""
    digits = str(number)
    for width in range(len(digits), LABEL_VALUE_MAX + 1):
        spelled = digits.rjust(width, "0")
        if spelled not in excluded:
            return spelled
    return None


def _numeric_witness(requirements: list[Requirement], excluded: set[str]) -> str | None:
    """The smallest-numbered present value within the Gt/Lt window that no NotIn excludes.

    Each integer has at least 45 spellings (19 digits at most, padded to 63), so the loop skips
    at most one integer per 45 excluded values before it finds one.
    """
    window = _numeric_window(requirements)
    if window is None:
        return None
    low, high = window
    number = low
    while number <= high:
        witness = _spellings(number, excluded)
        if witness is not None:
            return witness
        number += 1
    return None


def _candidate_values(requirements: list[Requirement]) -> list[str | None]:
    """A few label values (None: the label is absent) that hold a witness whenever one exists.

    A present value must be a valid label value (nodes carry nothing else). With In, it is one of
    the members common to every In set; with Gt/Lt, an unsigned integer in the window, spelled
    with leading zeros if NotIn excludes the shorter spellings; otherwise any value outside the
    finite NotIn sets, of which there are infinitely many.
    """
    candidates: list[str | None] = [None]
    in_sets = [set(values) for op, values in requirements if op == "In"]
    excluded = {v for op, values in requirements if op == "NotIn" for v in values}
    if in_sets:
        common = set.intersection(*in_sets)
        candidates += sorted(v for v in common if label_value_error(v) is None)
    elif any(op in NUMERIC_OPERATORS for op, _ in requirements):
        witness = _numeric_witness(requirements, excluded)
        if witness is not None:
            candidates.append(witness)
    else:
        candidates.append(next(f"v{i}" for i in range(len(excluded) + 1) if f"v{i}" not in excluded))
    return candidates


def requirements_satisfiable(requirements: list[Requirement]) -> bool:
    """True when some node label value (or its absence) meets every requirement on one key.

    Exact: each candidate is checked with ``requirement_matches`` itself, and the candidates hold
    a witness whenever one exists (see ``_candidate_values``).
    """
    return any(
        all(requirement_matches(op, values, candidate) for op, values in requirements)
        for candidate in _candidate_values(requirements)
    )
