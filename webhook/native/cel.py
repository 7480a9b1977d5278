"""CEL text for the native guard, built from data: literals, globs, selectors and tolerations.

Every function returns a CEL expression (a string) that decides what the named Python function of
this project decides, for the objects the API server admits: ``fnmatchcase`` globs become anchored
RE2 regexes (``glob_regex``), ``label_selector_matches`` a test of a label map, ``tolerates_reserved``
and ``isSuperset`` tests of a toleration. Values from the policy file only ever reach the text as
quoted literals (``literal``), never as code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from webhook.kube.tolerations import TAINT_EFFECTS

#: regex metacharacters: escaped outside a class (RE2 and Python's ``re`` read ``\\x`` the same way)
_META = frozenset(".^$*+?()[]{}|\\")
#: characters escaped inside a class
_CLASS_META = frozenset("\\]^-[")


def literal(value: str) -> str:
    """A CEL string literal holding ``value`` exactly (JSON's escapes are CEL's)."""
    return json.dumps(value, ensure_ascii=False)


def literal_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(literal(v) for v in values) + "]"


def _escaped(char: str, meta: frozenset[str]) -> str:
    return "\\" + char if char in meta else char


def _bracket(pattern: str, start: int) -> tuple[str, int] | None:
    """The class at ``pattern[start] == '['`` as regex text and the index after it; None when the
    bracket is never closed (``fnmatch`` then reads the ``[`` literally)."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] == "!"
    i += negate
    first = i
    while i < len(pattern) and (pattern[i] != "]" or i == first):
        i += 1
    if i >= len(pattern):
        return None
    body, chars, j = pattern[first:i], [], 0
    while j < len(body):  # "a-z" ranges (a reversed one matches nothing), single characters
        if j + 2 < len(body) and body[j + 1] == "-":
            low, high = body[j], body[j + 2]
            if low <= high:
                chars.append(f"{_escaped(low, _CLASS_META)}-{_escaped(high, _CLASS_META)}")
            j += 3
        else:
            chars.append(_escaped(body[j], _CLASS_META))
            j += 1
    if not chars:  # nothing left: matches no character (a negated one: any)
        return ("." if negate else "[^\\s\\S]"), i + 1
    return f"[{'^' if negate else ''}{''.join(chars)}]", i + 1


def glob_regex(pattern: str) -> str:
    """An anchored RE2 regex matching what ``fnmatch.fnmatchcase(name, pattern)`` matches:
    ``*`` any run, ``?`` one character, ``[seq]``/``[!seq]`` a class (ranges allowed), the rest
    literally; ``(?s)`` as the wildcards match line breaks too."""
    parts, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            while i < len(pattern) and pattern[i] == "*":
                i += 1
            parts.append(".*")
            continue
        if char == "?":
            parts.append(".")
        elif char == "[" and (found := _bracket(pattern, i)) is not None:
            text, i = found
            parts.append(text)
            continue
        else:
            parts.append(_escaped(char, _META))
        i += 1
    return "(?s)^" + "".join(parts) + "$"


def matches_any_glob(subject: str, patterns: Iterable[str]) -> str:
    """``subject`` (a CEL string expression) matches one of the globs."""
    tests = [f"{subject}.matches({literal(glob_regex(p))})" for p in patterns]
    return "(" + " || ".join(tests) + ")" if tests else "false"


def label_selector(labels: str, selector: Mapping[str, Any]) -> str:
    """A ``metav1.LabelSelector`` (as ``model_dump(by_alias=True)``) over ``labels``, a CEL map of
    strings (an empty selector selects everything)."""
    tests = [
        f"({literal(key)} in {labels} && {labels}[{literal(key)}] == {literal(value)})"
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    for requirement in selector.get("matchExpressions") or []:
        key, operator = literal(requirement["key"]), requirement["operator"]
        values = literal_list(requirement.get("values") or [])
        if operator == "In":
            tests.append(f"({key} in {labels} && {labels}[{key}] in {values})")
        elif operator == "NotIn":
            tests.append(f"!({key} in {labels} && {labels}[{key}] in {values})")
        elif operator == "Exists":
            tests.append(f"({key} in {labels})")
        else:  # DoesNotExist
            tests.append(f"!({key} in {labels})")
    return "(" + " && ".join(tests) + ")" if tests else "true"


def field(obj: str, name: str, default: str = "''") -> str:
    """``obj.name`` or ``default`` when absent (Go's zero value: the API server omits empty strings)."""
    return f"(has({obj}.{name}) ? {obj}.{name} : {default})"


def tolerates_reserved(t: str, *, key: str, value: str | None, effect: str | None) -> str:
    """Toleration ``t`` tolerates some taint the reserved taint stands for (``tolerates_reserved``).

    ``Gt``/``Lt`` (alpha, off unless a feature gate admits them) count as tolerating whatever key
    they name: stricter than the webhook, never looser."""
    t_effect, t_key, t_op = field(t, "effect"), field(t, "key"), field(t, "operator")
    if effect is not None:
        effect_ok = f"({t_effect} == '' || {t_effect} == {literal(effect)})"
    else:
        effect_ok = f"({t_effect} == '' || {t_effect} in {literal_list(TAINT_EFFECTS)})"
    key_ok = f"({t_key} == '' || {t_key} == {literal(key)})"
    if value is None:
        return f"({effect_ok} && {key_ok})"
    equal = f"{field(t, 'value')} == {literal(value)}"
    operator_ok = f"(({t_op} == '' || {t_op} == 'Equal') ? {equal} : true)"
    return f"({effect_ok} && {key_ok} && {operator_ok})"


def covers(have: str, want: Mapping[str, Any]) -> str:
    """Toleration ``have`` (CEL) tolerates every taint the constant toleration ``want`` tolerates
    (``isSuperset``, as the planner's ``missing_tolerations`` asks)."""
    w_key, w_op = str(want.get("key") or ""), str(want.get("operator") or "")
    w_value, w_effect = str(want.get("value") or ""), str(want.get("effect") or "")
    w_seconds = want.get("tolerationSeconds")
    h_key, h_op, h_value = field(have, "key"), field(have, "operator"), field(have, "value")
    h_effect = field(have, "effect")
    if w_seconds is None:
        same_seconds = f"!has({have}.tolerationSeconds)"
    else:
        same_seconds = f"(has({have}.tolerationSeconds) && {have}.tolerationSeconds == {int(w_seconds)})"
    identical = (
        f"({h_key} == {literal(w_key)} && {h_op} == {literal(w_op)} && {h_value} == {literal(w_value)}"
        f" && {h_effect} == {literal(w_effect)} && {same_seconds})"
    )
    key_ok = f"({h_key} == {literal(w_key)} || ({h_key} == '' && {h_op} == 'Exists'))"
    effect_ok = f"({h_effect} == {literal(w_effect)} || {h_effect} == '')"
    if w_seconds is None:
        seconds_ok = f"!({h_effect} == 'NoExecute' && has({have}.tolerationSeconds))"
    else:
        seconds_ok = (
            f"!({h_effect} == 'NoExecute' && has({have}.tolerationSeconds)"
            f" && {int(w_seconds)} > {have}.tolerationSeconds)"
        )
    equal_ok = "true" if w_op == "Equal" else "false"
    operator_ok = (
        f"(({h_op} == 'Equal' || {h_op} == '') ? ({equal_ok} && {h_value} == {literal(w_value)})"
        f" : {h_op} == 'Exists')"
    )
    return f"({identical} || ({key_ok} && {effect_ok} && {seconds_ok} && {operator_ok}))"


def covers_any_seconds(have: str, want: str) -> str:
    """``isSuperset(have, want)`` with both tolerations in CEL and ``tolerationSeconds`` left out of
    both (the guard's UPDATE rule: an update may change it)."""
    hk, ho, hv, he = field(have, "key"), field(have, "operator"), field(have, "value"), field(have, "effect")
    wk, wo, wv, we = field(want, "key"), field(want, "operator"), field(want, "value"), field(want, "effect")
    identical = f"({hk} == {wk} && {ho} == {wo} && {hv} == {wv} && {he} == {we})"
    key_ok = f"({wk} == {hk} || ({hk} == '' && {ho} == 'Exists'))"
    effect_ok = f"({we} == {he} || {he} == '')"
    operator_ok = f"(({ho} == 'Equal' || {ho} == '') ? ({wo} == 'Equal' && {wv} == {hv}) : {ho} == 'Exists')"
    return f"({identical} || ({key_ok} && {effect_ok} && {operator_ok}))"


def describe_toleration(t: str) -> str:
    """``key=value:Effect`` as the guard's messages write a toleration (``*`` for an empty key)."""
    key = f"({field(t, 'key')} == '' ? '*' : {t}.key)"
    value = f"({field(t, 'operator')} == 'Exists' ? '' : '=' + {field(t, 'value')})"
    effect = f"({field(t, 'effect')} == '' ? '' : ':' + {t}.effect)"
    seconds = f"(has({t}.tolerationSeconds) ? ' for ' + string({t}.tolerationSeconds) + 's' : '')"
    return f"{key} + {value} + {effect} + {seconds}"
