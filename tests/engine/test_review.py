"""``Review``, what the engine decided for one Pod: a slotted class with a dataclass's equality and
repr, its patch and Pod built when first read (the plan memo's recorded ops)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.helpers import minimal_pod, policies
from webhook.engine.review import Review, policy_review


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


def _policy(placement: str, **settings: str) -> Any:
    extra = "".join(f"\n          {k}: {v}" for k, v in settings.items())
    return policies(f"""
        version: 1
        policies:
        - name: p
          placement: {placement}{extra}
        """).policies[0]


CONFLICTING = minimal_pod(nodeSelector={"pool": "cpu"})
MESSAGE = "policy p conflicts with the Pod's own placement on pool"


@pytest.mark.parametrize(
    ("pod", "settings", "outcome", "warnings", "denial"),
    [
        (
            minimal_pod(nodeSelector="x"),
            {},
            "malformed",
            ["Pod not placed by p: spec.nodeSelector is a string, expected an object"],
            None,
        ),
        (
            minimal_pod(nodeSelector="x"),
            {"mode": "audit"},
            "malformed",
            ["audit: Pod not placed by p: spec.nodeSelector is a string, expected an object"],
            None,
        ),
        (CONFLICTING, {}, "conflict", [f"{MESSAGE}; not applied"], None),
        (CONFLICTING, {"onConflict": "deny"}, "denied", [], "placement-webhook: " + MESSAGE),
        (CONFLICTING, {"mode": "audit"}, "audit", [f"audit: {MESSAGE}"], None),
        (
            CONFLICTING,
            {"mode": "audit", "onConflict": "deny"},
            "audit",
            [f"audit: {MESSAGE}; would deny in enforce mode"],
            None,
        ),
        (minimal_pod(nodeSelector={"pool": "gpu"}), {}, "unchanged", [], None),
        (
            minimal_pod(),
            {"mode": "audit"},
            "audit",
            ["audit: policy p would add nodeSelector pool=gpu"],
            None,
        ),
    ],
)
def test_one_policys_review(
    pod: dict[str, Any], settings: dict[str, str], outcome: str, warnings: list[str], denial: str | None
) -> None:
    review = policy_review(pod, _policy("{nodeSelector: {pool: gpu}}", **settings))
    assert (review.outcome, review.policy, review.warnings, review.denial) == (outcome, "p", warnings, denial)
    assert review.pod is pod and review.patch == []
    assert (review.plan is None) is (outcome == "malformed")  # every other review carries its plan


def test_a_patching_review_carries_the_mutated_pod_and_its_ops() -> None:
    pod = minimal_pod()
    review = policy_review(pod, _policy("{nodeSelector: {pool: gpu}}"))
    assert (review.outcome, review.policy) == ("patched", "p") and review.plan is not None
    assert review.pod["spec"]["nodeSelector"] == {"pool": "gpu"} and "nodeSelector" not in pod["spec"]
    assert {"op": "add", "path": "/spec/nodeSelector", "value": {"pool": "gpu"}} in review.patch
