"""Where ``review`` finds the taints of the node a Pod names in ``spec.nodeName``.

A Pod created bound to a node skips the scheduler, so the guard judges it by that node's taints
(``webhook.engine.guard``): the server reads them from its Node cache; offline they come from
``--nodes FILE`` (the Nodes ``simulate`` reads), else with ``--cluster`` a GET of the Node; else
they are unknown, and the guard gives no answer, as the server answers 502 (the chart's fail-closed
``nodeName`` webhook then refuses the Pod). Nothing is looked up without reservations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from webhook.cli.files import read_nodes
from webhook.errors import ClusterError, InputError
from webhook.kube.objects import node_taints


class NodeTaints:
    """node name -> its taints, or None when unknown; each cluster node is read at most once."""

    def __init__(
        self, *, nodes_file: str | None = None, cluster: bool = False, kubeconfig: str | None = None
    ) -> None:
        self.known: dict[str, Sequence[Mapping[str, Any]] | None] = {}
        if nodes_file is not None:
            nodes, _ = read_nodes(nodes_file)
            for node in nodes:
                name = (node.get("metadata") or {}).get("name")
                if isinstance(name, str):
                    self.known[name] = node_taints(node)
        self.cluster, self.kubeconfig = cluster, kubeconfig
        self._api: Any = None

    def __call__(self, name: str) -> Sequence[Mapping[str, Any]] | None:
        if name not in self.known and self.cluster:
            self.known[name] = self._fetch(name)
        return self.known.get(name)

    def _fetch(self, name: str) -> Sequence[Mapping[str, Any]] | None:
        from webhook.cluster import client as cluster  # here: the kubernetes client is slow to import

        try:
            if self._api is None:
                self._api = cluster.load_api_client(self.kubeconfig)
            node = cluster.get_node(self._api, name)
        except ClusterError as exc:
            raise InputError(f"cluster: {exc}") from exc
        return None if node is None else node_taints(node)
