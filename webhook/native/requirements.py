"""Node selector requirements in CEL: parsing, matching and satisfiability on one label key.

The webhook decides a placement conflict with ``webhook.kube.selectors.requirements_satisfiable``
("is there a node label value, or its absence, that meets all these requirements?") and which of
a Pod's terms can match a node with ``_schedulable_terms``. These functions return CEL text that
decides the same for requirements the API server holds: a requirement is a CEL ``list(string)``,
its operator first and its values after (``['In', 'a', 'b']``; CEL list literals must be
homogeneous, so the operator travels with the values), and a key's requirements are a list of those.

Every function takes CEL text and returns CEL text; values from the policy file only ever reach it
as quoted literals. Exactness, case by case, is ``requirements_satisfiable``'s: a present value
must be a valid label value; with ``In`` it is one of the values every ``In`` lists; with
``Gt``/``Lt`` an unsigned integer in the window, spelled with leading zeros if ``NotIn`` excludes
its shorter spellings (an integer has ``64 - digits`` spellings of at most 63 characters, so the
window holds one unless every spelling of every integer in it is excluded); otherwise any value
outside the finite ``NotIn`` lists.
"""

from __future__ import annotations

from collections.abc import Iterable

from webhook.kube.selectors import NUMERIC_OPERATORS, label_value_error, requirement_matches
from webhook.native.cel import literal, literal_list

#: ``IsValidLabelValue``: empty, or at most 63 characters of this shape
LABEL_VALUE = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
#: ``IsQualifiedName``: an optional lowercase DNS subdomain prefix of at most 253 characters and a name
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_PREFIX = rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$"
NAME = LABEL_VALUE
INT64_MAX = "9223372036854775807"


def values_of(requirement: str) -> str:
    """The values of a requirement list (everything after the operator)."""
    return f"{requirement}.slice(1, size({requirement}))"


def as_requirement(expression: str) -> str:
    """A ``NodeSelectorRequirement`` object (CEL) as a requirement list."""
    return f"([{expression}.operator] + (has({expression}.values) ? {expression}.values : []))"


def constant_requirement(operator: str, values: Iterable[str]) -> str:
    """A requirement list literal from the policy file."""
    return "[" + ", ".join(literal(v) for v in (operator, *values)) + "]"


def is_label_value(value: str) -> str:
    return f"({value} == '' || (size({value}) <= 63 && {value}.matches({literal(LABEL_VALUE)})))"


def is_qualified_name(key: str) -> str:
    """``IsQualifiedName``: ``[prefix/]name``, at most one slash."""
    name = f"({key}.split('/')[size({key}.split('/')) - 1])"
    prefix = f"{key}.split('/')[0]"
    name_ok = f"(size({name}) >= 1 && size({name}) <= 63 && {name}.matches({literal(NAME)}))"
    prefix_ok = (
        f"(size({prefix}) >= 1 && size({prefix}) <= 253 && {prefix}.matches({literal(QUALIFIED_PREFIX)}))"
    )
    return (
        f"(size({key}.split('/')) == 1 ? {name_ok} : size({key}.split('/')) == 2 && {prefix_ok} && {name_ok})"
    )


def is_int64(value: str) -> str:
    """``strconv.ParseInt(value, 10, 64)`` succeeds: a sign, ASCII digits, within int64 (leading
    zeros allowed). CEL's ``int(string)`` is that ParseInt, so it is safe after this test."""
    digits = f"{value}.find('[1-9][0-9]*$')"
    bound = f"({value}.startsWith('-') ? '9223372036854775808' : {literal(INT64_MAX)})"
    return (
        f"({value}.matches('^[+-]?[0-9]+$') && (size({digits}) < 19"
        f" || (size({digits}) == 19 && {digits} <= {bound})))"
    )


def _numeric_ok(requirement: str) -> str:
    """A Gt/Lt requirement with exactly one int64 value."""
    return f"(size({requirement}) == 2 && {is_int64(f'{requirement}[1]')})"


def matches_present(requirement: str, value: str) -> str:
    """``requirement_matches`` for a node label present with ``value``."""
    op, values = f"{requirement}[0]", values_of(requirement)
    numeric = (
        f"({_numeric_ok(requirement)} && {is_int64(value)}"
        f" && ({op} == 'Gt' ? int({value}) > int({requirement}[1]) : int({value}) < int({requirement}[1])))"
    )
    return (
        f"({op} == 'In' ? {value} in {values} : {op} == 'NotIn' ? !({value} in {values})"
        f" : {op} == 'Exists' ? true : ({op} == 'Gt' || {op} == 'Lt') ? {numeric} : false)"
    )


def matches_absent(requirement: str) -> str:
    return f"({requirement}[0] == 'NotIn' || {requirement}[0] == 'DoesNotExist')"


