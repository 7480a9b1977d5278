"""``simulate``: the nodes each Pod or Seldon Server fits before and after the policies."""

from __future__ import annotations

import argparse
from typing import Any

from webhook.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_chunk_size_option,
    add_node_options,
    add_policies_option,
    add_recursive_option,
    check_label_values,
    expand_inputs,
    load_nodes,
    namespace_name,
    policies_from,
    policies_line,
    print_object,
    require_cluster_for_kubeconfig,
)
from webhook.cli.files import read_manifests, report_skipped
from webhook.cli.helptext import add_verb
from webhook.cli.namespacelabels import add_namespace_labels_option, namespace_labels_from
from webhook.cli.pieces import collector_paused
from webhook.cli.progress import Progress, add_quiet_option
from webhook.errors import ClusterError, InputError
from webhook.simulation.admission_plugins import is_extended_resource
from webhook.simulation.models import check_models, model_json, render_model
from webhook.simulation.scheduling import NodeFitMemo
from webhook.simulation.seldon import Manifests, read_seldon_manifests
from webhook.simulation.simulate import render_simulation, simulate_subject, simulation_json

DEFAULT_OPERATOR_NAMESPACE = "seldon-mesh"  # where the Seldon Core 2 charts install the operator


def parse_accelerators(values: list[str]) -> dict[str, str]:
    """``--accelerator REQUIREMENT=RESOURCE``, each resource an extended resource (``nvidia.com/gpu``)."""
    accelerators: dict[str, str] = {}
    for value in values:
        requirement, sep, resource = value.partition("=")
        if not sep or not requirement.strip() or not is_extended_resource(resource.strip()):
            raise InputError(
                f"--accelerator {value}: expected REQUIREMENT=RESOURCE with an extended resource, "
                "e.g. gpu=nvidia.com/gpu"
            )
        accelerators[requirement.strip()] = resource.strip()
    return accelerators


def fetch_seldon_documents(
    kubeconfig: str | None, *, operator_namespace: str, chunk: int = 500, progress: Progress | None = None
) -> list[tuple[Any, str]]:
    """Servers and Models of every namespace and the ServerConfigs of the operator's, from the API."""
    from webhook.cluster import client as cluster  # imported here: the kubernetes client is slow to import

    try:
        api_client = cluster.load_api_client(kubeconfig)
        where = f"cluster {api_client.configuration.host}"
        paging = cluster.Paging(chunk, progress.page if progress is not None else None)
        documents = [
            *cluster.list_seldon_objects(
                api_client, "serverconfigs", namespace=operator_namespace, paging=paging
            ),
            *cluster.list_seldon_objects(api_client, "servers", paging=paging),
            *cluster.list_seldon_objects(api_client, "models", paging=paging),
        ]
    except ClusterError as exc:  # the cluster client turns every failure into one line
        raise InputError(f"cluster: {exc}") from exc
    return [(doc, where) for doc in documents]


def read_inputs(
    args: argparse.Namespace, progress: Progress | None = None
) -> tuple[Manifests, dict[str, dict[str, str]]]:
    """The files' Pods, Servers, ServerConfigs and Models, and the labels of their Namespace
    manifests; without files, the cluster's Seldon objects."""
    if args.files:
        files = expand_inputs(args.files, recursive=args.recursive)
        manifests, namespaces = read_manifests(
            files, namespace=args.namespace, operator_namespace=args.operator_namespace
        )
        report_skipped(manifests)
        if not manifests.subjects and not manifests.models:
            raise InputError(f"no Pods, Servers or Models in the inputs ({', '.join(files)})")
        return manifests, namespaces
    if not args.cluster:
        raise InputError(
            "simulate: give FILE... (or --cluster without files to read the cluster's Seldon objects)"
        )
    operator_namespace = args.operator_namespace or DEFAULT_OPERATOR_NAMESPACE
    documents = fetch_seldon_documents(
        args.kubeconfig, operator_namespace=operator_namespace, chunk=args.chunk_size, progress=progress
    )
    manifests = read_seldon_manifests(
        documents, namespace=args.namespace, operator_namespace=operator_namespace
    )
    return manifests, {}


def cmd_simulate(args: argparse.Namespace) -> int:
    require_cluster_for_kubeconfig(args)
    accelerators = parse_accelerators(args.accelerator)
    policies = policies_from(args)
    progress = Progress.for_args(args)
    manifests, namespaces = read_inputs(args, progress)
    check_label_values(manifests.subjects)
    labels = namespace_labels_from(args, namespaces, policies)
    nodes, where = load_nodes(
        args.nodes, kubeconfig=args.kubeconfig, chunk=args.chunk_size, progress=progress.page
    )
    subjects = progress.track(manifests.subjects, "simulating", total=len(manifests.subjects), unit=" Pods")
    fits = NodeFitMemo(nodes)  # the Pods of one server share a template: one pass over the nodes each
    with collector_paused():  # acyclic results; a collection would walk every Node read, again and again
        results = [
            simulate_subject(
                s,
                nodes=nodes,
                policies=policies,
                extended_resource_toleration=args.extended_resource_toleration,
                namespace_labels=labels(s.namespace),
                fits=fits,
            )
            for s in subjects
        ]
    checks, server_notes = check_models(manifests, results, nodes=nodes, accelerators=accelerators)
    if args.output != "table":
        print_object(
            {
                "policies": policies.source,
                "nodes": where,
                "pods": [simulation_json(r) for r in results],
                "models": [model_json(c) for c in checks],
                "serverNotes": server_notes,
            },
            fmt=args.output,
        )
    else:
        print(policies_line(policies))
        blocks = [render_simulation(r) for r in results] + [render_model(c) for c in checks]
        print("\n\n".join("\n".join(b) for b in blocks))
        if server_notes:
            print("\n" + "\n".join(f"note: {n}" for n in server_notes))
    failed = any(r.problems for r in results) or any(c.problems for c in checks)
    return EXIT_FAILURE if failed else EXIT_OK


def add_simulate_parser(commands: Any) -> None:
    simulate = add_verb(
        commands, "simulate", help="show the nodes each Pod fits before and after the policies"
    )
    simulate.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="Pod, AdmissionReview, Seldon Server, ServerConfig or Model, a directory of them; - for"
        " stdin; none with --cluster: the cluster's Servers, ServerConfigs and Models",
    )
    add_recursive_option(simulate)
    add_node_options(simulate, required=True)
    add_chunk_size_option(simulate)
    add_policies_option(simulate)
    simulate.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")
    simulate.add_argument(
        "-n", "--namespace", type=namespace_name, help="namespace for manifests without metadata.namespace"
    )
    add_namespace_labels_option(simulate)
    simulate.add_argument(
        "--operator-namespace",
        metavar="NS",
        type=namespace_name,
        help="only ServerConfigs of this namespace count, as the Seldon operator reads them from its own"
        f" (default: any namespace for files, {DEFAULT_OPERATOR_NAMESPACE} with --cluster and no files)",
    )
    simulate.add_argument(
        "--accelerator",
        action="append",
        default=[],
        metavar="REQUIREMENT=RESOURCE",
        help="a Model requirement that needs an extended resource, e.g. gpu=nvidia.com/gpu (repeatable)",
    )
    add_quiet_option(simulate)
    simulate.set_defaults(handler=cmd_simulate)
