"""The reservation guard: a Pod may tolerate a reserved taint only when it is placed there or allowed.

A taint keeps ordinary Pods off the GPU nodes only while they do not tolerate it, and anyone can
write ``tolerations: [{operator: Exists}]``. For every reserved taint (``reservations`` in the
policy file) that one of the Pod's tolerations tolerates (``ToleratesTaint``, see
``webhook.kube.tolerations``), the Pod must be entitled to it, checked in this order:

1. the first matching enforce policy grants a toleration of that taint and the Pod carries its
   placement (``placement_carried``: the Pod as the API server sends it to ``/validate`` already
   does, validating webhooks run after all mutation). A policy that conflicted, an audit policy,
   or one whose placement the Pod lacks entitles to nothing: the Pod's own tolerations never
   entitle themselves;
2. an ``allow`` rule of the reservation holds for the Pod;
3. on UPDATE, the update adds no toleration of it: every toleration of the new Pod that tolerates
   it is covered by one of the old Pod's (``tolerationSeconds`` aside, which the API server lets
   an update change), so a Pod admitted before the reservation existed never starts failing its
   label or status updates.

A Pod not entitled is denied (``mode: enforce``) or admitted with a warning (``mode: audit``).
Nothing here does I/O; ``webhook.engine.handlers.Guard`` serves it as ``POST /validate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from webhook.admission.response import WARNING_PREFIX, short_warning
from webhook.engine.matching import select_policy
from webhook.engine.placement_fields import (
    field_of,
    pod_node_selector,
    pod_terms,
    pod_tolerations,
    read_placement_fields,
    typed,
)
from webhook.errors import NodeTaintsUnknownError, PodShapeError
from webhook.kube.objects import RawObject, as_dict, as_list, pod_display_name, read_pod_facts
from webhook.kube.selectors import is_empty_term
from webhook.kube.tolerations import describe_toleration, tolerates_reserved, tolerates_superset
from webhook.policy.compiled import CompiledPolicy, PolicySet
from webhook.policy.reservations import CompiledReservation

GuardOutcome = Literal["allowed", "denied", "audit", "untouched"]

DEFAULT_ACCESS = (
    "to get access, let a placement policy place the Pod (`placement-webhook review` shows which"
    " one matches) or ask the platform team to add it to the reservation's allow rules"
)


@dataclass(frozen=True)
class TaintJudgement:
    """One reserved taint the Pod tolerates or is bound to: through which tolerations or which node
    (``spec.nodeName``), and what entitles it."""

    taint: str  # as kubectl prints taints: seldon-gpu-srv:NoSchedule (any value)
    reservation: int  # index in ``reservations``
    mode: Literal["enforce", "audit"]
    tolerations: tuple[str, ...]  # the Pod's tolerations that tolerate it, described
    granted_by: str | None  # "policy gpu-servers", "allow[0] (namespaces [gpu-operator])", ...
    node: str | None = None  # the node the Pod names in spec.nodeName, when that node carries it

    @property
    def granted(self) -> bool:
        return self.granted_by is not None


@dataclass(frozen=True)
class GuardVerdict:
    """What the guard decided for one Pod. ``untouched``: it tolerates no reserved taint."""

    outcome: GuardOutcome
    message: str | None = None  # the denial: the taints, the tolerations, how to get access
    warnings: list[str] = field(default_factory=list)
    judgements: tuple[TaintJudgement, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome != "denied"

    @property
    def taints(self) -> tuple[str, ...]:
        """Every reserved taint the Pod tolerates, granted or not."""
        return tuple(j.taint for j in self.judgements)

    @property
    def refused(self) -> tuple[TaintJudgement, ...]:
        """The reserved taints the Pod tolerates without being entitled to (denied or audited)."""
        return tuple(j for j in self.judgements if not j.granted)


UNTOUCHED = GuardVerdict("untouched")


def _tolerations(pod: RawObject) -> list[Mapping[str, Any]]:
    listed = as_dict(pod.get("spec")).get("tolerations")
    return [t for t in listed if isinstance(t, Mapping)] if isinstance(listed, list) else []


def _tolerating(
    tolerations: list[Mapping[str, Any]], reservation: CompiledReservation
) -> list[Mapping[str, Any]]:
    key, value, effect = reservation.key, reservation.value, reservation.effect
    return [t for t in tolerations if tolerates_reserved(t, key=key, value=value, effect=effect)]


def tolerates_a_reserved_taint(pod: RawObject, policies: PolicySet) -> bool:
    """Whether the guard has anything to judge in ``pod``: only then can which policy places it
    matter, and so the namespace's labels (the server looks them up only then)."""
    tolerations = _tolerations(pod)
    return bool(tolerations) and any(_tolerating(tolerations, r) for r in policies.reservations)


def _without_seconds(toleration: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in toleration.items() if k != "tolerationSeconds"}


