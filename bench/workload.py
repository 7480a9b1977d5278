"""The benchmark's inputs: realistic AdmissionReview bodies and a 50-policy file.

Pods arrive at a webhook with everything the API server set before admission, including
``managedFields``; the shared fixtures are padded with that and the Seldon agent's full environment
so the bodies are the 8-16 KB a real Seldon server Pod review is.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

AGENT_ENV = [
    "SELDON_OVERCOMMIT_PERCENTAGE",
    "SELDON_USE_DEPLOYMENTS_FOR_SERVERS",
    "SELDON_SERVER_HTTP_PORT",
    "SELDON_SERVER_GRPC_PORT",
    "SELDON_REVERSE_PROXY_HTTP_PORT",
    "SELDON_REVERSE_PROXY_GRPC_PORT",
    "SELDON_SCHEDULER_TLS_PORT",
    "SELDON_METRICS_PORT",
    "SELDON_DRAINER_PORT",
    "SELDON_ENVOY_HOST",
    "SELDON_ENVOY_PORT",
    "SELDON_LOG_LEVEL",
    "SELDON_MODEL_INFERENCE_LAT_THRESHOLD_MS",
    "SELDON_MODEL_INACTIVE_SECONDS_THRESHOLD",
    "SELDON_SCALING_STATS_PERIOD_SECONDS",
    "SELDON_ENABLE_MODEL_AUTOSCALING",
    "SELDON_MAX_TIME_READY_SUB_SERVICE_AFTER_START_SECONDS",
    "SELDON_MAX_ELAPSED_TIME_READY_SUB_SERVICE_BEFORE_START_MINUTES",
    "SELDON_PERIOD_READY_SUB_SERVICE_SECONDS",
    "SELDON_MAX_LOAD_ELAPSED_TIME_MINUTES",
    "SELDON_MAX_UNLOAD_ELAPSED_TIME_MINUTES",
    "SELDON_MAX_LOAD_RETRY_COUNT",
    "SELDON_MAX_UNLOAD_RETRY_COUNT",
    "SELDON_UNLOAD_GRACE_PERIOD_SECONDS",
]


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())  # type: ignore[no-any-return]


def _managed_fields(pod: dict[str, Any], manager: str) -> list[dict[str, Any]]:
    """A managedFields entry shaped like the one the API server records for the Pod's creator."""

    def fields(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {f"f:{k}": fields(v) for k, v in obj.items() if k not in ("name",)}
        if isinstance(obj, list):
            return {
                f'k:{{"name":"{item.get("name", i)}"}}' if isinstance(item, dict) else f"v:{item}": fields(
                    item
                )
                for i, item in enumerate(obj)
            }
        return {}

    return [
        {
            "manager": manager,
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-11-22T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": fields(pod["metadata"]), "f:spec": fields(pod["spec"])},
        }
    ]


def _pad_agent(pod: dict[str, Any]) -> None:
    for container in pod["spec"]["containers"]:
        if container["name"] == "agent":
            known = {e["name"] for e in container["env"]}
            container["env"] += [{"name": n, "value": "10"} for n in AGENT_ENV if n not in known]


def bench_pods() -> dict[str, dict[str, Any]]:
    """``gpu`` (patched), ``cpu`` (a server no policy matches), ``component`` (the Seldon scheduler)."""
    gpu, cpu, component = _load("triton-gpu-0"), _load("mlserver-0"), _load("seldon-scheduler-0")
    _pad_agent(gpu)
    _pad_agent(cpu)
    component["metadata"]["annotations"] = {  # as `kubectl apply` of the SeldonRuntime leaves it
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"spec": component["spec"]}),
    }
    for pod in (gpu, cpu, component):
        pod["metadata"]["managedFields"] = _managed_fields(copy.deepcopy(pod), "kube-controller-manager")
        pod["metadata"]["uid"] = "8f1c1f4e-3e5b-4c71-9d1e-2b7a0c4b9e11"
        pod["metadata"]["creationTimestamp"] = "2026-11-22T10:00:00Z"
    return {"gpu": gpu, "cpu": cpu, "component": component}


def admission_review(pod: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0df28fbd-5f5f-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": pod["metadata"]["namespace"],
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:statefulset-controller",
                "uid": "d2b4f1a0-1111-4c2a-8f3e-0a1b2c3d4e5f",
                "groups": [
                    "system:serviceaccounts",
                    "system:serviceaccounts:kube-system",
                    "system:authenticated",
                ],
            },
            "object": pod,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


def write_bodies(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, pod in bench_pods().items():
        path = directory / f"review-{kind}.json"
        path.write_text(json.dumps(admission_review(pod), separators=(",", ":")))
        paths[kind] = path
    return paths


def fifty_policies() -> str:
    """49 policies for other teams' servers, then the GPU policy that matches: the worst case."""
    policies = [
        {
            "name": f"team-{i:02d}-gpu",
            "match": {
                "namespaces": [f"team-{i:02d}-*"],
                "servers": [f"team-{i:02d}-*"],
                "resources": ["nvidia.com/gpu"],
            },
            "placement": {
                "tolerations": [
                    {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
                ],
                "nodeAffinity": {
                    "required": [{"key": "pool", "operator": "In", "values": [f"team-{i:02d}"]}]
                },
            },
        }
        for i in range(49)
    ]
    policies.append(
        {
            "name": "gpu-servers",
            "match": {"servers": ["*"], "resources": ["nvidia.com/gpu"]},
            "placement": {
                "tolerations": [
                    {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
                ],
                "nodeAffinity": {"required": [{"key": "pool", "operator": "In", "values": ["infer-srv"]}]},
            },
        }
    )
    return yaml.safe_dump({"version": 1, "policies": policies}, sort_keys=False)
