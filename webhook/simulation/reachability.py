"""Checks of a policy file against real nodes: does each policy place its Pods where it means to?

Each policy is tried on a *probe Pod*: an otherwise empty Pod (with the API server's default
tolerations, and requesting the literal extended resources its ``match.resources`` names) after
the policy's placement is applied. Findings, in file order:

- error: an enforce policy whose placement fits no node (its Pods would stay Pending); for an
  audit policy the same is a warning;
- warning: a policy that tolerates a taint carried by some nodes but whose Pods also fit nodes
  without it, i.e. a toleration with no affinity keeping the Pods in the pool (Seldon's own
  caution: taints alone do not place a Pod);
- warning: a node offering an extended resource (GPUs, MIG slices) that no enforce policy reaches;
- warning: a policy no Pod can reach because an earlier one matches every Pod it matches
  (judged conservatively: it is only reported when the earlier match provably covers it);
- warning: a reserved taint (``reservations``) that no node carries: it reserves nothing, most
  likely a misspelt key, value or effect;
- warning: an enforce policy that tolerates a reserved taint it does not *own*. A policy owns a
  reserved taint when its Pods can land on a node carrying it (its probe Pod fits one). One that
  tolerates the taint but fits no such node only lets its Pods past the guard, never onto those
  nodes: usually a toleration broader than the placement (``operator: Exists`` without a key).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Literal

from webhook.engine.placement import apply_plan, plan_placement
from webhook.kube.objects import RawObject, node_taints, string_labels
from webhook.kube.tolerations import describe_toleration, go_string, tolerates_reserved
from webhook.policy.compiled import CompiledPolicy, PolicySet
from webhook.policy.reservations import CompiledReservation
from webhook.simulation.admission_plugins import (
    add_default_tolerations,
    add_extended_resource_tolerations,
    is_extended_resource,
)
from webhook.simulation.scheduling import (
    FILTER_EFFECTS,
    NodeFit,
    fit_nodes,
    missing_resources,
    node_name,
    node_resources,
    offered_extended,
)
from webhook.simulation.scheduling import tolerations_tolerate as tolerate

GPU_LABEL = "nvidia.com/gpu.product"  # set by GPU feature discovery; used when a node states no resources
MAX_LISTED = 3


@dataclass(frozen=True)
class Finding:
    severity: Literal["error", "warning"]
    message: str


def probe_pod(policy: CompiledPolicy, *, extended_resource_toleration: bool = False) -> RawObject:
    """The Pod a policy places, stripped of everything the Pod itself could add."""
    requests = {r: "1" for r in _literal_extended(policy)}
    container = {"name": "probe", "image": "probe", "resources": {"requests": requests}}
    pod: RawObject = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"probe-{policy.name}"}}
    pod["spec"] = {"containers": [container]}
    pod = add_default_tolerations(pod)
    if extended_resource_toleration:
        pod = add_extended_resource_tolerations(pod)
    return apply_plan(pod, plan_placement(pod, policy))[0]


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _placement_findings(policy: CompiledPolicy, fits: list[NodeFit], nodes: list[RawObject]) -> list[Finding]:
    """Fits no node, or fits nodes outside the pool its tolerations open."""
    fitting = [f.node for f in fits if f.fits]
    if not fitting:
        reasons = [f"{f.node}: {f.reason}" for f in fits]
        severity: Literal["error", "warning"] = "error" if policy.policy.mode == "enforce" else "warning"
        return [
            Finding(
                severity, f"{policy.name}: its placement fits no node ({'; '.join(reasons[:MAX_LISTED])})"
            )
        ]
    pool = {
        node_name(n)
        for n in nodes
        if any(t.get("effect") in FILTER_EFFECTS and tolerate(policy.tolerations, t) for t in node_taints(n))
    }
    findings = _resource_findings(policy, fitting, nodes)
    outside = [name for name in fitting if name not in pool]
    if not (policy.tolerations and pool and outside):
        return findings
    tolerated = ", ".join(describe_toleration(t) for t in policy.tolerations)
    message = (
        f"{policy.name}: tolerates {tolerated} but its Pods also fit {_listing(outside)}, outside the"
        " tainted pool; add nodeAffinity or nodeSelector (a taint alone does not place a Pod)"
    )
    return [*findings, Finding("warning", message)]


def _resource_findings(policy: CompiledPolicy, fitting: list[str], nodes: list[RawObject]) -> list[Finding]:
    """The policy matches Pods requesting a literal extended resource: do its nodes all offer it?"""
    wanted = _literal_extended(policy)
    by_name = {node_name(n): n for n in nodes}
    lacking = [name for name in fitting if missing_resources(by_name[name], wanted)]
    if not (wanted and lacking):
        return []
    return [
        Finding(
            "warning",
            f"{policy.name}: its Pods request {', '.join(wanted)}"
            f" but also fit {_listing(lacking)}, where none is offered",
        )
    ]


def _literal_extended(policy: CompiledPolicy) -> list[str]:
    """The extended resources ``match.resources`` names without globs: every matched Pod requests one."""
    return [r for r in policy.policy.match.resources or [] if is_extended_resource(r) and not _has_glob(r)]


def _accelerators(node: RawObject) -> str | None:
    """What makes a node a GPU node, in words, or None: offered extended resources, else the GPU label."""
    offered = offered_extended(node)
    if offered:
        return ", ".join(f"{k}: {v}" for k, v in sorted(offered.items()))
    product = string_labels(node).get(GPU_LABEL)
    return f"{GPU_LABEL}={product}" if node_resources(node) is None and product else None


def _has_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _globs_cover(earlier: list[str] | None, later: list[str] | None) -> bool:
    """Every string some ``later`` glob matches is matched by an ``earlier`` glob.

    Sound for ``*``-only earlier globs: if one matches the later pattern's own text, each ``*`` of
    the later pattern falls inside one of its ``*``, so every expansion matches too.
    """
    if earlier is None:
        return True
    if later is None:
        return False
    return all(
        any(
            fnmatch.fnmatchcase(pattern, glob)
            and (not _has_glob(pattern) or not any(c in glob for c in "?["))
            for glob in earlier
        )
        for pattern in later
    )


def _selector_covers(earlier: dict[str, Any], later: dict[str, Any]) -> bool:
    """The later podSelector implies the earlier one: its labels and expressions are all in it."""
    later_labels, later_exprs = later.get("matchLabels") or {}, later.get("matchExpressions") or []
    return all(later_labels.get(k) == v for k, v in (earlier.get("matchLabels") or {}).items()) and all(
        e in later_exprs for e in earlier.get("matchExpressions") or []
    )


def shadows(earlier: CompiledPolicy, later: CompiledPolicy) -> bool:
    """True when every Pod ``later`` matches is matched by ``earlier`` (first match wins)."""
    a, b = earlier.policy.match, later.policy.match
    return (
        _globs_cover(a.namespaces, b.namespaces)
        and _globs_cover(a.servers, b.servers)
        and _subset(b.server_types, a.server_types)
        and _subset(a.capabilities, b.capabilities, absent_is_all=False)
        and _globs_cover(a.resources, b.resources)
        and (
            a.pod_selector is None
            or (
                b.pod_selector is not None
                and _selector_covers(
                    a.pod_selector.model_dump(by_alias=True), b.pod_selector.model_dump(by_alias=True)
                )
            )
        )
    )


def _enforced(*policies: CompiledPolicy) -> bool:
    """Only an enforce policy shadows, and only an enforce policy can be shadowed: audit ones only warn."""
    return all(p.policy.mode == "enforce" for p in policies)


def _subset(small: list[str] | None, big: list[str] | None, *, absent_is_all: bool = True) -> bool:
    """``small`` ⊆ ``big`` where an absent list means "any value" (or "nothing required")."""
    if absent_is_all:
        return big is None or (small is not None and set(small) <= set(big))
    return small is None or (big is not None and set(small) <= set(big))


def _shadowed(policies: PolicySet, i: int) -> Finding | None:
    policy = policies.policies[i]
    shadow = next((p for p in policies.policies[:i] if _enforced(p, policy) and shadows(p, policy)), None)
    if shadow is None:
        return None
    return Finding(
        "warning", f"{policy.name}: unreachable: {shadow.name} comes first and matches every Pod it matches"
    )


#: the shipped MutatingWebhookConfiguration's objectSelector (charts/placement-webhook values.yaml
#: ``webhook.objectSelector``, rendered into deploy/base): only Pods with this label are sent
SENT_LABEL = "seldon-server-name"


def _unsent(policy: CompiledPolicy) -> Finding | None:
    """A policy that can match Pods the shipped webhook configuration never sends to ``/mutate``."""
    if policy.policy.match.needs_seldon_server:
        return None
    return Finding(
        "warning",
        f"{policy.name}: also matches Pods without the {SENT_LABEL} label (it sets none of servers,"
        f" serverTypes, capabilities), but the shipped webhook configuration sends only Pods with it;"
        " to place others, widen the chart value webhook.objectSelector",
    )


def file_findings(policies: PolicySet) -> list[Finding]:
    """What the file alone shows, without nodes: patterns that never match, shadowed policies,
    policies whose Pods the shipped webhook configuration is not sent."""
    findings = [Finding("warning", w) for w in policies.warnings]
    findings += [f for i in range(len(policies)) if (f := _shadowed(policies, i)) is not None]
    return findings + [f for p in policies.policies if (f := _unsent(p)) is not None]


def check_policies(
    policies: PolicySet,
    nodes: list[RawObject],
    *,
    extended_resource_toleration: bool = False,
    shadowed: bool = True,
) -> list[Finding]:
    """Every finding for ``policies`` against ``nodes``, policy by policy, then the unreached GPU
    nodes; ``shadowed=False`` leaves out the shadowed policies (``file_findings`` has them)."""
    findings: list[Finding] = []
    reached: set[str] = set()
    fitting: dict[str, set[str]] = {}  # enforce policy -> the nodes its probe Pod fits
    for i, policy in enumerate(policies.policies):
        shadow = _shadowed(policies, i) if shadowed else None
        if shadow is not None:
            findings.append(shadow)
        fits = fit_nodes(probe_pod(policy, extended_resource_toleration=extended_resource_toleration), nodes)
        findings += _placement_findings(policy, fits, nodes)
        if policy.policy.mode == "enforce":
            fitting[policy.name] = {f.node for f in fits if f.fits}
            reached |= fitting[policy.name]
    for node in nodes:
        offered = _accelerators(node)
        if offered and node_name(node) not in reached:
            findings.append(
                Finding("warning", f"GPU node {node_name(node)} ({offered}) is reached by no enforce policy")
            )
    for reservation in policies.reservations:
        findings += _reservation_findings(reservation, policies, nodes, fitting)
    return findings


def _carries(node: RawObject, reservation: CompiledReservation) -> bool:
    """The node has a taint the reserved taint stands for (an open value or effect: any)."""
    return any(
        go_string(t.get("key")) == reservation.key
        and (reservation.value is None or go_string(t.get("value")) == reservation.value)
        and (reservation.effect is None or go_string(t.get("effect")) == reservation.effect)
        for t in node_taints(node)
    )


def _reservation_findings(
    reservation: CompiledReservation,
    policies: PolicySet,
    nodes: list[RawObject],
    fitting: dict[str, set[str]],
) -> list[Finding]:
    """The reserved taint is on no node; an enforce policy grants it without owning it."""
    carrying = {node_name(n) for n in nodes if _carries(n, reservation)}
    taint = reservation.taint
    if not carrying:
        message = (
            f"reservation {taint}: no node carries this taint, so it reserves nothing"
            " (check its key, value and effect)"
        )
        return [Finding("warning", message)]
    findings = []
    for policy in policies.policies:
        fits = fitting.get(policy.name)
        granted = [
            t
            for t in policy.tolerations
            if tolerates_reserved(t, key=reservation.key, value=reservation.value, effect=reservation.effect)
        ]
        if fits and granted and not fits & carrying:
            tolerations = ", ".join(describe_toleration(t) for t in granted)
            message = (
                f"{policy.name}: tolerates the reserved taint {taint} ({tolerations}) but its Pods fit no"
                f" node carrying it ({_listing(sorted(carrying))}): the toleration only lets them past"
                " the guard; narrow it to the taints of the nodes the policy places its Pods on"
            )
            findings.append(Finding("warning", message))
    return findings


def render_findings(findings: list[Finding], *, nodes: int, where: str) -> list[str]:
    """The findings under one heading line, then a count."""
    lines = [f"checked against {nodes} nodes from {where}:"]
    lines += [f"  {f.severity}: {f.message}" for f in findings]
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    lines.append(counts if findings else "  no findings")
    return lines