def _numeric_window_has_value(reqs: str) -> str:
    """Some unsigned integer within every Gt/Lt bound has a spelling no NotIn excludes."""
    reqs = f"({reqs})"
    gt = f"{reqs}.filter(r, r[0] == 'Gt')"
    lt = f"{reqs}.filter(r, r[0] == 'Lt')"
    well_formed = f"{reqs}.all(r, !(r[0] == 'Gt' || r[0] == 'Lt') || {_numeric_ok('r')})"
    # Gt int64-max and Lt 0 (or less) leave nothing; otherwise bound+1 and bound-1 cannot overflow
    possible = f"!{gt}.exists(r, int(r[1]) == {INT64_MAX}) && !{lt}.exists(r, int(r[1]) <= 0)"
    low = f"(([0] + {gt}.map(r, int(r[1]) + 1)).max())"
    high = f"(([{INT64_MAX}] + {lt}.map(r, int(r[1]) - 1)).min())"
    excluded = f"{reqs}.filter(r, r[0] == 'NotIn').map(r, {values_of('r')}).flatten()"
    spelled = (
        f"{excluded}.filter(y, y.matches('^[0-9]+$') && size(y) <= 63 && {is_int64('y')}"
        " && int(y) == int(c)).distinct()"
    )
    fully_excluded = (
        f"{excluded}.filter(c, c.matches('^(0|[1-9][0-9]*)$') && {is_int64('c')}"
        f" && int(c) >= {low} && int(c) <= {high} && size({spelled}) == 64 - size(c)).distinct()"
    )
    return f"({well_formed} && {possible} && {low} <= {high} && size({fully_excluded}) <= {high} - {low})"


def _bound(value: str, name: str, body: str) -> str:
    """``body`` with ``name`` bound to ``value`` once (CEL has no let: a one-element list's ``all``)."""
    return f"[{value}].all({name}, {body})"


def _present(r: str, also: str, numeric_reqs: str) -> str:
    """Some present value meets every requirement of ``r`` and ``also`` (a test of ``v``): one the
    first ``In`` lists; else, with ``Gt``/``Lt``, an integer of the window ``numeric_reqs`` leaves
    (``r`` and the ``NotIn`` exclusions ``also`` stands for); else any value outside the finite
    ``NotIn`` lists, unless ``DoesNotExist``."""
    first_in = f"{r}.filter(r, r[0] == 'In')[0]"
    by_in = (
        f"{values_of(first_in)}.exists(v, {is_label_value('v')} && {r}.all(q, {matches_present('q', 'v')})"
        f" && {also})"
    )
    no_absence = f"!{r}.exists(r, r[0] == 'DoesNotExist')"
    return (
        f"({r}.exists(r, r[0] == 'In') ? {by_in}"
        f" : {r}.exists(r, r[0] == 'Gt' || r[0] == 'Lt')"
        f" ? ({no_absence} && {_numeric_window_has_value(numeric_reqs)})"
        f" : {no_absence})"
    )


def satisfiable(reqs: str) -> str:
    """``requirements_satisfiable(reqs)``: absence meets them all, or some present value does."""
    r = "sat_reqs"
    return _bound(reqs, r, f"({r}.all(r, {matches_absent('r')}) || {_present(r, 'true', r)})")


Requirement = tuple[str, tuple[str, ...]]


def satisfiable_with(reqs: str, constants: list[Requirement]) -> str:
    """``requirements_satisfiable(reqs + constants)`` for a policy's constant requirements on one
    key: with an ``In`` among them, a value they list must meet ``reqs``; with ``DoesNotExist``,
    only absence can; with ``Gt``/``Lt``, the general case; otherwise (``Exists``, ``NotIn``) the
    general case with the constants' exclusions inlined."""
    absent_ok = all(op in ("NotIn", "DoesNotExist") for op, _ in constants)
    r = "sat_reqs"
    absent = f"{r}.all(r, {matches_absent('r')})" if absent_ok else "false"
    if any(op == "In" for op, _ in constants):
        in_sets = [set(values) for op, values in constants if op == "In"]
        candidates = sorted(
            v
            for v in set.intersection(*in_sets)
            if label_value_error(v) is None
            and all(requirement_matches(op, values, v) for op, values in constants)
        )
        present = f"{literal_list(candidates)}.exists(v, {r}.all(q, {matches_present('q', 'v')}))"
        return _bound(reqs, r, f"({absent} || {present})")
    if any(op == "DoesNotExist" for op, _ in constants):
        return _bound(reqs, r, absent)
    if any(op in NUMERIC_OPERATORS for op, _ in constants):
        return satisfiable(f"{reqs} + {_constant_list(constants)}")
    excluded = sorted({v for op, values in constants if op == "NotIn" for v in values})
    allowed = f"!(v in {literal_list(excluded)})" if excluded else "true"
    present = _present(r, allowed, f"{r} + {_constant_list(constants)}")
    return _bound(reqs, r, f"({absent} || {present})")


def _constant_list(constants: list[Requirement]) -> str:
    return "[" + ", ".join(constant_requirement(op, values) for op, values in constants) + "]"


def label_requirement_parses(expression: str) -> str:
    """``_label_requirement_parses`` for a ``NodeSelectorRequirement`` object: a known operator, a
    qualified key, valid label values, and the values the operator needs."""
    values = f"(has({expression}.values) ? {expression}.values : [])"
    op = f"{expression}.operator"
    return (
        f"({is_qualified_name(f'{expression}.key')} && {values}.all(v, {is_label_value('v')})"
        f" && (({op} == 'In' || {op} == 'NotIn') ? size({values}) > 0"
        f" : ({op} == 'Exists' || {op} == 'DoesNotExist') ? size({values}) == 0"
        f" : ({op} == 'Gt' || {op} == 'Lt') ? size({values}) == 1 && {is_int64(f'{values}[0]')} : false))"
    )


def field_requirement_parses(expression: str) -> str:
    """``_field_requirement_parses``: In or NotIn with exactly one value."""
    values = f"(has({expression}.values) ? {expression}.values : [])"
    return f"(({expression}.operator == 'In' || {expression}.operator == 'NotIn') && size({values}) == 1)"
