"""Where will this server land? One Pod, before and after the policies, against a set of nodes.

Data in, data out: ``simulate_subject`` runs the real engine (``webhook.engine.mutation.review_pod``)
and the scheduler's placement filters (``webhook.simulation.scheduling``) on both Pods; the
renderers only format.
A result has *problems* when the mutated Pod fits no node, is denied, could land on a node that
does not offer an extended resource (GPU, MIG slice) it requests, or has a preferred term that does
not parse while several nodes fit (the scheduler then fails the Pod in PreScore): the CLI exits 1
on any problem.
*Notes* say what could not be checked (a node file without ``status.allocatable``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook.admission.response import WARNING_PREFIX
from webhook.engine.documents import Subject
from webhook.engine.guard import bound_node, guard_pod
from webhook.engine.mutation import review_pod
from webhook.engine.review import Review
from webhook.errors import NodeTaintsUnknownError
from webhook.kube.objects import RawObject, as_dict, as_list, node_taints, read_pod_facts
from webhook.kube.tolerations import describe_toleration, missing_tolerations
from webhook.policy.compiled import PolicySet
from webhook.simulation.admission_plugins import (
    add_default_tolerations,
    add_extended_resource_tolerations,
    is_extended_resource,
)
from webhook.simulation.scheduling import (
    NodeFit,
    NodeFitMemo,
    fit_nodes,
    missing_resources,
    node_name,
    preferred_terms_error,
)


@dataclass(frozen=True)
class Simulation:
    """One Pod's placement before and after the webhook; ``after`` is None when it is denied."""

    subject: Subject
    review: Review
    before: list[NodeFit]
    after: list[NodeFit] | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pre_score_error: str | None = None  # the created Pod's preferred terms fail the scheduler's PreScore
    #: the reservation guard's refusal (``/validate``): then ``after`` is None, the Pod is not created
    guard_refusal: str | None = None


def _resource_checks(
    pod: RawObject, fits: list[NodeFit], nodes: dict[str, RawObject]
) -> tuple[list[str], list[str]]:
    """(problems, notes) for the extended resources the Pod requests on the nodes it fits."""
    facts = read_pod_facts(pod, namespace="")
    wanted = sorted(r for r in facts.requested_resources if is_extended_resource(r))
    problems, unknown = [], []
    for fit in (f for f in fits if f.fits and wanted):
        missing = missing_resources(nodes[fit.node], wanted)
        if missing is None:
            unknown.append(fit.node)
        elif missing:
            problems.append(f"may land on {fit.node}, which offers no {', '.join(missing)}")
    notes = (
        [f"cannot check {', '.join(wanted)} on {', '.join(unknown)}: no status.allocatable"]
        if unknown
        else []
    )
    return problems, notes


def admitted_pod(subject: Subject, *, extended_resource_toleration: bool = False) -> RawObject:
    """The Pod as the webhook and then the scheduler get it. A Pod file (or one built from a
    template) has not been through the API server: its admission plugins that run before the
    mutating webhooks add their tolerations first, ``DefaultTolerationSeconds`` always, then
    ``ExtendedResourceToleration`` when enabled (kube-apiserver's plugin order). An AdmissionReview's
    object is what the webhook received, after those plugins: taken as it is."""
    if subject.request is not None:
        return subject.pod
    pod = add_default_tolerations(subject.pod)
    return add_extended_resource_tolerations(pod) if extended_resource_toleration else pod


def _covered_tolerations(review: Review, pod: RawObject) -> list[str]:
    """A policy toleration not added because one of the Pod's own already covers it: said, so that
    "the policy adds a toleration" and an unchanged toleration list do not look like a bug."""
    plan = review.plan
    if plan is None or plan.has_conflict:
        return []
    own = [as_dict(t) for t in as_list(as_dict(pod.get("spec")).get("tolerations"))]
    notes = []
    for wanted in plan.policy.tolerations:
        if wanted in plan.tolerations:
            continue
        covering = [describe_toleration(t) for t in own if not missing_tolerations([t], [wanted])]
        by = f" (toleration {', '.join(covering)})" if covering else ""
        notes.append(
            f"policy {plan.policy.name}: toleration {describe_toleration(wanted)} not added:"
            f" the Pod already tolerates it{by}"
        )
    return notes


def _taints_of(nodes: list[RawObject], name: str | None) -> list[dict[str, Any]] | None:
    """The taints of the node ``name`` among ``nodes``; None when there is no such node."""
    found = next((n for n in nodes if name is not None and node_name(n) == name), None)
    if found is None:
        return None
    return node_taints(found)


