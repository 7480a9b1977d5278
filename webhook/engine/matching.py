"""Which policy applies to a Pod: the first whose every compiled criterion holds."""

from __future__ import annotations

from webhook.kube.objects import PodFacts
from webhook.policy.compiled import CompiledPolicy, PolicySet


def mismatch_reason(policy: CompiledPolicy, facts: PodFacts) -> str | None:
    """None when ``policy`` matches the Pod, else the first criterion that fails, in words."""
    for holds, explain in policy.criteria:
        if not holds(facts):
            return explain(facts)
    return None


def select_policy(policies: PolicySet, facts: PodFacts) -> CompiledPolicy | None:
    """The first policy that matches, or None: at most one policy applies to a Pod."""
    for policy in policies.policies:
        for holds, _ in policy.criteria:
            if not holds(facts):
                break
        else:
            return policy
    return None


def explain_selection(policies: PolicySet, facts: PodFacts) -> list[tuple[str, str | None]]:
    """(policy name, mismatch reason) for each policy up to and including the one that applies."""
    explained: list[tuple[str, str | None]] = []
    for policy in policies.policies:
        reason = mismatch_reason(policy, facts)
        explained.append((policy.name, reason))
        if reason is None:
            break
    return explained
