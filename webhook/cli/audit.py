"""``audit``: which running Pods today's policies would place differently, grouped by owner.

A thin adapter over ``webhook.simulation.audit``: it gathers Pods, ReplicaSets, Namespaces and the
webhook configuration from files (``kubectl get pods,replicasets -o yaml`` exports) or, read-only,
from the cluster, and prints the report. Exit 1 when a Pod differs, so it can gate CI or run as a
CronJob; 0 when none does; 2 on usage errors, unreadable input or an unreachable cluster (never
confused with "something differs").
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from webhook.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_chunk_size_option,
    add_policies_option,
    add_recursive_option,
    check_label_values,
    expand_inputs,
    namespace_name,
    policies_from,
    policies_line,
    print_object,
)
from webhook.cli.files import read_documents
from webhook.cli.helptext import add_verb
from webhook.cli.pieces import collector_paused
from webhook.cli.progress import Progress, add_quiet_option
from webhook.engine.documents import Subject
from webhook.errors import ClusterError, InputError, NamespaceLabelsUnknownError, shown
from webhook.kube.objects import RawObject, as_dict, string_labels
from webhook.policy.compiled import PolicySet
from webhook.simulation.audit import (
    AuditReport,
    audit_pods,
    replicasets_to_resolve,
)
from webhook.simulation.scope import DEFAULT_SCOPE, WebhookScope, scope_from_configuration

DEFAULT_CONFIGURATION = "placement-webhook"  # the MutatingWebhookConfiguration the chart installs


@dataclass
class Inputs:
    """Everything an audit reads, from files or from the cluster."""

    pods: list[RawObject] = field(default_factory=list)
    replicasets: list[RawObject] = field(default_factory=list)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    scope: WebhookScope = DEFAULT_SCOPE
    source: str = ""


def read_files(paths: list[str], *, namespace: str | None) -> Inputs:
    """Pods, ReplicaSets, Namespaces and at most one MutatingWebhookConfiguration from files."""
    inputs = Inputs(source=", ".join(paths))
    configurations: list[tuple[RawObject, str]] = []
    for path in paths:
        documents, source = read_documents(path)
        for doc in documents:
            kind = doc.get("kind") if isinstance(doc, dict) else None
            if not isinstance(doc, dict):
                raise InputError(f"{source}: a document is not a mapping")
            if kind == "Pod" or (
                kind is None and isinstance(as_dict(doc.get("spec")).get("containers"), list)
            ):
                if namespace and not as_dict(doc.get("metadata")).get("namespace"):
                    doc = {**doc, "metadata": {**as_dict(doc.get("metadata")), "namespace": namespace}}
                inputs.pods.append(doc)
            elif kind == "ReplicaSet":
                inputs.replicasets.append(doc)
            elif kind == "Namespace":
                inputs.namespaces[str(as_dict(doc.get("metadata")).get("name", ""))] = string_labels(doc)
            elif kind == "MutatingWebhookConfiguration":
                configurations.append((doc, source))
            else:
                raise InputError(
                    f"{source}: expected Pods (and ReplicaSets, Namespaces, a MutatingWebhookConfiguration),"
                    f" got kind {shown(kind)}"
                )
    if len(configurations) > 1:
        raise InputError("more than one MutatingWebhookConfiguration among the inputs; give one")
    if configurations:
        config, source = configurations[0]
        name = as_dict(config.get("metadata")).get("name", "")
        try:
            inputs.scope = scope_from_configuration(
                config, source=f"mutatingwebhookconfiguration {name} from {source}"
            )
        except ValueError as exc:
            raise InputError(str(exc)) from exc
    return inputs


def read_cluster(
    kubeconfig: str | None,
    *,
    namespace: str | None,
    configuration: str,
    policies: PolicySet,
    chunk: int = 500,
    progress: Progress | None = None,
) -> Inputs:
    """The same, read-only from the API server: the webhook configuration, the Pods, their
    namespaces' labels and the ReplicaSets of the Pods that differ (to name their Deployments)."""
    from webhook.cluster import client as cluster  # imported here: the kubernetes client is slow to import

    try:
        api = cluster.load_api_client(kubeconfig)
        host = f"cluster {api.configuration.host}"
        config = cluster.get_webhook_configuration(api, configuration)
        if config is None:  # not reached: without missing_ok a missing one is a ClusterError
            raise InputError(f"cluster: mutatingwebhookconfiguration {configuration} not found")
        scope = scope_from_configuration(config, source=f"mutatingwebhookconfiguration {configuration}")
        paging = cluster.Paging(chunk, progress.page if progress is not None else None)
        pods = cluster.list_pods(api, namespace=namespace, paging=paging)
        namespaces = cluster.namespace_labels(api, namespace=namespace, paging=paging)
        wanted = replicasets_to_resolve(pods, policies=policies, scope=scope, namespaces=namespaces)
        found = [cluster.get_replicaset(api, name, namespace=ns) for ns, name in sorted(wanted)]
    except ClusterError as exc:  # the cluster client turns every failure into one line
        raise InputError(f"cluster: {exc}") from exc
    except ValueError as exc:
        raise InputError(f"cluster: {exc}") from exc
    replicasets = [r for r in found if r is not None]
    return Inputs(pods, replicasets, namespaces, scope, host)


