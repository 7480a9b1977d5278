"""The mutator's decision for one Pod: the first matching enforce policy applies, and every
matching audit policy adds its warnings (``review_pod``); nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from webhook.admission.response import short_warnings
from webhook.engine.matching import matching_policies
from webhook.engine.memo import PlanMemo
from webhook.engine.placement_fields import placement_key
from webhook.engine.review import Review, policy_review
from webhook.kube.objects import RawObject, read_pod_facts
from webhook.policy.compiled import CompiledPolicy, PolicySet


def review_pod(
    pod: RawObject,
    *,
    namespace: str,
    policies: PolicySet,
    namespace_labels: Mapping[str, str] | None = None,
    memo: PlanMemo | None = None,
) -> Review:
    """Apply the first matching enforce policy to ``pod`` (never modified) and say what happened.

    Every matching audit policy, wherever it stands in the file, adds its warnings (in file
    order) and never keeps an enforce policy from applying. ``namespace_labels`` are the labels
    of the Pod's Namespace, None when unknown: then an enforce policy whose namespaceSelector
    decides raises ``NamespaceLabelsUnknownError`` (no answer), an audit one is skipped with a warning.
    ``memo``: the plan memo of ``policies`` (``LoadedPolicies``); without one, every plan is computed."""
    facts = read_pod_facts(pod, namespace=namespace, namespace_labels=namespace_labels)
    unevaluated: list[CompiledPolicy] = []
    candidates = policies.candidates(namespace, facts.server_name)
    matched = matching_policies(candidates, facts, unevaluated=unevaluated)
    if memo is None:
        results = [(p, policy_review(pod, p)) for p in matched]
    else:
        key = placement_key(pod) if matched else None
        results = [(p, memo.review(pod, key, p)) for p in matched]
    return _combine(pod, results, unevaluated, namespace=namespace)


def reference_review_pod(
    pod: RawObject,
    *,
    namespace: str,
    policies: PolicySet,
    namespace_labels: Mapping[str, str] | None = None,
) -> Review:
    """``review_pod`` the long way, every policy tried and every plan computed afresh: what the
    fast path must always equal (tests compare the two)."""
    facts = read_pod_facts(pod, namespace=namespace, namespace_labels=namespace_labels)
    unevaluated: list[CompiledPolicy] = []
    matched = matching_policies(policies, facts, unevaluated=unevaluated)
    return _combine(pod, [(p, policy_review(pod, p)) for p in matched], unevaluated, namespace=namespace)


def _combine(
    pod: RawObject,
    results: list[tuple[CompiledPolicy, Review]],
    unevaluated: list[CompiledPolicy],
    *,
    namespace: str,
) -> Review:
    """One review from those of the matching policies (in file order, at most one enforce) and
    the audit policies that could not be evaluated (their warnings join the others in file order)."""
    applied: Review | None = None
    audits: list[Review] = []
    lines: list[str] = []
    steps: list[tuple[CompiledPolicy, Review | None]] = list(results)
    if unevaluated:  # rare
        steps = sorted([*steps, *((p, None) for p in unevaluated)], key=lambda step: step[0].index)
    for policy, result in steps:
        if result is None:
            lines.append(
                f"audit: policy {policy.name} not evaluated: labels of namespace '{namespace}' unknown"
            )
            continue
        lines += result.warnings
        if policy.policy.mode == "audit":
            audits.append(result)
        else:
            applied = result
    names = tuple(a.policy for a in audits if a.policy)
    if applied is None:
        if not audits:
            return Review("unchanged", pod, warnings=short_warnings(lines) if lines else None)
        applied = next((a for a in audits if a.outcome != "unchanged"), audits[0])
    applied.warnings, applied.audits = short_warnings(lines), names  # a Review of our own, just made
    return applied
