"""What the mutator decided for one Pod, before any wire encoding: ``Review``, and the review of
one policy alone (``policy_review``), which ``review_pod`` combines over the matching policies.
"""

from __future__ import annotations

from typing import Any, Literal

from webhook.admission.response import WARNING_PREFIX, encode_patch
from webhook.engine.placement import PlacementPlan, apply_plan, plan_placement
from webhook.errors import PodShapeError
from webhook.kube.objects import RawObject
from webhook.kube.patches import PatchOp, RecordedAdds, apply_recorded
from webhook.policy.compiled import CompiledPolicy

Outcome = Literal["patched", "unchanged", "audit", "conflict", "denied", "skipped", "malformed"]


class Review:
    """What the engine decided for one Pod, before any wire encoding; read-only by convention.

    ``policy`` is the enforce policy that applied or, when none did, the first audit policy that
    had something to say; ``audits`` names every matching audit policy (they only warn).

    A review answered from the plan memo builds its ``patch`` and its mutated ``pod`` when they
    are first read, from the recorded ops and the Pod it was given: the admission server reads
    neither (it sends the memo's encoded patch), the CLI both. Do not modify the given Pod before
    reading ``pod``. A plain slotted class rather than a dataclass for those lazy fields;
    equality and repr are a dataclass's."""

    __slots__ = ("_encoded", "_patch", "_pending", "_pod", "audits", "denial", "outcome", "plan", "policy",
                 "warnings")  # fmt: skip

    def __init__(
        self,
        outcome: Outcome,
        pod: RawObject,
        policy: str | None = None,
        patch: list[PatchOp] | None = None,
        warnings: list[str] | None = None,
        denial: str | None = None,
        plan: PlacementPlan | None = None,
        audits: tuple[str, ...] = (),
    ) -> None:
        self.outcome = outcome
        self._pod = pod
        self._patch: list[PatchOp] | None = [] if patch is None else patch
        # from the memo: the ops not yet built (``_patch`` None) or not yet applied to ``_pod``
        self._pending: RecordedAdds | None = None
        self._encoded: str | None = None  # from the memo: ``_patch`` as the wire's base64 JSON
        self.policy = policy
        self.warnings: list[str] = [] if warnings is None else warnings
        self.denial = denial
        self.plan = plan
        self.audits = audits

    @classmethod
    def recorded(cls, outcome: Outcome, pod: RawObject, policy: str, adds: RecordedAdds, encoded: str,
                 plan: PlacementPlan | None) -> Review:  # fmt: skip
        """A patching review whose ops (``adds``, on the wire ``encoded``) are built when read."""
        review = cls(outcome, pod, policy, plan=plan)
        review._patch, review._pending, review._encoded = None, adds, encoded
        return review

    @property
    def patch(self) -> list[PatchOp]:
        """The JSON Patch ops that turn the given Pod into ``pod``."""
        if self._patch is None:
            assert self._pending is not None
            self._patch = self._pending.ops()
        return self._patch

    @patch.setter
    def patch(self, ops: list[PatchOp]) -> None:
        """Replace the ops; a pending mutated Pod is built from the recorded ones first."""
        if self._pending is not None:
            self._pod, self._pending = apply_recorded(self._pod, self._pending, self.patch), None
        self._patch, self._encoded = ops, None

    @property
    def pod(self) -> RawObject:
        """The Pod after the review: the one given when nothing changed, else a mutated copy."""
        if self._pending is not None:
            self._pod, self._pending = apply_recorded(self._pod, self._pending, self.patch), None
        return self._pod

    @pod.setter
    def pod(self, pod: RawObject) -> None:
        self._pod, self._pending = pod, None

    @property
    def patch_ops(self) -> int:
        """How many ops ``patch`` has, without building them."""
        if self._patch is None and self._pending is not None:
            return len(self._pending.steps)
        return len(self.patch)

    def encoded_patch(self) -> str | None:
        """The patch as the AdmissionReview carries it (base64 of its JSON), None without ops."""
        if self._encoded is None and self.patch:
            self._encoded = encode_patch(self.patch)
        return self._encoded

    @property
    def allowed(self) -> bool:
        return self.denial is None

    def _fields(self) -> tuple[Any, ...]:
        return (self.outcome, self.pod, self.policy, self.patch, self.warnings, self.denial, self.plan,
                self.audits)  # fmt: skip

    def __eq__(self, other: object) -> bool:
        return self._fields() == other._fields() if isinstance(other, Review) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq

    def __repr__(self) -> str:
        names = ("outcome", "pod", "policy", "patch", "warnings", "denial", "plan", "audits")
        return f"Review({', '.join(f'{n}={v!r}' for n, v in zip(names, self._fields(), strict=True))})"


def conflict_message(name: str, plan: PlacementPlan) -> str:
    """Why ``plan`` was not applied, naming the policy and the keys (or the unschedulable affinity)."""
    if plan.unschedulable:
        return f"policy {name} conflicts with the Pod's own placement: {plan.unschedulable}"
    return f"policy {name} conflicts with the Pod's own placement on {', '.join(plan.conflicts)}"


def policy_review(pod: RawObject, policy: CompiledPolicy) -> Review:
    """What one policy alone does to ``pod`` (warnings unshortened); audit policies never mutate."""
    name, settings = policy.name, policy.policy
    audit = settings.mode == "audit"
    try:
        plan = plan_placement(pod, policy)
    except PodShapeError as exc:
        line = f"{'audit: ' * audit}Pod not placed by {name}: {exc}"
        return Review("malformed", pod, name, warnings=[line])
    if plan.has_conflict:
        message = conflict_message(name, plan)
        if audit:
            enforced = "; would deny in enforce mode" if settings.on_conflict == "deny" else ""
            return Review("audit", pod, name, warnings=[f"audit: {message}{enforced}"], plan=plan)
        if settings.on_conflict == "deny":
            return Review("denied", pod, name, denial=WARNING_PREFIX + message, plan=plan)
        return Review("conflict", pod, name, warnings=[f"{message}; not applied"], plan=plan)
    if plan.is_empty:
        return Review("unchanged", pod, name, plan=plan)
    if audit:
        lines = [f"audit: policy {name} would add {what}" for what in plan.describe()]
        return Review("audit", pod, name, warnings=lines, plan=plan)
    mutated, ops = apply_plan(pod, plan)
    return Review("patched", mutated, name, patch=ops, plan=plan)
