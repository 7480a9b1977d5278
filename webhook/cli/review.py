"""``review``: dry-run the policies on Pods or AdmissionReviews, answering exactly as the server would.

With ``reservations`` in the policy file the summary also shows the reservation guard's verdict
(``POST /validate``), judged as the API server runs it: after every mutation, on the Pod as our
own ``/mutate`` left it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook.admission.request import AdmissionRequest, parse_admission_review
from webhook.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_policies_option,
    add_recursive_option,
    as_list,
    check_label_values,
    expand_inputs,
    namespace_name,
    policies_from,
    policies_line,
    print_object,
    require_cluster_for_kubeconfig,
)
from webhook.cli.files import read_manifests, report_skipped
from webhook.cli.helptext import add_verb
from webhook.cli.namespacelabels import (
    add_cluster_labels_option,
    add_namespace_labels_option,
    describe_labels,
    namespace_labels_from,
)
from webhook.cli.nodetaints import NodeTaints
from webhook.engine.documents import Subject
from webhook.engine.guard import GuardVerdict
from webhook.engine.handlers import GUARDED_OPERATIONS, Guard, Mutator, after_mutation
from webhook.engine.matching import explain_selection
from webhook.engine.memo import LoadedPolicies
from webhook.engine.review import Review
from webhook.errors import InputError, NodeTaintsUnknownError
from webhook.kube.objects import read_pod_facts
from webhook.policy.compiled import PolicySet
from webhook.simulation.seldon import Manifests

_VERDICTS = {"match": "match:  ", "audit": "audit:  ", "skip": "skip:   "}
_FORMATS = {
    "patch": "json",
    "review": "json",
    "request": "json",
    "json": "json",
    "pod": "yaml",
    "yaml": "yaml",
}


MUTATOR, GUARD = Mutator(), Guard()


@dataclass(frozen=True)
class GuardDecision:
    """What ``/validate`` decided for a request: its verdict, None when it skips the request or
    cannot decide (``undecided``: why; the server answers 502 and failurePolicy decides)."""

    request: AdmissionRequest
    verdict: GuardVerdict | None
    undecided: str | None = None


def _summary(
    subject: Subject,
    request: AdmissionRequest,
    review: Review | None,
    policies: PolicySet,
    labels: Mapping[str, str] | None,
) -> list[str]:
    """What the server decided for this review, in words; the same decision as ``-o review``."""
    if review is None:
        kind = request.kind.kind
        return [
            f"{kind} {subject.display_name}",
            f"  outcome: skipped (not a Pod CREATE: {request.skip_reason()};"
            " the webhook only mutates Pod CREATE)",
        ]
    facts = read_pod_facts(subject.pod, namespace=subject.namespace, namespace_labels=labels)
    server = f"server {facts.server_name}" if facts.server_name else "not a Seldon server"
    lines = [f"Pod {subject.display_name} ({server}, type {facts.server_type or '-'})"]
    if subject.origin:
        lines.append(f"  from:   {subject.origin} (the Pod its controller creates)")
    if policies.uses_namespace_selector:
        lines.append(f"  namespace labels: {describe_labels(labels)}")
    for name, verdict, reason in explain_selection(policies, facts):
        note = f": {reason}" if reason else " (audit mode: only warns)" if verdict == "audit" else ""
        lines.append(f"  {_VERDICTS[verdict]}{name}{note}")
    if review.policy is None:
        lines.append("  policy: none matched")
    lines.append(
        f"  outcome: {review.outcome}" + (f" ({len(review.patch)} patch ops)" if review.patch else "")
    )
    lines += _plan_lines(review)
    lines += [f"  warning: {w}" for w in review.warnings]
    if review.denial:
        lines.append(f"  denied: {review.denial}")
    return lines


def judge(
    parsed: AdmissionRequest,
    review: Review | None,
    loaded: LoadedPolicies,
    labels: Mapping[str, str] | None,
    node_taints: Callable[[str], Sequence[Mapping[str, Any]] | None] | None = None,
) -> GuardDecision | str | None:
    """The guard's decision, the one-line reason the server would answer 400, or None without
    reservations (the guard then allows everything unseen). ``node_taints``: the taints of the
    node a Pod being created names in ``spec.nodeName``, as the server's Node cache gives them."""
    if not loaded.policies.reservations:
        return None
    try:
        guarded = after_mutation(parsed, review)
        node = GUARD.wants_node(guarded, loaded)
        taints = node_taints(node) if node is not None and node_taints is not None else None
        return GuardDecision(guarded, GUARD.decide(guarded, loaded, labels, taints))
    except InputError as exc:
        return str(exc)
    except NodeTaintsUnknownError as exc:
        return GuardDecision(guarded, None, undecided=f"{exc}: give them with --nodes FILE or --cluster")


