"""Which policies a Pod gets: the first matching enforce policy applies, every matching audit policy warns."""

from __future__ import annotations

from typing import Literal

from webhook.kube.objects import PodFacts
from webhook.policy.compiled import CompiledPolicy, PolicySet


def mismatch_reason(policy: CompiledPolicy, facts: PodFacts) -> str | None:
    """None when ``policy`` matches the Pod, else the first criterion that fails, in words."""
    for holds, explain in policy.criteria:
        if not holds(facts):
            return explain(facts)
    return None


def _matches(policy: CompiledPolicy, facts: PodFacts) -> bool:
    return all(holds(facts) for holds, _ in policy.criteria)


def matching_policies(policies: PolicySet, facts: PodFacts) -> list[CompiledPolicy]:
    """In file order: every matching audit policy and the first matching enforce policy.

    Audit policies only warn, so they never shadow: a Pod an audit policy matches still gets the
    first enforce policy that matches it, before or after the audit policy."""
    chosen: list[CompiledPolicy] = []
    enforced = False
    for policy in policies.policies:  # the hot path: _matches inlined
        audit = policy.policy.mode == "audit"
        if enforced and not audit:
            continue
        for holds, _ in policy.criteria:
            if not holds(facts):
                break
        else:
            chosen.append(policy)
            enforced |= not audit
    return chosen


def select_policy(policies: PolicySet, facts: PodFacts) -> CompiledPolicy | None:
    """The policy that applies, or None: the first matching enforce policy (at most one per Pod)."""
    return next((p for p in policies.policies if p.policy.mode != "audit" and _matches(p, facts)), None)


Verdict = Literal["match", "audit", "skip"]


def explain_selection(policies: PolicySet, facts: PodFacts) -> list[tuple[str, Verdict, str | None]]:
    """(policy name, verdict, mismatch reason) for every policy up to the enforce policy that
    applies (``match``), then for each later audit policy that matches (``audit``: it only warns)."""
    explained: list[tuple[str, Verdict, str | None]] = []
    applied = False
    for policy in policies.policies:
        audit = policy.policy.mode == "audit"
        reason = mismatch_reason(policy, facts)
        if applied and (not audit or reason is not None):
            continue
        verdict: Verdict = "skip" if reason is not None else "audit" if audit else "match"
        explained.append((policy.name, verdict, reason))
        applied |= verdict == "match"
    return explained
