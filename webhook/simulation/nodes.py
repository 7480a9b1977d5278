"""The nodes a simulation runs against, from the documents of a file or a list the cluster returned.

Nodes stay the plain dicts the API server returns (``kubectl get nodes -o yaml`` output works as
is). Only what identifies a node is checked; odd types in fields the simulation reads count as
absent, as everywhere else in the project.
"""

from __future__ import annotations

from typing import Any

from webhook.errors import InputError
from webhook.kube.objects import RawObject, as_dict


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
