"""Toleration coverage, exactly as Kubernetes' ``pkg/util/tolerations.isSuperset``.

A policy toleration is only added when no toleration already on the Pod (or added before it)
tolerates a superset of what it tolerates; existing tolerations are never removed or reordered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


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
