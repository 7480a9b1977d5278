"""What the verbs share: exit codes, printing, the policy-file option and where nodes come from."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

from webhook.errors import ClusterError, InputError
from webhook.kube.objects import RawObject
from webhook.policy.compiled import PolicySet
from webhook.policy.loading import default_policies_path, load_policies
from webhook.simulation.nodes import check_nodes, read_nodes

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_yaml(value: Any) -> None:
    sys.stdout.write(yaml.safe_dump(value, sort_keys=False, width=120))


def add_policies_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies",
        type=Path,
        default=None,
        help="policy file (default: ./policies.yaml if present, else the bundled example)",
    )


def policies_from(args: argparse.Namespace) -> PolicySet:
    return load_policies(args.policies or default_policies_path())


def add_node_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--nodes", metavar="NODES", help="YAML/JSON file of Node objects (kubectl get nodes -o yaml)"
    )
    source.add_argument(
        "--cluster", action="store_true", help="list the nodes through the current kubeconfig"
    )
    parser.add_argument(
        "--extended-resource-toleration",
        action="store_true",
        help="model the API server's ExtendedResourceToleration admission plugin (on in e.g. GKE)",
    )


def fetch_nodes() -> tuple[list[RawObject], str]:
    """(the cluster's Nodes, a description), through the current kubeconfig or in-cluster config."""
    from webhook.cluster import client as cluster  # imported here: the kubernetes client is slow to import

    try:
        api_client = cluster.load_api_client()
        host = str(api_client.configuration.host)
        documents = cluster.list_nodes(api_client)
    except ClusterError as exc:  # the cluster client turns every failure into one line
        raise InputError(f"cluster: {exc}") from exc
    return check_nodes(documents, source=f"cluster {host}"), f"cluster {host}"


def load_nodes(path: str | None) -> tuple[list[RawObject], str]:
    """The Nodes of a file, or of the cluster when ``path`` is None."""
    return read_nodes(path) if path is not None else fetch_nodes()
