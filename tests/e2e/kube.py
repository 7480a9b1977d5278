"""Objects in the e2e cluster: kubelet-less Nodes as kwok makes them, Pods read back, waits."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.controlplane import Api, wait_for

ROOT = Path(__file__).resolve().parents[2]
NODE_FILES = [
    *sorted((ROOT / "tests" / "nodes").glob("*.yaml")),
    *[p for p in [ROOT.parent / "shared" / "fixtures" / "nodes.yaml"] if p.is_file()],
]
# what a node without these in its file gets, so resource fit never excludes it for lack of room
DEFAULT_ALLOCATABLE = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "500Gi"}


def load_objects(path: Path) -> list[dict[str, Any]]:
    """Every object in a YAML file: documents, and the items of a List."""
    out: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        out.extend(doc["items"] if doc.get("kind") == "List" else [doc])
    return out


def node_objects(files: Iterable[Path] = NODE_FILES) -> list[dict[str, Any]]:
    """The Nodes of our node sets, unique by name (the first file to name one wins)."""
    nodes: dict[str, dict[str, Any]] = {}
    for path in files:
        for obj in load_objects(path):
            if obj.get("kind") == "Node":
                nodes.setdefault(obj["metadata"]["name"], obj)
    return list(nodes.values())


def node_status(node: dict[str, Any], index: int) -> dict[str, Any]:
    """The status a kubelet (or kwok) would report: the file's resources over room for everything else."""
    given = node.get("status") or {}
    allocatable = {**DEFAULT_ALLOCATABLE, **given.get("capacity", {}), **given.get("allocatable", {})}
    capacity = {**allocatable, **given.get("capacity", {})}
    conditions = [
        {"type": kind, "status": "False", "reason": f"Kubelet{reason}"}
        for kind, reason in [
            ("MemoryPressure", "HasSufficientMemory"),
            ("DiskPressure", "HasNoDiskPressure"),
            ("PIDPressure", "HasSufficientPID"),
        ]
    ]
    conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady"})
    return {
        "capacity": capacity,
        "allocatable": allocatable,
        "conditions": conditions,
        "addresses": [
            {"type": "InternalIP", "address": f"10.214.{index // 250}.{index % 250 + 1}"},
            {"type": "Hostname", "address": node["metadata"]["name"]},
        ],
        "nodeInfo": {"kubeletVersion": "fake", "architecture": "amd64", "operatingSystem": "linux"},
        "phase": "Running",
    }


def create_node(api: Api, node: dict[str, Any], index: int) -> dict[str, Any]:
    """Create the Node from its metadata and spec, then set its status through the status subresource."""
    meta = node["metadata"]
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {k: copy.deepcopy(meta[k]) for k in ("name", "labels", "annotations") if k in meta},
        "spec": copy.deepcopy(node.get("spec") or {}),
    }
    api.create("/api/v1/nodes", body)
    api.merge(f"/api/v1/nodes/{meta['name']}/status", {"status": node_status(node, index)})
    # the TaintNodesByCondition admission plugin gave the new Node node.kubernetes.io/not-ready,
    # which the node lifecycle controller would lift once it saw Ready: put the file's taints back
    return dict(api.merge(f"/api/v1/nodes/{meta['name']}", {"spec": {"taints": body["spec"].get("taints")}}))


def create_namespace(api: Api, name: str, labels: dict[str, str] | None = None) -> None:
    api.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels or {}}})


def pods(api: Api, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
    params = {"labelSelector": selector} if selector else {}
    return api.items(f"/api/v1/namespaces/{namespace}/pods", **params)


def scheduled(pod: dict[str, Any]) -> str | None:
    """'bound' / 'unschedulable' once the scheduler has decided, else None."""
    if pod["spec"].get("nodeName"):
        return "bound"
    for condition in pod.get("status", {}).get("conditions", []):
        if (condition["type"], condition["status"], condition.get("reason")) == (
            "PodScheduled",
            "False",
            "Unschedulable",
        ):
            return "unschedulable"
    return None


def wait_scheduled(api: Api, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
    def decided() -> dict[str, Any] | None:
        pod = api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        return pod if scheduled(pod) else None

    return wait_for(f"the scheduler to decide on {namespace}/{name}", decided, timeout)


def mark_running(api: Api, pod: dict[str, Any], ip: str) -> None:
    """What a kubelet would report for a started, ready Pod (kwok's pod-ready stage), with our IP."""
    now = "2026-01-01T00:00:00Z"
    containers = pod["spec"]["containers"]
    status = {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "hostIP": "10.214.0.1",
        "startTime": now,
        "conditions": [
            {"type": kind, "status": "True", "lastTransitionTime": now}
            for kind in (
                "PodReadyToStartContainers",
                "Initialized",
                "ContainersReady",
                "Ready",
                "PodScheduled",
            )
        ],
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
            for c in containers
        ],
    }
    meta = pod["metadata"]
    api.merge(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status", {"status": status})
