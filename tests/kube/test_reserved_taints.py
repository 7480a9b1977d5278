"""Tolerating a reserved taint: ``ToleratesTaint`` for a fixed taint, "some taint it stands for"
for an open value or effect (the reservation guard's one question about a toleration)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook.kube.tolerations import TAINT_EFFECTS, tolerates_reserved, tolerates_taint

GPU = "seldon-gpu-srv"


@pytest.mark.parametrize(
    ("toleration", "value", "effect", "expected"),
    [
        # an empty key with Exists tolerates every taint, any effect
        ({"operator": "Exists"}, "true", "NoSchedule", True),
        ({"operator": "Exists"}, None, None, True),
        ({"operator": "Exists", "effect": "NoExecute"}, "true", "NoSchedule", False),
        ({"operator": "Exists", "effect": "NoSchedule"}, "true", "NoSchedule", True),
        # an empty effect matches every effect
        ({"key": GPU, "operator": "Exists"}, "true", "NoSchedule", True),
        ({"key": GPU, "operator": "Exists"}, "true", "NoExecute", True),
        ({"key": GPU, "operator": "Exists", "effect": "PreferNoSchedule"}, "true", "NoSchedule", False),
        # Equal (or no operator) compares values; Exists ignores them
        ({"key": GPU, "operator": "Equal", "value": "true"}, "true", "NoSchedule", True),
        ({"key": GPU, "value": "true"}, "true", "NoSchedule", True),
        ({"key": GPU, "operator": "Equal", "value": "false"}, "true", "NoSchedule", False),
        ({"key": GPU, "operator": "Equal"}, "true", "NoSchedule", False),
        ({"key": GPU, "operator": "Equal"}, "", "NoSchedule", True),
        ({"key": "other", "operator": "Exists"}, "true", "NoSchedule", False),
        # an open value: any value the key may carry
        ({"key": GPU, "operator": "Equal", "value": "false"}, None, "NoSchedule", True),
        ({"key": GPU, "operator": "Exists", "effect": "NoSchedule"}, None, "NoSchedule", True),
        ({"key": GPU, "operator": "Exists", "effect": "NoExecute"}, None, "NoSchedule", False),
        ({"key": "other", "value": "true"}, None, "NoSchedule", False),
        ({"key": GPU, "value": "false"}, None, "NoSchedule", True),  # no operator: Equal
        ({"key": GPU}, None, None, True),
        # an open effect: any of the three; an effect that is none of them tolerates no taint
        ({"key": GPU, "operator": "Exists", "effect": "NoExecute"}, None, None, True),
        ({"key": GPU, "operator": "Exists", "effect": "PreferNoSchedule"}, "true", None, True),
        ({"key": GPU, "operator": "Equal", "value": "x", "effect": "NoSchedule"}, "true", None, False),
        ({"key": GPU, "operator": "Exists", "effect": "Sometimes"}, None, None, False),
        # Gt/Lt as the scheduler compares them (canonical integers within int64)
        ({"key": GPU, "operator": "Gt", "value": "1"}, "2", "NoSchedule", True),
        ({"key": GPU, "operator": "Gt", "value": "2"}, "2", "NoSchedule", False),
        ({"key": GPU, "operator": "Lt", "value": "3"}, "2", "NoSchedule", True),
        ({"key": GPU, "operator": "Lt", "value": "3"}, "true", "NoSchedule", False),
        ({"key": GPU, "operator": "Gt", "value": "1"}, None, "NoSchedule", True),
        ({"key": GPU, "operator": "Gt", "value": "9223372036854775807"}, None, "NoSchedule", False),
        ({"key": GPU, "operator": "Lt", "value": "-9223372036854775808"}, None, "NoSchedule", False),
        ({"key": GPU, "operator": "Lt", "value": "-9223372036854775807"}, None, "NoSchedule", True),
        ({"key": GPU, "operator": "Gt", "value": "01"}, None, "NoSchedule", False),
        # an operator Kubernetes does not know tolerates nothing
        ({"key": GPU, "operator": "Matches"}, None, "NoSchedule", False),
    ],
)
def test_tolerates_reserved(
    toleration: dict[str, Any], value: str | None, effect: str | None, expected: bool
) -> None:
    assert tolerates_reserved(toleration, key=GPU, value=value, effect=effect) is expected


_tolerations = st.fixed_dictionaries(
    {},
    optional={
        "key": st.sampled_from([GPU, "other", ""]),
        "operator": st.sampled_from(["Equal", "Exists", "Gt", "Lt", ""]),
        "value": st.sampled_from(["true", "false", "", "1", "7"]),
        "effect": st.sampled_from([*TAINT_EFFECTS, ""]),
    },
)
_values = st.sampled_from(["true", "false", "", "1", "7"])


@given(_tolerations, st.one_of(st.none(), _values), st.one_of(st.none(), st.sampled_from(TAINT_EFFECTS)))
def test_open_fields_mean_some_taint_of_the_set_is_tolerated(
    toleration: dict[str, Any], value: str | None, effect: str | None
) -> None:
    """Over a finite universe of values: tolerating the reservation is tolerating one of its taints
    (the universe holds every value these tolerations can name, and the integers between)."""
    values = [value] if value is not None else ["true", "false", "", "1", "7", "0", "2", "5", "8"]
    effects = [effect] if effect is not None else list(TAINT_EFFECTS)
    some = any(
        tolerates_taint(toleration, {"key": GPU, "value": v, "effect": e}) for v in values for e in effects
    )
    assert tolerates_reserved(toleration, key=GPU, value=value, effect=effect) is some
