"""The plan memo (``webhook/engine/memo.py``) entry by entry: what is remembered under which key,
what a remembered review gives back, and the limits on keys and entries."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import minimal_pod, policies
from webhook.engine import memo as memo_module
from webhook.engine.memo import PLAN_KEY_BYTES, PlanMemo
from webhook.engine.review import policy_review


def _policy(placement: str, extra: str = "") -> Any:
    return policies(f"""
        version: 1
        policies:
        - {{name: first, placement: {{nodeSelector: {{x: y}}}}}}
        - name: p
          placement: {placement}
          {extra}
        """).policies[1]


PATCHING = _policy("{nodeSelector: {pool: gpu}}")
DENYING = _policy("{nodeSelector: {pool: gpu}}", "onConflict: deny")


def test_a_patching_review_is_remembered_and_replayed_on_the_next_pod() -> None:
    memo, key = PlanMemo(), b"k"
    first = memo.review(minimal_pod(), key, PATCHING)
    assert (1, key) in memo and len(memo) == 1 and (0, key) not in memo
    again_pod = minimal_pod()
    again = memo.review(again_pod, key, PATCHING)
    assert again == first and again.encoded_patch() == first.encoded_patch() is not None
    assert again.pod is not again_pod and "nodeSelector" not in again_pod["spec"]
    assert again == policy_review(minimal_pod(), PATCHING)


def test_a_review_without_ops_is_remembered_with_its_warnings_and_denial() -> None:
    memo, pod = PlanMemo(), minimal_pod(nodeSelector={"pool": "cpu"})
    denied = memo.review(pod, b"k", DENYING)
    assert denied.outcome == "denied" and denied.denial
    remembered = memo.review(minimal_pod(nodeSelector={"pool": "cpu"}), b"k", DENYING)
    assert remembered == denied and remembered.denial == denied.denial and remembered.plan == denied.plan
    warned_policy = _policy("{nodeSelector: {pool: gpu}}")
    warned = memo.review(pod, b"w", warned_policy)
    assert warned.outcome == "conflict" and warned.warnings
    assert (
        memo.review(minimal_pod(nodeSelector={"pool": "cpu"}), b"w", warned_policy).warnings
        == warned.warnings
    )


def test_no_key_or_a_long_one_is_not_remembered() -> None:
    memo = PlanMemo()
    memo.review(minimal_pod(), None, PATCHING)
    memo.review(minimal_pod(), b"x" * (PLAN_KEY_BYTES + 1), PATCHING)
    assert len(memo) == 0
    memo.review(minimal_pod(), b"x" * PLAN_KEY_BYTES, PATCHING)
    assert (1, b"x" * PLAN_KEY_BYTES) in memo


def test_a_full_memo_starts_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memo_module, "PLAN_ENTRIES", 2)
    memo = PlanMemo()
    memo.review(minimal_pod(), b"a", PATCHING)
    memo.review(minimal_pod(), b"b", PATCHING)
    assert len(memo) == 2
    memo.review(minimal_pod(), b"a", PATCHING)  # remembered: nothing added
    assert len(memo) == 2
    memo.review(minimal_pod(), b"c", PATCHING)
    assert len(memo) == 1 and (1, b"c") in memo and (1, b"a") not in memo
