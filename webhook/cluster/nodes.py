"""The taints of every Node, kept current by a list + watch, for the guard's ``spec.nodeName`` rule.

A Pod created with ``spec.nodeName`` skips the scheduler and with it every NoSchedule taint, so the
guard must know whether the node it names carries a reserved taint. The AdmissionReview does not
say; this cache does, the same way the namespace cache keeps labels (``webhook.cluster.namespaces``:
one LIST, then a WATCH, relisted now and then; a node not in it is fetched directly). It needs
get, list and watch on Nodes, and it is started only while the policies have ``reservations``.
"""

from __future__ import annotations

from typing import Any

from webhook.cluster.namespaces import NamespaceCache, WatchedKind
from webhook.kube.objects import RawObject, as_dict, as_list


def node_taints(node: RawObject) -> tuple[dict[str, Any], ...]:
    """A Node's ``spec.taints`` as the guard reads them (key, value, effect; malformed entries left out)."""
    return tuple(
        {k: taint[k] for k in ("key", "value", "effect") if k in taint}
        for taint in as_list(as_dict(node.get("spec")).get("taints"))
        if isinstance(taint, dict)
    )


NODES = WatchedKind("node", "Nodes", "list_node", "read_node", node_taints)


class NodeCache(NamespaceCache):
    """List + watch of Nodes in a daemon thread: ``labels(name)`` is the node's taints here."""

    kind = NODES
