"""A validated policy compiled for the hot path: criteria as predicates, placement as raw dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from webhook.kube.selectors import Requirement
from webhook.policy.criteria import Criterion, compile_match
from webhook.policy.model import Policy
from webhook.policy.reservations import CompiledReservation

#: (namespace, server name) pairs ``candidates`` remembers before it starts afresh: a cluster has
#: far fewer than this; a flood of distinct ones only costs misses.
MEMO_ENTRIES = 4096


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

    def may_match(self, namespace: str, server_name: str | None) -> bool:
        """False when the namespace or server criteria alone already rule the Pod out; True
        says nothing (the other criteria decide)."""
        match = self.policy.match
        if match.namespaces and not any(fnmatchcase(namespace, p) for p in match.namespaces):
            return False
        if match.needs_seldon_server and server_name is None:
            return False
        return not match.servers or any(fnmatchcase(server_name or "", p) for p in match.servers)


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
    keeps for them, and where they came from. (What a policy did to a Pod is remembered by the
    engine, per generation of the file: ``webhook.engine.memo``.)"""

    policies: tuple[CompiledPolicy, ...]
    source: str = "<memory>"
    reservations: tuple[CompiledReservation, ...] = ()
    #: ``file:LINE: path: message`` for each pattern that can never match (``validate`` shows them)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    #: some policy matches on namespaceSelector: the server needs the namespace cache (computed once)
    uses_namespace_selector: bool = field(init=False)
    _candidates: dict[tuple[str, str | None], PolicySet] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        uses = any(p.policy.match.namespace_selector is not None for p in self.policies)
        object.__setattr__(self, "uses_namespace_selector", uses)  # frozen: set once, here

    def __len__(self) -> int:
        return len(self.policies)

    def candidates(self, namespace: str, server_name: str | None) -> PolicySet:
        """The policies, in order, that a Pod in ``namespace`` with this ``seldon-server-name``
        (None: unlabelled) may match, by namespace and server name alone; remembered per pair,
        as a cluster has few of them and most policies are for other teams' servers."""
        key = (namespace, server_name)
        found = self._candidates.get(key)
        if found is None:
            if len(self._candidates) >= MEMO_ENTRIES:
                self._candidates.clear()
            kept = tuple(p for p in self.policies if p.may_match(namespace, server_name))
            found = self._candidates[key] = PolicySet(kept, self.source, self.reservations)
        return found
