"""The plan memo: what each policy did to a Pod, remembered by the Pod's placement key.

Seldon server Pods of one server share a template, so most admissions ask a policy about the same
placement fields again; answering from the memo skips the planner and the op builder. The memo
belongs to one generation of the policy file (``LoadedPolicies``): a reload starts afresh, as the
entries are keyed by the policy's index in its file. It is bounded, in entries and in key size,
whatever Pods come.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from webhook.admission.response import encode_patch
from webhook.engine.placement import PlacementPlan
from webhook.engine.review import Outcome, Review, policy_review
from webhook.kube.objects import RawObject
from webhook.kube.patches import RecordedAdds
from webhook.policy.compiled import CompiledPolicy, PolicySet

#: Entries kept before the memo starts afresh: a cluster has far fewer Pod placement shapes than
#: this; a flood of distinct ones only costs misses.
PLAN_ENTRIES = 4096
#: The longest placement key remembered: real placements are a few hundred bytes; with this bound
#: the memo stays under ~20 MB whatever Pods come.
PLAN_KEY_BYTES = 2048


@dataclass(slots=True)
class _Remembered:
    """What one policy did to a Pod, kept to answer every later Pod with the same placement key:
    the review less the Pod, and the ops as steps to replay on the next one."""

    outcome: Outcome
    warnings: tuple[str, ...]
    denial: str | None
    plan: PlacementPlan | None
    adds: RecordedAdds | None
    encoded: str = ""  # the ops as the AdmissionReview carries them

    def review(self, pod: RawObject, name: str) -> Review:
        if self.adds is None:
            return Review(self.outcome, pod, name, [], list(self.warnings), self.denial, self.plan)
        return Review.recorded(self.outcome, pod, name, self.adds, self.encoded, self.plan)


class PlanMemo:
    """``policy_review`` answered from memory for Pods whose placement key was seen before.

    The results are equal (a property test compares them over generated Pods): the plan and the
    ops depend on nothing but the fields the key is made of (``read_placement_fields``)."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[tuple[int, bytes], _Remembered] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry: object) -> bool:
        """Whether ``(policy index, placement key)`` is remembered."""
        return entry in self._entries

    def review(self, pod: RawObject, key: bytes | None, policy: CompiledPolicy) -> Review:
        """What ``policy`` does to ``pod``, whose ``placement_key`` is ``key`` (None: not
        remembered); keys over ``PLAN_KEY_BYTES`` are not remembered either."""
        if key is None or len(key) > PLAN_KEY_BYTES:
            return policy_review(pod, policy)
        entries = self._entries
        remembered = entries.get((policy.index, key))
        if remembered is not None:
            return remembered.review(pod, policy.name)
        review = policy_review(pod, policy)
        if len(entries) >= PLAN_ENTRIES:
            entries.clear()
        if review.patch:
            adds, encoded = RecordedAdds.of(review.patch, review.pod), encode_patch(review.patch)
            remembered = _Remembered(review.outcome, (), review.denial, review.plan, adds, encoded)
        else:
            remembered = _Remembered(review.outcome, tuple(review.warnings), review.denial, review.plan, None)
        entries[(policy.index, key)] = remembered
        return review


@dataclass(frozen=True)
class LoadedPolicies:
    """One generation of the policy file as the handlers run on it: the compiled policies and the
    plan memo that belongs to them (the server swaps both at once on a reload)."""

    policies: PolicySet
    memo: PlanMemo = field(default_factory=PlanMemo, compare=False, repr=False)