def simulate_subject(
    subject: Subject,
    *,
    nodes: list[RawObject],
    policies: PolicySet,
    extended_resource_toleration: bool = False,
    namespace_labels: Mapping[str, str] | None = None,
    fits: NodeFitMemo | None = None,
) -> Simulation:
    """Review the Pod as the webhook would, then filter and score every node for both Pods;
    ``namespace_labels`` are its namespace's, for namespaceSelector (None: unknown). ``fits``:
    a memo over the same ``nodes``, shared by the Pods of one run."""

    def fit(pod: RawObject) -> list[NodeFit]:
        return fits.fit(pod) if fits is not None and fits.nodes is nodes else fit_nodes(pod, nodes)

    pod = admitted_pod(subject, extended_resource_toleration=extended_resource_toleration)
    labels = namespace_labels
    review = review_pod(pod, namespace=subject.namespace, policies=policies, namespace_labels=labels)
    before = fit(pod)
    if not review.allowed:
        return Simulation(subject, review, before, None, [f"denied: {review.denial}"])
    try:  # a Pod bound by spec.nodeName is judged by that node's taints, when it is among the nodes
        verdict = guard_pod(
            review.pod,
            namespace=subject.namespace,
            policies=policies,
            namespace_labels=labels,
            node_taints=_taints_of(nodes, bound_node(review.pod)),
        )
    except NodeTaintsUnknownError as exc:  # the server answers 502; the nodeName webhook fails closed
        refusal = f"the guard cannot judge it: {exc} (not among the nodes)"
        return Simulation(subject, review, before, None, [f"refused: {refusal}"], guard_refusal=refusal)
    if not verdict.allowed:  # validating webhooks judge the Pod as mutated; refused, it never exists
        refusal = str(verdict.message)
        return Simulation(
            subject, review, before, None, [f"refused by the guard: {refusal}"], guard_refusal=refusal
        )
    after = fit(review.pod)
    problems, notes = _resource_checks(review.pod, after, {node_name(n): n for n in nodes})
    notes = _covered_tolerations(review, pod) + notes
    notes += [f"guard: {w.removeprefix(WARNING_PREFIX)}" for w in verdict.warnings]  # audit mode
    fitting = sum(f.fits for f in after)
    if not fitting:
        problems.insert(0, "fits no node" + (" after the policies" if review.outcome == "patched" else ""))
    pre_score_error = preferred_terms_error(review.pod)
    if pre_score_error and fitting > 1:
        problems.append(
            f"cannot be scheduled: {pre_score_error}; the scheduler's NodeAffinity PreScore fails "
            f"for the whole Pod while {fitting} nodes fit"
        )
    elif pre_score_error and fitting == 1:
        notes.append(f"{pre_score_error}; the scheduler skips scoring only because one node fits")
    return Simulation(subject, review, before, after, problems, notes, pre_score_error)


# --- rendering -------------------------------------------------------------------------------------


def _cell(fit: NodeFit) -> str:
    if not fit.fits:
        return str(fit.reason)
    extras = ([f"score {fit.score}"] if fit.score else []) + [f"prefers not {t}" for t in fit.avoided]
    return "fits" + (f" ({', '.join(extras)})" if extras else "")


#: a reason with several ORed terms grows with each term: in the table it is summarised and cut
#: short so that two such cells fit a row of this width (``-o json|yaml`` keep it whole)
MAX_ROW = 120
_NO_TERM = "affinity: no term matches: "


def _cut(text: str, width: int) -> str:
    """``affinity: N terms fail: a | b`` for ORed terms, at most ``width`` characters (``…``)."""
    if not text.startswith(_NO_TERM):
        return text
    failures = text.removeprefix(_NO_TERM)
    text = f"affinity: {failures.count(' | ') + 1} terms fail: {failures}"
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(rows: list[list[str]]) -> list[str]:
    node_width = max(len(row[0]) for row in rows)
    width = max(40, (MAX_ROW - 2 - node_width - 4) // 2)
    rows = [[row[0], *(_cut(cell, width) for cell in row[1:])] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    ]


def _count(fits: list[NodeFit] | None) -> str:
    return "-" if fits is None else f"{sum(f.fits for f in fits)} of {len(fits)} nodes"


def render_simulation(result: Simulation) -> list[str]:
    """The readable report of one Pod: a node table with a BEFORE and an AFTER column."""
    review, subject = result.review, result.subject
    lines = [f"Pod {subject.display_name} from {subject.source}"]
    lines.append(f"  policy: {review.policy or 'none matched'}, outcome {review.outcome}")
    why = "not created (refused by the guard)" if result.guard_refusal else "not created (denied)"
    after = result.after or [NodeFit(f.node, why) for f in result.before]
    rows = [["NODE", "BEFORE", "AFTER"]] + [
        [b.node, _cell(b), _cell(a)] for b, a in zip(result.before, after, strict=True)
    ]
    lines += ["  " + line for line in _table(rows)]
    lines.append(f"  fits: {_count(result.before)} before, {_count(result.after)} after")
    lines += [f"  problem: {p}" for p in result.problems]
    lines += [f"  note: {n}" for n in result.notes]
    lines += [f"  warning: {w}" for w in review.warnings]
    return lines


def _fits_json(fits: list[NodeFit] | None) -> dict[str, Any] | None:
    if fits is None:
        return None
    return {
        "fits": [f.node for f in fits if f.fits],
        "nodes": [
            {
                "node": f.node,
                "fits": f.fits,
                "reason": f.reason,
                "score": f.score,
                "preferNoSchedule": list(f.avoided),
            }
            for f in fits
        ],
    }


def simulation_json(result: Simulation) -> dict[str, Any]:
    """The same facts for scripts; field names are stable."""
    return {
        "pod": result.subject.display_name,
        "source": result.subject.source,
        "policy": result.review.policy,
        "outcome": result.review.outcome,
        "before": _fits_json(result.before),
        "after": _fits_json(result.after),
        "problems": result.problems,
        "preScoreError": result.pre_score_error,
        "guardRefusal": result.guard_refusal,
        "notes": result.notes,
        "warnings": result.review.warnings,
    }
