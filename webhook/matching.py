"""Which policy applies to a Pod: the first whose every given criterion holds."""

from __future__ import annotations

from webhook.objects import PodFacts
from webhook.policies import CompiledPolicy, PolicySet
from webhook.selectors import label_selector_matches


def _listing(values: list[str]) -> str:
    return "[" + ", ".join(values) + "]"


def mismatch_reason(policy: CompiledPolicy, facts: PodFacts) -> str | None:
    """None when ``policy`` matches the Pod, else the first criterion that fails, in words."""
    match = policy.policy.match
    if policy.namespace_glob and not policy.namespace_glob(facts.namespace):
        return f"namespace {facts.namespace!r} not in {_listing(match.namespaces or [])}"
    if match.needs_seldon_server and facts.server_name is None:
        return "not a Seldon server Pod (no seldon-server-name label)"
    if policy.server_glob and not policy.server_glob(facts.server_name or ""):
        return f"server {facts.server_name!r} not in {_listing(match.servers or [])}"
    if match.server_types is not None and facts.server_type not in match.server_types:
        return f"server type {facts.server_type!r} not in {_listing(match.server_types)}"
    if match.capabilities is not None:
        missing = [c for c in match.capabilities if c not in facts.capabilities]
        if missing:
            return f"capabilities lack {_listing(missing)}"
    if policy.resource_glob and not any(policy.resource_glob(r) for r in facts.requested_resources):
        return f"no container requests {_listing(match.resources or [])}"
    if match.pod_selector is not None and not label_selector_matches(policy.selector_dict, facts.labels):
        return "labels do not match podSelector"
    return None


def select_policy(policies: PolicySet, facts: PodFacts) -> CompiledPolicy | None:
    """The first policy that matches, or None: at most one policy applies to a Pod."""
    for policy in policies.policies:
        if mismatch_reason(policy, facts) is None:
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
