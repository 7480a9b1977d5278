"""Tolerations and taints, exactly as Kubernetes judges them.

- Coverage (``pkg/util/tolerations.isSuperset``): a policy toleration is only added when no
  toleration already on the Pod (or added before it) tolerates a superset of what it tolerates;
  existing tolerations are never removed or reordered.
- Tolerating (``k8s.io/api/core/v1`` ``Toleration.ToleratesTaint``): an empty effect or key
  matches all, ``Exists`` any value, ``Equal`` or an empty operator the same value, ``Lt``/``Gt``
  integers as ``compareNumericValues`` (both values in canonical decimal form,
  ``content.IsDecimalInteger``, within int64; the alpha gate ``TaintTolerationComparisonOperators``
  modelled on). The scheduler (``webhook.simulation``) and the reservation guard
  (``webhook.engine.guard``) share this one rule.
- A *reserved taint* (``reservations`` of the policy file) may leave its value or effect open: it
  then stands for every taint with that key and any value, or any of the three effects, and a
  toleration tolerates it when it tolerates at least one of those taints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from webhook.kube.selectors import INT64_MAX, INT64_MIN, NUMERIC_OPERATORS, parse_int64

#: Every taint effect there is (``core/v1.TaintEffect``).
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _normalised(toleration: Mapping[str, Any]) -> tuple[Any, ...]:
    """Go's zero values for absent fields, so that ``DeepEqual`` can be compared as tuples."""
    get = toleration.get
    return (
        get("key") or "",
        get("operator") or "",
        get("value") or "",
        get("effect") or "",
        get("tolerationSeconds"),
    )


def tolerates_superset(have: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    """True when toleration ``have`` tolerates every taint that ``want`` tolerates (``isSuperset``)."""
    return _superset(_normalised(have), _normalised(want))


def _superset(have: tuple[Any, ...], want: tuple[Any, ...]) -> bool:
    """``isSuperset`` on normalised tolerations."""
    if have == want:
        return True
    ss_key, ss_op, ss_value, ss_effect, ss_seconds = have
    t_key, t_op, t_value, t_effect, t_seconds = want
    # An empty key with Exists matches all keys and values.
    if t_key != ss_key and (ss_key != "" or ss_op != "Exists"):
        return False
    # An empty effect matches all effects.
    if t_effect != ss_effect and ss_effect != "":
        return False
    if (
        ss_effect == "NoExecute"
        and ss_seconds is not None
        and (not (_is_number(t_seconds) and _is_number(ss_seconds)) or t_seconds > ss_seconds)
    ):
        return False
    if ss_op in ("Equal", ""):
        return bool(t_op == "Equal" and t_value == ss_value)
    return bool(ss_op == "Exists")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def missing_tolerations(
    existing: Iterable[Mapping[str, Any]], wanted: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The wanted tolerations not covered by an existing one or by one added before them."""
    covering = [_normalised(t) for t in existing if isinstance(t, Mapping)]
    added: list[dict[str, Any]] = []
    for toleration in wanted:
        normalised = _normalised(toleration)
        if not any(_superset(have, normalised) for have in covering):
            added.append(dict(toleration))
            covering.append(normalised)
    return added


def describe_toleration(toleration: Mapping[str, Any]) -> str:
    """``key=value:Effect`` as kubectl prints taints; ``key:Effect`` for Exists; ``*`` for empty key."""
    key, operator, value, effect, seconds = _normalised(toleration)
    text = key or "*"
    if operator != "Exists":
        text += f"={value}"
    if effect:
        text += f":{effect}"
    if seconds is not None:
        text += f" for {seconds}s"
    return text


# --- tolerating taints ----------------------------------------------------------------------------


def go_string(value: Any) -> str:
    """A field as Go sees a string: absent is empty; YAML booleans are written as in the manifest."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def tolerates_taint(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """``Toleration.ToleratesTaint``: does this toleration let the Pod past this taint?"""
    effect, key = go_string(toleration.get("effect")), go_string(toleration.get("key"))
    if effect and effect != go_string(taint.get("effect")):
        return False
    if key and key != go_string(taint.get("key")):
        return False
    operator = go_string(toleration.get("operator"))
    if operator in ("", "Equal"):
        return go_string(toleration.get("value")) == go_string(taint.get("value"))
    if operator == "Exists":
        return True
    if operator in NUMERIC_OPERATORS:
        bound, have = (
            canonical_int64(go_string(toleration.get("value"))),
            canonical_int64(go_string(taint.get("value"))),
        )
        if bound is None or have is None:
            return False
        return have < bound if operator == "Lt" else have > bound
    return False


def is_decimal_integer(value: str) -> bool:
    """``content.IsDecimalInteger`` (apimachinery): ``0``, or an optional ``-`` then 1-9 then 0-9s.

    Stricter than ``strconv.ParseInt``: no leading zeros (``0950``), no ``+``, no ``-0``, no spaces,
    ASCII digits only. Any length: the int64 range is ParseInt's business.
    """
    digits = value[1:] if value.startswith("-") else value
    if digits == "0":
        return value == "0"
    return bool(digits) and digits[0] in "123456789" and all(c in "0123456789" for c in digits)


def canonical_int64(value: str) -> int | None:
    """``compareNumericValues``' parse of one side: IsDecimalInteger, then ParseInt within int64."""
    return parse_int64(value) if is_decimal_integer(value) else None


def tolerations_tolerate(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """``TolerationsTolerateTaint``: any one toleration suffices."""
    return any(tolerates_taint(t, taint) for t in tolerations)


def describe_taint(taint: Mapping[str, Any]) -> str:
    """``key=value:Effect`` as kubectl prints taints, ``key:Effect`` without a value."""
    value = go_string(taint.get("value"))
    return f"{go_string(taint.get('key'))}{'=' + value if value else ''}:{go_string(taint.get('effect'))}"


def tolerates_reserved(
    toleration: Mapping[str, Any], *, key: str, value: str | None, effect: str | None
) -> bool:
    """True when ``toleration`` tolerates some taint the reserved taint stands for (``value`` or
    ``effect`` None: any value, any of the three effects); ``ToleratesTaint`` otherwise."""
    tolerated_effect = go_string(toleration.get("effect"))
    if effect is not None:
        if tolerated_effect and tolerated_effect != effect:
            return False
    elif tolerated_effect and tolerated_effect not in TAINT_EFFECTS:
        return False
    if value is not None:
        taint = {"key": key, "value": value, "effect": effect or tolerated_effect or TAINT_EFFECTS[0]}
        return tolerates_taint(toleration, taint)
    tolerated_key = go_string(toleration.get("key"))
    if tolerated_key and tolerated_key != key:
        return False
    operator = go_string(toleration.get("operator"))
    if operator in ("", "Equal", "Exists"):
        return True  # some value of the key equals the toleration's (or any value does)
    if operator in NUMERIC_OPERATORS:
        bound = canonical_int64(go_string(toleration.get("value")))
        if bound is None:
            return False
        return bound > INT64_MIN if operator == "Lt" else bound < INT64_MAX
    return False