def guard_lines(guard: GuardDecision | str | None) -> list[str]:
    """The guard's verdict in words: each reserved taint the Pod tolerates and what entitles it."""
    if guard is None:
        return []
    if isinstance(guard, str):
        return [f"  guard: malformed request (400: {guard})"]
    verdict = guard.verdict
    if guard.undecided is not None:
        return [
            f"  guard: no answer (the server answers 502: {guard.undecided});"
            " the chart's nodeName webhook fails closed, so the Pod is refused"
        ]
    if verdict is None:
        return [
            f"  guard: skipped (not a Pod CREATE or UPDATE: {guard.request.skip_reason(GUARDED_OPERATIONS)})"
        ]
    if not verdict.judgements:
        return ["  guard: untouched (tolerates no reserved taint)"]
    lines = [f"  guard: {verdict.outcome}"]
    for j in verdict.judgements:
        refused = "refused" if j.mode == "enforce" else "refused (audit mode: only warns)"
        through = (
            [f"toleration{'s' * (len(j.tolerations) > 1)} {', '.join(j.tolerations)}"]
            if j.tolerations
            else []
        )
        through += [f"spec.nodeName {j.node}"] if j.node is not None else []
        lines.append(f"  reserved: {j.taint} ({'; '.join(through)}): {j.granted_by or refused}")
    lines += [f"  warning: {w}" for w in verdict.warnings]
    if verdict.message:
        lines.append(f"  denied: {verdict.message}")
    return lines


def _plan_lines(review: Review) -> list[str]:
    plan = review.plan
    if plan is None:
        return []
    if plan.unschedulable:
        return [f"  conflict: {plan.unschedulable}"]
    if plan.conflicts:
        return [f"  conflict on: {', '.join(plan.conflicts)}"]
    return [f"  added:  {what}" for what in plan.describe()] if review.outcome == "patched" else []


def _output(subject: Subject, request: dict[str, Any], uid: str, review: Review | None, output: str) -> Any:
    """The one value ``-o OUTPUT`` prints for this Pod (``json``/``yaml``: the mutated Pod)."""
    if output == "patch":
        return review.patch if review else []
    if output == "request":
        return request
    if output == "review":
        return MUTATOR.respond(review).review(uid)
    return review.pod if review else subject.pod


