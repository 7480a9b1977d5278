"""Which policies a Pod gets: the first matching enforce policy applies, every matching audit policy warns."""

from __future__ import annotations

from typing import Literal

from webhook.errors import NamespaceLabelsUnknownError
from webhook.kube.objects import PodFacts
from webhook.policy.compiled import CompiledPolicy, PolicySet


def mismatch_reason(policy: CompiledPolicy, facts: PodFacts) -> str | None:
    """None when ``policy`` matches the Pod, else the first criterion that fails, in words; a
    namespaceSelector that cannot be evaluated (labels unknown) is a reason too."""
    for holds, explain in policy.criteria:
        try:
            if not holds(facts):
                return explain(facts)
        except NamespaceLabelsUnknownError:
            return explain(facts)
    return None


def _matches(policy: CompiledPolicy, facts: PodFacts) -> bool:
    try:
        return all(holds(facts) for holds, _ in policy.criteria)
    except NamespaceLabelsUnknownError as exc:
        raise NamespaceLabelsUnknownError(exc.namespace, policy=policy.name) from None


def matching_policies(
    policies: PolicySet, facts: PodFacts, *, unevaluated: list[CompiledPolicy] | None = None
) -> list[CompiledPolicy]:
    """In file order: every matching audit policy and the first matching enforce policy.

    Audit policies only warn, so they never shadow: a Pod an audit policy matches still gets the
    first enforce policy that matches it, before or after the audit policy.

    When the namespace's labels are unknown and a policy's namespaceSelector decides (every other
    criterion held): an enforce policy raises ``NamespaceLabelsUnknownError`` (which policy applies
    cannot be known), an audit policy is left out and appended to ``unevaluated``."""
    chosen: list[CompiledPolicy] = []
    enforced = False
    for policy in policies.policies:  # the hot path: _matches inlined
        audit = policy.policy.mode == "audit"
        if enforced and not audit:
            continue
        try:
            for holds, _ in policy.criteria:
                if not holds(facts):
                    break
            else:
                chosen.append(policy)
                enforced |= not audit
        except NamespaceLabelsUnknownError as exc:
            if not audit:
                raise NamespaceLabelsUnknownError(exc.namespace, policy=policy.name) from None
            if unevaluated is not None:
                unevaluated.append(policy)
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
