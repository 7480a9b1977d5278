"""The server keeps the native guard in step: one compile per generation of the policies, an apply
only when the policies changed (and now and then to put back an edited one), a failed apply retried
later and shown, never fatal."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from tests.helpers import ROOT, policies
from webhook.engine.memo import LoadedPolicies
from webhook.errors import ClusterError
from webhook.native import guard_policies, inert_policy
from webhook.native.placement_policy import NO_PATCH, inert_placement_policies, placement_policies
from webhook.server.metrics import Metrics
from webhook.server.native_sync import REAPPLY_SECONDS, RETRY_SECONDS, NativeGuardSync

RESERVED = (ROOT / "examples" / "reserved-gpu-pool.yaml").read_text()


class Recording:
    """The apply adapter's seat: records each call; fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.failing: str | None = None

    def __call__(self, objects: Sequence[dict[str, Any]]) -> list[str]:
        self.calls.append(list(objects))
        if self.failing is not None:
            raise ClusterError(self.failing)
        return [f"applied {o['metadata']['name']}" for o in objects]


def keeper(recording: Recording, metrics: Metrics, now: list[float]) -> NativeGuardSync:
    sync = NativeGuardSync(lambda: recording, name="pw-guard", metrics=metrics)
    sync.clock = lambda: now[0]
    return sync


def test_each_generation_is_compiled_once_and_applied_when_it_changed_or_now_and_then() -> None:
    recording, metrics, now = Recording(), Metrics(), [100.0]
    sync = keeper(recording, metrics, now)
    first = LoadedPolicies(policies(RESERVED))
    assert sync.sync(first) and sync.sync(first)
    expected = guard_policies(first.policies, name="pw-guard")
    assert recording.calls == [expected]
    assert [o["metadata"]["name"] for o in expected] == ["pw-guard", "pw-guard-audit"]
    assert expected[0] != inert_policy("pw-guard")
    assert expected[1] == inert_policy("pw-guard-audit")  # the example has no audit reservation
    same_file_again = LoadedPolicies(policies(RESERVED))  # a new generation, the same objects
    assert sync.sync(same_file_again) and len(recording.calls) == 1
    assert b"placement_webhook_native_guard_in_step 1.0" in metrics.render()
    now[0] += REAPPLY_SECONDS  # someone may have edited or replaced the policy meanwhile
    assert sync.sync(same_file_again) and len(recording.calls) == 2
    none = LoadedPolicies(policies((ROOT / "policies.yaml").read_text()))  # no reservation left
    assert sync.sync(none)
    assert recording.calls[-1] == [inert_policy("pw-guard"), inert_policy("pw-guard-audit")]


def test_a_failed_apply_is_shown_retried_and_logged_once_per_problem(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recording, metrics, now = Recording(), Metrics(), [100.0]
    recording.failing = "apply validatingadmissionpolicy pw-guard: 403 forbidden"
    sync = keeper(recording, metrics, now)
    loaded = LoadedPolicies(policies(RESERVED))
    with caplog.at_level(logging.ERROR, logger="placement_webhook"):
        assert not sync.sync(loaded)
        assert not sync.sync(loaded) and len(recording.calls) == 1  # not asked again at once
        now[0] += RETRY_SECONDS
        assert not sync.sync(loaded) and len(recording.calls) == 2
    assert [r.getMessage() for r in caplog.records] == ["native guard not applied; retrying"]
    assert sync.problem == "native guard not applied: apply validatingadmissionpolicy pw-guard: 403 forbidden"
    assert b"placement_webhook_native_guard_in_step 0.0" in metrics.render()
    recording.failing = None
    changed = LoadedPolicies(policies(RESERVED + "\n# changed\n"))  # a new generation: tried at once
    assert sync.sync(changed) and sync.problem is None and len(recording.calls) == 3
    assert b"placement_webhook_native_guard_in_step 1.0" in metrics.render()


def test_the_adapter_is_made_once_at_the_first_apply() -> None:
    made: list[int] = []
    recording = Recording()

    def make() -> Recording:
        made.append(1)
        return recording

    sync = NativeGuardSync(make, name="g", metrics=Metrics())
    assert made == []
    sync.sync(LoadedPolicies(policies(RESERVED)))
    sync.sync(LoadedPolicies(policies(RESERVED.replace("[gpu-operator]", "[gpu-operator-2]"))))
    assert made == [1] and len(recording.calls) == 2


def test_native_placement_is_kept_with_the_guard_and_audit_policies_are_left_to_the_webhook(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recording, metrics = Recording(), Metrics()
    sync = NativeGuardSync(lambda: recording, name=None, metrics=metrics, placement="pw")
    shipped = LoadedPolicies(policies((ROOT / "policies.yaml").read_text()))  # one audit policy
    with caplog.at_level(logging.WARNING):
        assert sync.sync(shipped)
    names = [(o["kind"], o["metadata"]["name"]) for o in recording.calls[0]]
    assert names == [
        ("MutatingAdmissionPolicy", "pw"),
        ("ValidatingAdmissionPolicy", "pw-deny"),
        ("ValidatingAdmissionPolicy", "pw-warn"),
    ]
    assert recording.calls[0][1] == inert_placement_policies("pw")[1]  # no onConflict: deny
    assert recording.calls[0] == placement_policies(shipped.policies, name="pw")
    assert "mig-servers" not in str(recording.calls[0][0])  # the audit policy: not compiled
    assert [r.getMessage() for r in caplog.records] == ["policy not placed natively"]
    nothing = LoadedPolicies(policies("version: 1\npolicies: []\n"))
    assert sync.sync(nothing)
    mutating = recording.calls[-1][0]["spec"]["mutations"][0]["jsonPatch"]["expression"]
    assert mutating == NO_PATCH and recording.calls[-1][1:] == inert_placement_policies("pw")[1:]
