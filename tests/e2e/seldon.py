"""Seldon Core 2 workloads as the operator creates them, without the operator.

The operator turns a ``Server`` and the ``ServerConfig`` it names into a StatefulSet (or, with
``useDeploymentsForServers``, a Deployment): the Server's ``podSpec`` merged over the
ServerConfig's (maps merged, lists appended, containers merged by name), labelled
``seldon-server-name`` and ``app.kubernetes.io/name: seldon-server``. Volume claim templates are
left out here: no storage provisioner runs, and an unbound claim would keep every Pod Pending.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.e2e.kube import load_objects

ROOT = Path(__file__).resolve().parents[2]
SELDON = ROOT / "tests" / "seldon"
NAMESPACE = "seldon-mesh"


def merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(over, list):
        return [*copy.deepcopy(base), *copy.deepcopy(over)]
    return copy.deepcopy(over)


def merge_pod_specs(config: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    containers = {c["name"]: copy.deepcopy(c) for c in config.get("containers", [])}
    for container in server.get("containers", []):
        name = container["name"]
        containers[name] = (
            merge(containers[name], container) if name in containers else copy.deepcopy(container)
        )
    spec = merge(
        {k: v for k, v in config.items() if k != "containers"},
        {k: v for k, v in server.items() if k != "containers"},
    )
    spec["containers"] = list(containers.values())
    for container in spec["containers"]:
        container.setdefault("image", "registry.invalid/seldon-server:1")
    return dict(spec)


def server_configs() -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in load_objects(SELDON / "serverconfigs.yaml")}


def labels(server: str) -> dict[str, str]:
    return {"seldon-server-name": server, "app.kubernetes.io/name": "seldon-server"}


def workload(
    server: dict[str, Any], *, kind: str = "StatefulSet", replicas: int | None = None
) -> dict[str, Any]:
    """The StatefulSet (or Deployment) the operator makes for a Server."""
    name = server["metadata"]["name"]
    config = server_configs()[server["spec"]["serverConfig"]]["spec"]["podSpec"]
    spec: dict[str, Any] = {
        "replicas": server["spec"].get("replicas", 1) if replicas is None else replicas,
        "selector": {"matchLabels": {"seldon-server-name": name}},
        "template": {
            "metadata": {"labels": labels(name)},
            "spec": merge_pod_specs(config, server["spec"].get("podSpec") or {}),
        },
    }
    if kind == "StatefulSet":
        spec |= {"serviceName": name, "podManagementPolicy": "Parallel"}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(name)},
        "spec": spec,
    }


def server(
    name: str, config: str, pod_spec: dict[str, Any] | None = None, replicas: int = 1
) -> dict[str, Any]:
    spec: dict[str, Any] = {"serverConfig": config, "replicas": replicas}
    if pod_spec:
        spec["podSpec"] = pod_spec
    return {
        "apiVersion": "mlops.seldon.io/v1alpha1",
        "kind": "Server",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }
