"""The native guard (``--native-guard NAME``) and native placement (``--native-placement NAME``)
kept in step with the policies in force.

After each load the server compiles the reservations into a ValidatingAdmissionPolicy and binding
(``webhook.native``) and applies them (``webhook.cluster.native_guard``), from the reload thread,
never the event loop. The objects are remembered as last applied: an unchanged file costs one
compile per generation and no API call but a re-apply every ``REAPPLY_SECONDS`` (which also
puts back an edited or replaced policy). A failed apply (no RBAC, API server unreachable) is logged
once per distinct problem, shown in ``/readyz`` and by ``placement_webhook_native_guard_in_step``
0, and tried again (at a poll at least ``RETRY_SECONDS`` later, at once for a new generation). It
never makes the server unready: ``/validate`` still guards; the native policy is the second line,
for when no replica answers.

Between a reload and the apply the native objects still judge by the previous file, so a file
that tightens a reservation is enforced natively a poll later than by ``/validate``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from webhook.engine.memo import LoadedPolicies
from webhook.errors import PlacementWebhookError
from webhook.native import guard_policies
from webhook.native.placement_policy import native_problems, placement_policies
from webhook.server.logs import LOGGER
from webhook.server.metrics import Metrics

log = logging.getLogger(LOGGER)

RETRY_SECONDS = 10.0  # after a failed apply: an API server refusing us is not asked every poll

#: the policies -> what was done; ``webhook.cluster.native_guard.apply_native_guard`` with its client
Apply = Callable[[Sequence[dict[str, Any]]], list[str]]
#: seconds between applies of an unchanged spec: someone may have edited or replaced the objects
REAPPLY_SECONDS = 60.0


class NativeGuardSync:
    """Compile and apply the native guard for each generation of the policies, until it holds."""

    def __init__(
        self,
        apply: Callable[[], Apply],
        *,
        name: str | None,
        metrics: Metrics,
        placement: str | None = None,
    ) -> None:
        self._make_apply = apply
        self._apply: Apply | None = None
        self.name, self.metrics, self.placement = name, metrics, placement
        self.applied: str | None = None  # the JSON of the objects last applied
        self.applied_at = 0.0
        self.compiled_for: LoadedPolicies | None = None
        self.objects: list[dict[str, Any]] = []
        self.problem: str | None = None
        self.retry_at = 0.0  # monotonic time before which a failed apply is not tried again
        self.clock: Callable[[], float] = time.monotonic

    def _compile(self, loaded: LoadedPolicies) -> list[dict[str, Any]]:
        objects = [] if self.name is None else guard_policies(loaded.policies, name=self.name)
        if self.placement is not None:
            objects += placement_policies(loaded.policies, name=self.placement)
            for policy, reason in native_problems(loaded.policies):
                log.warning(
                    "policy not placed natively", extra={"fields": {"policy": policy, "reason": reason}}
                )
        return objects

    def sync(self, loaded: LoadedPolicies) -> bool:
        """Bring the cluster's native guard in step with ``loaded``; True when it is. Blocking."""
        if loaded is not self.compiled_for:
            self.objects = self._compile(loaded)
            self.compiled_for, self.retry_at = loaded, 0.0
        wanted = json.dumps(self.objects, sort_keys=True)
        if wanted == self.applied and self.clock() < self.applied_at + REAPPLY_SECONDS:
            return True
        if self.clock() < self.retry_at:
            return False
        try:
            if self._apply is None:
                self._apply = self._make_apply()
            done = self._apply(self.objects)
        except PlacementWebhookError as exc:
            self.metrics.native_guard_in_step.set(0)
            problem = f"native guard not applied: {exc}"
            if problem != self.problem:
                log.error("native guard not applied; retrying", extra={"fields": {"error": str(exc)}})
            self.problem, self.retry_at = problem, self.clock() + RETRY_SECONDS
            return False
        fresh = wanted != self.applied
        self.applied, self.applied_at, self.problem = wanted, self.clock(), None
        self.metrics.native_guard_in_step.set(1)
        if fresh:  # the periodic re-apply of the same spec is not worth a line
            log.info("native guard in step", extra={"fields": {"done": done}})
        return True
