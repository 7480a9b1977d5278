"""The nodes a simulation runs against: from a YAML/JSON file, or listed from the cluster.

Nodes stay the plain dicts the API server returns (``kubectl get nodes -o yaml`` output works as
is). Only what identifies a node is checked; odd types in fields the simulation reads count as
absent, as everywhere else in the project.
"""

from __future__ import annotations

from typing import Any

from webhook.documents import read_documents
from webhook.errors import ClusterError, InputError
from webhook.objects import RawObject, as_dict


def check_nodes(documents: list[Any], *, source: str) -> list[RawObject]:
    """The documents as Nodes; ``InputError`` for anything else, a nameless node or a duplicate name."""
    nodes: list[RawObject] = []
    seen: set[str] = set()
    for i, doc in enumerate(documents):
        kind = as_dict(doc).get("kind")
        if kind not in ("Node", None):  # list items from the API server carry no kind
            raise InputError(f"{source}: document {i + 1} is not a Node (kind {kind!r})")
        name = as_dict(as_dict(doc).get("metadata")).get("name")
        if not isinstance(name, str) or not name:
            raise InputError(f"{source}: document {i + 1} is not a Node with a metadata.name")
        if name in seen:
            raise InputError(f"{source}: node {name} appears twice")
        seen.add(name)
        nodes.append(doc)
    if not nodes:
        raise InputError(f"{source}: no nodes")
    return nodes


def read_nodes(path: str) -> tuple[list[RawObject], str]:
    """(the Nodes of a file or ``-``, where they came from)."""
    documents, source = read_documents(path)
    return check_nodes(documents, source=source), source


def fetch_nodes() -> tuple[list[RawObject], str]:
    """(the cluster's Nodes, a description), through the current kubeconfig or in-cluster config."""
    from webhook import cluster  # imported here: the kubernetes client is slow to import

    try:
        api_client = cluster.load_api_client()
        host = str(api_client.configuration.host)
        documents = cluster.list_nodes(api_client)
    except ClusterError as exc:  # cluster.py turns every client failure into one line
        raise InputError(f"cluster: {exc}") from exc
    return check_nodes(documents, source=f"cluster {host}"), f"cluster {host}"


def load_nodes(path: str | None) -> tuple[list[RawObject], str]:
    """The Nodes of a file, or of the cluster when ``path`` is None."""
    return read_nodes(path) if path is not None else fetch_nodes()
