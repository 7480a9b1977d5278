"""``PodFacts.requested_resources`` is remembered by the containers' resources: quantities that
look alike to Python (``1``, ``True``, ``1.0``; ``"0"`` and ``0``) never share an answer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import minimal_pod
from webhook.kube.objects import read_pod_facts, requested_resources


def facts_of(resources: Any) -> frozenset[str]:
    pod = minimal_pod()
    pod["spec"]["containers"][0]["resources"] = resources
    return read_pod_facts(pod, namespace="ns").requested_resources


@pytest.mark.parametrize(
    ("resources", "requested"),
    [
        ({"limits": {"nvidia.com/gpu": 1}}, {"nvidia.com/gpu"}),
        ({"limits": {"nvidia.com/gpu": True}}, set()),
        ({"limits": {"nvidia.com/gpu": 1.0}}, {"nvidia.com/gpu"}),
        ({"limits": {"nvidia.com/gpu": 0.0}}, set()),
        ({"limits": {"nvidia.com/gpu": "0"}}, set()),
        ({"limits": {"nvidia.com/gpu": "1"}}, {"nvidia.com/gpu"}),
        ({"requests": {"nvidia.com/gpu": "0"}, "limits": {"nvidia.com/gpu": "2"}}, {"nvidia.com/gpu"}),
        ({"limits": {1: "1"}}, set()),
        ("limits", set()),
    ],
    ids=repr,
)
def test_requested_resources_remembered_and_not(resources: Any, requested: set[str]) -> None:
    for _ in range(2):  # computed, then remembered
        assert facts_of(resources) == requested
        assert requested_resources([resources]) == requested


def test_a_subclass_marshal_cannot_write_is_read_every_time() -> None:
    class Quantity(str):
        pass

    assert facts_of({"limits": {"nvidia.com/gpu": Quantity("1")}}) == {"nvidia.com/gpu"}
    assert facts_of({"limits": {"nvidia.com/gpu": Quantity("0")}}) == set()
