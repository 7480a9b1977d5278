"""The taints of every Node, kept current by a list + watch, for the guard's ``spec.nodeName`` rule.

A Pod created with ``spec.nodeName`` skips the scheduler and with it every NoSchedule taint, so the
guard must know whether the node it names carries a reserved taint. The AdmissionReview does not
say; this cache does, the same way the namespace cache keeps labels (``webhook.cluster.namespaces``:
one LIST, then a WATCH, relisted now and then; a node not in it is fetched directly). It needs
get, list and watch on Nodes, and it is started only while the policies have ``reservations``.
"""

from __future__ import annotations

from webhook.cluster.client import NODES as NODES_PATH
from webhook.cluster.namespaces import NamespaceCache, WatchedKind
from webhook.kube.objects import node_taints

NODES = WatchedKind("node", "Nodes", NODES_PATH, node_taints)


class NodeCache(NamespaceCache):
    """List + watch of Nodes in a daemon thread: ``labels(name)`` is the node's taints here."""

    kind = NODES
