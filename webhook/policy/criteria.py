"""A policy's ``match`` compiled into criteria: a cheap predicate and the sentence that explains a miss.

Each ``match`` is compiled once, at load time: regexes compiled from the globs, sets for exact
lists. The hot path only calls predicates; ``explain_selection`` builds sentences for the CLI.
Both walk the same criteria, so the explanation can never disagree with the decision.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable

from webhook.errors import NamespaceLabelsUnknownError
from webhook.kube.objects import PodFacts
from webhook.kube.selectors import label_selector_matches, label_selector_mismatch
from webhook.policy.model import Match

Predicate = Callable[[PodFacts], bool]
Criterion = tuple[Predicate, Callable[[PodFacts], str]]


NO_TYPE = "(no SELDON_SERVER_TYPE)"


def _shown(value: str | None, *, absent: str) -> str:
    """A Pod's value as written in YAML/JSON (double-quoted), or what its absence means."""
    return absent if value is None else json.dumps(value, ensure_ascii=False)


def _listing(values: list[str]) -> str:
    return "[" + ", ".join(values) + "]"


def _glob(patterns: list[str]) -> Callable[[str], bool]:
    """One compiled regex for a list of shell globs (``fnmatchcase`` semantics)."""
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return lambda value: regex.match(value) is not None


glob_matcher = _glob  # for the reservations' allow rules, which glob namespaces the same way


def _resources_predicate(patterns: list[str]) -> Predicate:
    literal = frozenset(p for p in patterns if not any(ch in p for ch in "*?["))
    globbed = [p for p in patterns if p not in literal]
    matcher = _glob(globbed) if globbed else None

    def requested(facts: PodFacts) -> bool:
        names = facts.requested_resources
        if not literal.isdisjoint(names):
            return True
        return matcher is not None and any(matcher(name) for name in names)

    return requested


def _namespace_criterion(selector: dict[str, object]) -> Criterion:
    """namespaceSelector over ``PodFacts.namespace_labels``. Unknown labels (None) cannot be
    matched either way, so the predicate raises ``NamespaceLabelsUnknownError`` and the caller decides
    (an enforce policy: no answer; an audit policy: skipped with a warning). It comes last in the
    criteria, so it is only asked when every other criterion of the policy held."""

    def holds(facts: PodFacts) -> bool:
        labels = facts.namespace_labels
        if labels is None:
            raise NamespaceLabelsUnknownError(facts.namespace, policy="")
        return label_selector_matches(selector, labels)

    def explain(facts: PodFacts) -> str:
        labels = facts.namespace_labels
        if labels is None:
            return (
                f"labels of namespace {json.dumps(facts.namespace)} unknown (namespaceSelector not evaluated)"
            )
        why = label_selector_mismatch(selector, labels)
        return f"namespace {json.dumps(facts.namespace)} labels do not match namespaceSelector: {why}"

    return holds, explain


def compile_match(match: Match) -> tuple[Criterion, ...]:
    """The criteria of ``match`` in evaluation order, cheapest and most selective first."""
    criteria: list[Criterion] = []
    if match.namespaces:
        in_namespaces, namespaces = _glob(match.namespaces), _listing(match.namespaces)
        criteria.append(
            (
                lambda f: in_namespaces(f.namespace),
                lambda f: f"namespace {json.dumps(f.namespace)} not in {namespaces}",
            )
        )
    if match.needs_seldon_server:
        criteria.append(
            (
                lambda f: f.server_name is not None,
                lambda f: "not a Seldon server Pod (no seldon-server-name label)",
            )
        )
    if match.servers:
        in_servers, servers = _glob(match.servers), _listing(match.servers)
        criteria.append(
            (
                lambda f: in_servers(f.server_name or ""),
                lambda f: (
                    f"server {_shown(f.server_name, absent='(no seldon-server-name label)')} not in {servers}"
                ),
            )
        )
    if match.server_types is not None:
        types, listed_types = frozenset(match.server_types), _listing(match.server_types)
        criteria.append(
            (
                lambda f: f.server_type in types,
                lambda f: f"server type {_shown(f.server_type, absent=NO_TYPE)} not in {listed_types}",
            )
        )
    if match.capabilities is not None:
        wanted = match.capabilities
        criteria.append(
            (
                lambda f: f.capabilities.issuperset(wanted),
                lambda f: f"capabilities lack {_listing([c for c in wanted if c not in f.capabilities])}",
            )
        )
    if match.resources:
        resources = _listing(match.resources)
        criteria.append(
            (_resources_predicate(match.resources), lambda f: f"no container requests {resources}")
        )
    if match.pod_selector is not None:
        selector = match.pod_selector.model_dump(by_alias=True)
        criteria.append(
            (
                lambda f: label_selector_matches(selector, f.labels),
                lambda f: "labels do not match podSelector",
            )
        )
    if match.namespace_selector is not None:  # last: only asked once everything else held
        criteria.append(_namespace_criterion(match.namespace_selector.model_dump(by_alias=True)))
    return tuple(criteria)