def _namespaces_of(namespaces: dict[str, Mapping[str, str] | None]) -> list[dict[str, Any]]:
    """The Namespace manifests that carry the labels a review used: among the inputs of a second
    run (``review -o request | review -``), they give the same labels."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}
        for name, labels in namespaces.items()
        if labels is not None
    ]


def cmd_review(args: argparse.Namespace) -> int:
    require_cluster_for_kubeconfig(args)
    files = expand_inputs(args.files, recursive=args.recursive)
    policies = policies_from(args)  # first: a refusal of two stdin readers comes before any reading
    manifests, namespaces = read_manifests(files, namespace=args.namespace)
    report_skipped(manifests)
    for model in manifests.models:
        print(f"note: {model.source}: skipped: review shows Pods (simulate checks Models)", file=sys.stderr)
    subjects = manifests.subjects
    if not subjects:
        raise InputError(f"no Pods in the inputs ({', '.join(files)}){_what_was_read(manifests, namespaces)}")
    check_label_values(subjects)
    namespace_labels = namespace_labels_from(args, namespaces, policies)
    node_taints = NodeTaints(nodes_file=args.nodes, cluster=args.cluster, kubeconfig=args.kubeconfig)
    if args.output == "summary":
        print(policies_line(policies))
    denied, values = False, []
    used: dict[str, Mapping[str, str] | None] = {}
    loaded = LoadedPolicies(policies)
    for i, subject in enumerate(subjects):
        request = subject.admission_review()
        labels = namespace_labels(subject.namespace)
        used.setdefault(subject.namespace, labels)
        parsed = parse_admission_review(request)
        review = MUTATOR.decide(parsed, loaded, labels)
        guard = judge(parsed, review, loaded, labels, node_taints)
        refusals = _refusals(subject, review, guard)
        denied |= bool(refusals)
        if args.output == "summary":
            lines = _summary(subject, parsed, review, policies, labels) + guard_lines(guard)
            print(("\n" if i else "") + "\n".join(lines))
        else:
            for line in refusals:  # a pipe keeps the unchanged Pod: the refusal goes to stderr
                print(f"error: {line}", file=sys.stderr)
            values.append(_output(subject, request, parsed.uid, review, args.output))
    if args.output == "request" and policies.uses_namespace_selector:
        values = _namespaces_of(used) + values
    if values:  # several Pods are one document, a List, as kubectl prints them
        print_object(values[0] if len(values) == 1 else as_list(values), fmt=_FORMATS[args.output])
    return EXIT_FAILURE if denied else EXIT_OK


def _what_was_read(manifests: Manifests, namespaces: Mapping[str, Any]) -> str:
    found = [f"{len(namespaces)} Namespace(s)"] if namespaces else []
    found += [f"{len(manifests.skipped)} other document(s)"] if manifests.skipped else []
    found += [f"{len(manifests.models)} Model(s)"] if manifests.models else []
    return f": only {', '.join(found)}" if found else ""


def _refusals(subject: Subject, review: Review | None, guard: GuardDecision | str | None) -> list[str]:
    """One line per refusal of this Pod: the mutator's denial, the guard's."""
    who = f"Pod {subject.display_name}" + (f" (from {subject.origin})" if subject.origin else "")
    lines = []
    if review is not None and not review.allowed:
        lines.append(f"{who} denied: {review.denial}")
    if isinstance(guard, GuardDecision) and guard.verdict is not None and not guard.verdict.allowed:
        lines.append(f"{who} refused by the reservation guard: {guard.verdict.message}")
    if isinstance(guard, GuardDecision) and guard.undecided is not None:
        lines.append(f"{who} refused: the reservation guard cannot judge it: {guard.undecided}")
    return lines


def add_review_parser(commands: Any) -> None:
    review = add_verb(commands, "review", help="dry-run the policies on Pods or AdmissionReviews")
    review.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="Pod or AdmissionReview YAML/JSON, a directory of them; - for stdin",
    )
    add_recursive_option(review)
    add_policies_option(review)
    review.add_argument(
        "-o",
        "--output",
        choices=["summary", "patch", "pod", "review", "request", "json", "yaml"],
        default="summary",
        help="what to print (default summary); json and yaml: the mutated Pod (pod: the same as yaml);"
        " patch: the JSON Patch; review: the AdmissionReview answer; request: the AdmissionReview"
        " sent (with the Namespaces whose labels decided, when a policy uses namespaceSelector)",
    )
    review.add_argument(
        "-n",
        "--namespace",
        type=namespace_name,
        help="namespace for objects without metadata.namespace (default: default)",
    )
    add_namespace_labels_option(review)
    review.add_argument(
        "--nodes",
        metavar="FILE",
        help="Nodes (a List or documents, - for stdin): the taints of a node a Pod names in"
        " spec.nodeName, which the reservation guard judges it by (with --cluster: GET node)",
    )
    add_cluster_labels_option(review)
    review.set_defaults(handler=cmd_review)