def _already_had(new: list[Mapping[str, Any]], old: list[Mapping[str, Any]]) -> bool:
    """Every one of ``new`` is covered by one of ``old`` (``isSuperset``, tolerationSeconds aside)."""
    olds = [_without_seconds(o) for o in old]
    return all(any(tolerates_superset(o, _without_seconds(t)) for o in olds) for t in new)


def grants(policy: CompiledPolicy, reservation: CompiledReservation) -> bool:
    """The policy's placement gives its Pods a toleration of the reserved taint."""
    return bool(_tolerating(list(policy.tolerations), reservation))


def _expression_identity(expr: Any) -> tuple[Any, ...]:
    """A requirement's identity, as the planner skips one already present: key, operator, values as a set."""
    if not isinstance(expr, Mapping):
        return ()
    values = expr.get("values")
    return (expr.get("key"), expr.get("operator"), frozenset(values) if isinstance(values, list) else None)


def placement_carried(pod: RawObject, policy: CompiledPolicy) -> bool:
    """Whether the Pod carries what keeps it to ``policy``'s nodes, as ``/mutate`` leaves a Pod it
    placed (validating webhooks see the Pod after every mutation): a toleration covering each of the
    policy's (``isSuperset``), each of its ``nodeSelector`` pairs, and each of its required node
    affinity requirements in every non-empty ``nodeSelectorTerm`` (an empty term matches no node).

    A policy that conflicted (warn or deny) left the Pod without it, and so did one whose Pod
    ``/mutate`` never saw or whose placement another mutation took away: they entitle to nothing.
    Preferred terms are not asked for: they keep a Pod nowhere. The native ValidatingAdmissionPolicy
    (``webhook.native``) checks exactly this in CEL, which is why it is a check of the Pod as it is
    rather than a replay of the planner (a Pod carrying all of it whose own affinity contradicts it
    can be scheduled nowhere, so it is harmless either way)."""
    try:
        fields = read_placement_fields(pod)
        tolerations = pod_tolerations(fields)
        node_selector = pod_node_selector(fields)
        affinity = typed(fields.affinity, kind=dict, where="spec.affinity")
        node_affinity = field_of(affinity, "nodeAffinity", kind=dict, where="spec.affinity.nodeAffinity")
        terms = pod_terms(node_affinity)
    except PodShapeError:
        return False
    if any(not any(tolerates_superset(o, t) for o in tolerations) for t in policy.tolerations):
        return False
    if any(node_selector.get(key) != value for key, value in policy.node_selector.items()):
        return False
    if not policy.required:
        return True
    if terms is None:
        return False
    wanted = {_expression_identity(e) for e in policy.required}
    return all(
        is_empty_term(term)
        or wanted <= {_expression_identity(e) for e in as_list(as_dict(term).get("matchExpressions"))}
        for term in terms
    )


def _entitlement(
    pod: RawObject,
    reservation: CompiledReservation,
    tolerating: list[Mapping[str, Any]],
    *,
    namespace: str,
    policy: CompiledPolicy | None,
    old_tolerations: list[Mapping[str, Any]] | None,
) -> str | None:
    """What lets the Pod tolerate this reserved taint, in words, or None. ``policy``: the enforce
    policy that applies to the Pod, when the Pod carries its placement (``placement_carried``)."""
    if policy is not None and grants(policy, reservation):
        return f"policy {policy.name}"
    for rule in reservation.allow:
        if rule.holds(pod, namespace):
            return rule.description
    if old_tolerations is not None and _already_had(tolerating, old_tolerations):
        return "the update adds no toleration of it"
    return None


def _refusal(judgements: list[TaintJudgement], *, who: str, update: bool) -> str:
    """Which reserved taints the Pod may not have, through which of its tolerations or its node."""
    why = "but no enforce policy places it there and no allow rule admits it"
    taints = "taint" if len(judgements) == 1 else "taints"
    if all(j.node is not None and not j.tolerations for j in judgements):
        node = judgements[0].node
        listed = ", ".join(j.taint for j in judgements)
        return (
            f"Pod {who} names node {node} in spec.nodeName, skipping the scheduler, and that node"
            f" carries the reserved {taints} {listed}, {why}"
        )
    what = ", ".join(f"{j.taint} ({'; '.join(_through(j))})" for j in judgements)
    verb = "is updated to tolerate the reserved" if update else "tolerates the reserved"
    return f"Pod {who} {verb} {taints} {what}, {why}"


def _through(judgement: TaintJudgement) -> list[str]:
    """How the Pod gets past the taint: its tolerations, and the node it names that carries it."""
    parts = []
    if judgement.tolerations:
        many = "s" * (len(judgement.tolerations) > 1)
        parts.append(f"toleration{many} {', '.join(judgement.tolerations)}")
    if judgement.node is not None:
        parts.append(f"and spec.nodeName {judgement.node}, a node that carries it")
    return parts


