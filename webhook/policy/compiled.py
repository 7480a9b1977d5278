"""A validated policy compiled for the hot path: criteria as predicates, placement as raw dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from webhook.kube.selectors import Requirement
from webhook.policy.criteria import Criterion, compile_match
from webhook.policy.model import Policy
from webhook.policy.reservations import CompiledReservation


@dataclass(frozen=True)
class CompiledPolicy:
    """A validated policy, precompiled for the hot path: globs as regexes, placement as raw dicts."""

    index: int
    policy: Policy
    criteria: tuple[Criterion, ...]
    tolerations: tuple[dict[str, Any], ...]
    node_selector: dict[str, str]
    required: tuple[dict[str, Any], ...]
    preferred: tuple[dict[str, Any], ...]
    requirements_by_key: dict[str, list[Requirement]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.policy.name


def compile_policy(policy: Policy, *, index: int) -> CompiledPolicy:
    match, placement = policy.match, policy.placement
    return CompiledPolicy(
        index=index,
        policy=policy,
        criteria=compile_match(match),
        tolerations=tuple(t.to_kubernetes() for t in placement.tolerations),
        node_selector=dict(placement.node_selector),
        required=tuple(e.to_kubernetes() for e in placement.node_affinity.required),
        preferred=tuple(t.to_kubernetes() for t in placement.node_affinity.preferred),
        requirements_by_key=placement.requirements_by_key(),
    )


@dataclass(frozen=True)
class PolicySet:
    """What the engine runs on: the ordered compiled policies, the reserved taints the guard
    keeps for them, and where they came from."""

    policies: tuple[CompiledPolicy, ...]
    source: str = "<memory>"
    reservations: tuple[CompiledReservation, ...] = ()
    #: some policy matches on namespaceSelector: the server needs the namespace cache (computed once)
    uses_namespace_selector: bool = field(init=False)

    def __post_init__(self) -> None:
        uses = any(p.policy.match.namespace_selector is not None for p in self.policies)
        object.__setattr__(self, "uses_namespace_selector", uses)  # frozen: set once, here

    def __len__(self) -> int:
        return len(self.policies)