def report_json(report: AuditReport, *, policies: PolicySet, inputs: Inputs) -> dict[str, Any]:
    """The stable ``-o json`` document (documented in README "Audit of running Pods")."""
    audited = report.audited
    return {
        "policies": policies.source,
        "source": inputs.source,
        "webhookConfiguration": inputs.scope.source,
        "audited": len(audited),
        "differing": sum(p.differs for p in audited),
        "owners": [
            {
                "kind": g.owner.kind,
                "namespace": g.owner.namespace,
                "name": g.owner.name,
                "via": g.owner.via or None,
                "command": g.owner.command,
                "note": g.owner.note,
                "pods": [
                    {
                        "name": p.name,
                        "status": p.status,
                        "policy": p.policy,
                        "changes": list(p.changes),
                        "message": p.message,
                        "node": p.node,
                    }
                    for p in g.pods
                ],
            }
            for g in report.differing
        ],
        "skipped": [{"pod": pod, "reason": reason} for pod, reason in report.skipped],
        "notes": report.notes,
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def render_report(report: AuditReport, *, policies: PolicySet, inputs: Inputs) -> list[str]:
    """The table: a summary, then per owner with a differing Pod its roll command and those Pods,
    each with its outcome (the policy in parentheses) and, below it, what would be added (``+``)
    or why it differs."""
    audited = report.audited
    differing = report.differing
    count = sum(len(g.pods) for g in differing)
    lines = [
        policies_line(policies),
        f"webhook: {inputs.scope.source}",
        f"audited {_count(len(audited), 'Pod')} from {inputs.source}: {count} differ"
        + (f", in {_count(len(differing), 'owner')}" if differing else ""),
    ]
    for reason, n in sorted(Counter(reason for _, reason in report.skipped).items()):
        lines.append(f"not audited: {_count(n, 'Pod')} {reason}")
    lines += [f"note: {n}" for n in report.notes]
    for group in differing:
        owner = group.owner
        via = f" (via {owner.via})" if owner.via else ""
        lines += [
            "",
            f"{owner.kind} {owner.namespace}/{owner.name}{via}",
            f"  roll: {owner.command or owner.note}",
        ]
        width = max(len(p.name) for p in group.pods)
        for p in group.pods:
            lines.append(f"  {p.name.ljust(width)}  {p.status}" + (f" ({p.policy})" if p.policy else ""))
            lines += [f"    + {change}" for change in p.changes]
            lines += [f"    {p.message}"] if p.message else []
    return lines


def _audit(args: argparse.Namespace, policies: PolicySet) -> tuple[Inputs, AuditReport]:
    progress = Progress.for_args(args)
    if args.cluster:
        inputs = read_cluster(
            args.kubeconfig,
            namespace=args.namespace,
            configuration=args.webhook_configuration or DEFAULT_CONFIGURATION,
            policies=policies,
            chunk=args.chunk_size,
            progress=progress,
        )
    else:
        inputs = read_files(expand_inputs(args.files, recursive=args.recursive), namespace=args.namespace)
    check_label_values(
        Subject(p, str(as_dict(p.get("metadata")).get("namespace") or "default"), inputs.source)
        for p in inputs.pods
    )
    with collector_paused():  # the reviews allocate no cycles; a collection would walk every Pod read
        report = audit_pods(
            progress.track(inputs.pods, "reviewing", total=len(inputs.pods), unit=" Pods"),
            policies=policies,
            scope=inputs.scope,
            namespaces=inputs.namespaces,
            replicasets=inputs.replicasets,
        )
    return inputs, report


def cmd_audit(args: argparse.Namespace) -> int:
    if args.cluster and args.files:
        raise InputError("audit: give FILE... or --cluster, not both")
    if not args.cluster and not args.files:
        raise InputError("audit: give FILE... (kubectl get pods -o yaml exports) or --cluster")
    if args.kubeconfig and not args.cluster:
        raise InputError("audit: --kubeconfig only with --cluster")
    if args.webhook_configuration and not args.cluster:
        raise InputError(
            "audit: --webhook-configuration only with --cluster (from files: add the"
            " MutatingWebhookConfiguration to the inputs)"
        )
    policies = policies_from(args)
    try:
        inputs, report = _audit(args, policies)
    except NamespaceLabelsUnknownError as exc:
        raise InputError(
            f"{exc}: add the Namespace to the inputs (kubectl get namespace {exc.namespace} -o yaml)"
            " or audit with --cluster"
        ) from exc
    if args.output == "table":
        print("\n".join(render_report(report, policies=policies, inputs=inputs)))
    else:
        print_object(report_json(report, policies=policies, inputs=inputs), fmt=args.output)
    return EXIT_FAILURE if any(p.differs for p in report.audited) else EXIT_OK


def add_audit_parser(commands: Any) -> None:
    audit = add_verb(commands, "audit", help="find running Pods today's policies would place differently")
    audit.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="kubectl get pods -o yaml exports (ReplicaSets, Namespaces and the MutatingWebhookConfiguration"
        " may be among them), a directory of them; - for stdin",
    )
    add_recursive_option(audit)
    audit.add_argument("--cluster", action="store_true", help="list the Pods through the current kubeconfig")
    audit.add_argument(
        "--kubeconfig", help="with --cluster: kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    audit.add_argument(
        "-n",
        "--namespace",
        type=namespace_name,
        help="with --cluster: only this namespace; files: for Pods without one",
    )
    audit.add_argument(
        "--webhook-configuration",
        metavar="NAME",
        help="with --cluster: the MutatingWebhookConfiguration whose selectors say which Pods are sent"
        f" (default {DEFAULT_CONFIGURATION})",
    )
    add_chunk_size_option(audit)
    add_policies_option(audit)
    audit.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")
    add_quiet_option(audit)
    audit.set_defaults(handler=cmd_audit)
