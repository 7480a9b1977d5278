"""``Review``, what the engine decided for one Pod: a slotted class with a dataclass's equality and
repr, its patch and Pod built when first read (the plan memo's recorded ops)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.helpers import minimal_pod
from webhook.engine.review import Review


@dataclass
class _AsDataclass:
    """What ``Review``'s repr must read like: the dataclass it stands in for."""

    outcome: str
    pod: Any
    policy: Any = None
    patch: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    denial: Any = None
    plan: Any = None
    audits: tuple[str, ...] = ()


@pytest.mark.parametrize(
    "fields",
    [
        {"outcome": "unchanged", "pod": {}},
        {
            "outcome": "denied",
            "pod": {"metadata": {"name": "p"}},
            "policy": "gpu",
            "patch": [{"op": "add", "path": "/a", "value": 1}],
            "warnings": ["w'1", 'w"2'],
            "denial": "no",
            "audits": ("a", "b"),
        },
    ],
)
def test_the_repr_is_a_dataclasss(fields: dict[str, Any]) -> None:
    expected = repr(_AsDataclass(**fields)).replace("_AsDataclass(", "Review(", 1)
    assert repr(Review(**fields)) == expected


def test_reviews_are_equal_field_by_field_and_unhashable() -> None:
    pod = minimal_pod()
    assert Review("patched", pod, "p", audits=("a",)) == Review("patched", minimal_pod(), "p", audits=("a",))
    assert Review("patched", pod, "p") != Review("patched", pod, "q")
    assert Review("patched", pod, "p") != Review("patched", pod, "p", audits=("a",))
    assert Review("patched", pod) != Review("unchanged", pod)
    assert Review("unchanged", pod).__eq__("unchanged") is NotImplemented
    with pytest.raises(TypeError):
        hash(Review("unchanged", pod))
