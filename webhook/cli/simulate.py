"""``simulate``: the nodes each Pod or Seldon Server fits before and after the policies."""

from __future__ import annotations

import argparse
from typing import Any

from webhook.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_node_options,
    add_policies_option,
    add_recursive_option,
    check_label_values,
    expand_inputs,
    load_nodes,
    policies_from,
    policies_line,
    print_json,
)
from webhook.cli.helptext import add_verb
from webhook.simulation.seldon import read_manifest_files
from webhook.simulation.simulate import render_simulation, simulate_subject, simulation_json


def cmd_simulate(args: argparse.Namespace) -> int:
    args.files = expand_inputs(args.files, recursive=args.recursive)
    policies = policies_from(args)
    subjects = read_manifest_files(args.files, namespace=args.namespace)
    check_label_values(subjects)
    nodes, where = load_nodes(args.nodes, kubeconfig=args.kubeconfig)
    results = [
        simulate_subject(
            s, nodes=nodes, policies=policies, extended_resource_toleration=args.extended_resource_toleration
        )
        for s in subjects
    ]
    if args.output == "json":
        print_json(
            {"policies": policies.source, "nodes": where, "pods": [simulation_json(r) for r in results]}
        )
    else:
        print(policies_line(policies))
        print("\n\n".join("\n".join(render_simulation(r)) for r in results))
    return EXIT_FAILURE if any(r.problems for r in results) else EXIT_OK


def add_simulate_parser(commands: Any) -> None:
    simulate = add_verb(
        commands, "simulate", help="show the nodes each Pod fits before and after the policies"
    )
    simulate.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="Pod, AdmissionReview, Seldon Server or ServerConfig, a directory of them; - for stdin",
    )
    add_recursive_option(simulate)
    add_node_options(simulate, required=True)
    add_policies_option(simulate)
    simulate.add_argument("-o", "--output", choices=["table", "json"], default="table")
    simulate.add_argument("-n", "--namespace", help="namespace for manifests without metadata.namespace")
    simulate.set_defaults(handler=cmd_simulate)
