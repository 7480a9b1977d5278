"""Entitlement bound to facts a tenant cannot forge (the threat model in SECURITY.md).

A tenant writes every field of the Pods (and Deployments, Jobs, DaemonSets...) in their own
namespaces: labels, the Seldon agent's env, resource requests, annotations, ownerReferences,
tolerations. What they cannot write is the namespace a Pod is created in (RBAC) and a Namespace's
labels (cluster-scoped). So a rule that lets Pods tolerate a reserved taint — an enforce policy
whose placement tolerates it, or a reservation's ``allow`` rule — must name namespaces (a list
that is not every namespace) or a ``namespaceSelector``; otherwise any tenant can write their way
onto the reserved nodes (a ``seldon-server-name`` label and a GPU request are enough). Such a rule
is refused unless it says why the risk is accepted (``acceptForgeable: <reason>``).
"""

from __future__ import annotations

from webhook.kube.tolerations import describe_toleration, tolerates_reserved
from webhook.policy.model import AllowRule, Match, Policy, Reservation

Problem = tuple[tuple[int | str, ...], str]

#: what each match field reads, in the words of whoever writes it
_FORGEABLE_FIELDS = (
    ("servers", "the seldon-server-name label"),
    ("server_types", "the agent's SELDON_SERVER_TYPE env"),
    ("capabilities", "the agent's SELDON_SERVER_CAPABILITIES env"),
    ("resources", "resource requests"),
    ("pod_selector", "Pod labels"),
)


def _every_namespace(patterns: list[str] | None) -> bool:
    """No namespace list, or one with a pattern that matches every name (only ``*``)."""
    return patterns is None or any(set(p) <= {"*"} for p in patterns)


def binds_namespaces(match: Match) -> bool:
    """The match holds only in some namespaces: by name, or by labels only admins write."""
    selector = match.namespace_selector
    if selector is not None and (selector.match_labels or selector.match_expressions):
        return True
    return not _every_namespace(match.namespaces)


def _forgeable_fields(match: Match) -> str:
    fields = [words for name, words in _FORGEABLE_FIELDS if getattr(match, name) is not None]
    if not fields:
        return "matches every Pod"
    return "matches on " + (fields[0] if len(fields) == 1 else ", ".join(fields[:-1]) + " and " + fields[-1])


def _granted(policy: Policy, reservation: Reservation) -> list[str]:
    taint = reservation.taint
    return [
        describe_toleration(t.to_kubernetes())
        for t in policy.placement.tolerations
        if tolerates_reserved(t.to_kubernetes(), key=taint.key, value=taint.value, effect=taint.effect)
    ]


def _rule_words(rule: AllowRule) -> str:
    words = ["Pod labels"] * (rule.pod_selector is not None) + ["DaemonSet ownerReferences"] * bool(
        rule.daemon_sets
    )
    return " and ".join(words)


def forgeable_entitlements(
    policies: list[tuple[int, Policy]], reservations: list[tuple[int, Reservation]]
) -> list[Problem]:
    """Every rule that grants a reserved taint (of an ``enforce`` reservation) on facts any tenant
    can write, without ``acceptForgeable``: one problem each, naming the taint and the fields.
    ``policies`` and ``reservations``: the entries of the file that are valid on their own, with
    their indexes (the others have problems of their own)."""
    problems: list[Problem] = []
    enforced = [r for _, r in reservations if r.mode == "enforce"]
    for i, policy in policies:
        if policy.mode != "enforce" or policy.accept_forgeable or binds_namespaces(policy.match):
            continue
        for reservation in enforced:
            granted = _granted(policy, reservation)
            if granted:
                problems.append(
                    (
                        ("policies", i, "match"),
                        f"grants the reserved taint {reservation.taint.describe()} (toleration"
                        f" {', '.join(granted)}) in every namespace and {_forgeable_fields(policy.match)},"
                        " which any tenant can write: add namespaces or namespaceSelector, or set"
                        " acceptForgeable to the reason",
                    )
                )
    for index, reservation in reservations:
        if reservation.mode != "enforce":
            continue
        for j, rule in enumerate(reservation.allow):
            # an empty rule is refused on its own ("must set namespaces, podSelector or daemonSets")
            if rule.accept_forgeable or rule.is_empty() or not _every_namespace(rule.namespaces):
                continue
            problems.append(
                (
                    ("reservations", index, "allow", j),
                    f"admits Pods to the reserved taint {reservation.taint.describe()} in every namespace"
                    f" by {_rule_words(rule)}, which any tenant can write: add namespaces, or set"
                    " acceptForgeable to the reason",
                )
            )
    return problems