def _access(reservations: list[CompiledReservation], *, default: str | None) -> str:
    """``; `` and the reservations' messages (each once), or ``default``; empty when there is none."""
    messages = list(dict.fromkeys(r.reservation.message for r in reservations if r.reservation.message))
    text = "; ".join(messages) if messages else default
    return f"; {text}" if text else ""


def bound_node(pod: RawObject) -> str | None:
    """The node a Pod names in ``spec.nodeName``: created so, it skips the scheduler (and with it
    every taint but NoExecute ones), so a reserved node's taint keeps it off only through the guard."""
    name = as_dict(pod.get("spec")).get("nodeName")
    return name if isinstance(name, str) and name else None


def _reserved_on_node(
    policies: PolicySet, node_taints: Sequence[Mapping[str, Any]] | None
) -> frozenset[int] | None:
    """The indexes of the reservations whose taint the node carries; None when its taints are unknown."""
    if node_taints is None:
        return None
    taints = [t for t in node_taints if isinstance(t, Mapping)]
    return frozenset(r.index for r in policies.reservations if any(r.carried_by(t) for t in taints))


def guard_pod(
    pod: RawObject,
    *,
    namespace: str,
    policies: PolicySet,
    operation: str = "CREATE",
    old_pod: RawObject | None = None,
    namespace_labels: Mapping[str, str] | None = None,
    node_taints: Sequence[Mapping[str, Any]] | None = None,
) -> GuardVerdict:
    """Judge ``pod`` (never modified) against every reservation of ``policies``.

    ``old_pod`` is the Pod before an UPDATE; on UPDATE without it the Pod is judged as created.
    ``namespace_labels`` as for ``review_pod``: which enforce policy applies, and so grants its
    tolerations, may depend on them (``NamespaceLabelsUnknownError`` when unknown and they would).
    ``node_taints``: the taints of the node a Pod being created names in ``spec.nodeName`` (None:
    unknown; ``NodeTaintsUnknownError`` unless the Pod is entitled to every reserved taint anyway).
    An UPDATE cannot change ``spec.nodeName`` (``ValidatePodUpdate``), so only CREATE is judged on it."""
    if not policies.reservations:
        return UNTOUCHED
    tolerations = _tolerations(pod)
    node = bound_node(pod) if operation == "CREATE" else None
    if not tolerations and node is None:
        return UNTOUCHED
    on_node = _reserved_on_node(policies, node_taints) if node is not None else frozenset()
    old_tolerations = _tolerations(old_pod) if operation == "UPDATE" and old_pod is not None else None
    policy: CompiledPolicy | None = None
    policy_read = False
    judgements: list[TaintJudgement] = []
    for reservation in policies.reservations:
        tolerating = _tolerating(tolerations, reservation) if tolerations else []
        bound = on_node is None or reservation.index in on_node
        if not tolerating and not bound:
            continue
        if not policy_read:  # the match only for Pods that tolerate a reserved taint or are bound
            facts = read_pod_facts(pod, namespace=namespace, namespace_labels=namespace_labels)
            policy, policy_read = select_policy(policies, facts), True
            if policy is not None and not placement_carried(pod, policy):
                policy = None
        granted_by = _entitlement(
            pod, reservation, tolerating, namespace=namespace, policy=policy, old_tolerations=old_tolerations
        )
        if on_node is None and granted_by is None:
            assert node is not None  # on_node is None only for a Pod bound to a node
            raise NodeTaintsUnknownError(node)
        if not tolerating and on_node is None:
            continue  # entitled to it anyway: whether the node carries it does not matter
        judgements.append(
            TaintJudgement(
                taint=reservation.taint,
                reservation=reservation.index,
                mode=reservation.reservation.mode,
                tolerations=tuple(describe_toleration(t) for t in tolerating),
                granted_by=granted_by,
                node=node if bound and on_node is not None else None,
            )
        )
    if not judgements:
        return UNTOUCHED
    return _verdict(
        judgements,
        policies,
        who=pod_display_name(pod, namespace=namespace),
        update=old_tolerations is not None,
    )


def _verdict(
    judgements: list[TaintJudgement], policies: PolicySet, *, who: str, update: bool
) -> GuardVerdict:
    by_index = {r.index: r for r in policies.reservations}
    enforced = [j for j in judgements if not j.granted and j.mode == "enforce"]
    audited = [j for j in judgements if not j.granted and j.mode == "audit"]
    warnings = []
    for j in audited:  # audit: one short line each, the access hint only when the reservation has one
        line = _refusal([j], who=who, update=update) + _access([by_index[j.reservation]], default=None)
        warnings.append(short_warning(f"audit: {line}"))
    if enforced:
        refused = [by_index[j.reservation] for j in enforced]
        message = _refusal(enforced, who=who, update=update) + _access(refused, default=DEFAULT_ACCESS)
        return GuardVerdict("denied", WARNING_PREFIX + message, warnings, tuple(judgements))
    return GuardVerdict("audit" if audited else "allowed", None, warnings, tuple(judgements))
