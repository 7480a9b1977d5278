"""What several e2e scenarios do: run ``simulate``, create workloads, wait for their Pods."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.controlplane import Api, wait_for
from tests.e2e.install import cli
from tests.e2e.kube import pods, scheduled

POLICY_ANNOTATION = "placement-webhook.io/policy"


def simulate(
    files: Sequence[Path | str],
    *,
    nodes: Path | None = None,
    kubeconfig: Path | None = None,
    policies: Path | str,
    extra: Sequence[str] = (),
) -> tuple[int, dict[str, Any]]:
    """``simulate -o json`` with ``--nodes`` (a file) or ``--cluster`` (the kubeconfig's API server)."""
    where = ["--nodes", str(nodes)] if nodes else ["--cluster"]
    env = {"KUBECONFIG": str(kubeconfig)} if kubeconfig else None
    result = cli(
        "simulate", *map(str, files), *where, "--policies", str(policies), "-o", "json", *extra, env=env
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def by_pod(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["pod"]: entry for entry in report["pods"]}


def write_yaml(objects: Sequence[dict[str, Any]], directory: Path | None = None) -> Path:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the caller reads the file after this returns
        "w", suffix=".yaml", delete=False, dir=directory
    )
    with handle:
        yaml.safe_dump_all(list(objects), handle)
    return Path(handle.name)


def create(api: Api, obj: dict[str, Any]) -> dict[str, Any]:
    group_version = obj["apiVersion"]
    base = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
    plural = obj["kind"].lower() + "s"
    namespace = obj["metadata"].get("namespace")
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    return dict(api.create(path, obj))


def wait_pods(
    api: Api, namespace: str, selector: str, count: int, timeout: float = 90
) -> list[dict[str, Any]]:
    """Until ``count`` Pods match and the scheduler has decided on each (bound or unschedulable)."""

    def decided() -> list[dict[str, Any]] | None:
        found = pods(api, namespace, selector)
        if len(found) == count and all(scheduled(p) for p in found):
            return found
        return None

    return wait_for(f"{count} scheduled Pods {selector} in {namespace}", decided, timeout, interval=0.2)


def tolerations(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod["spec"].get("tolerations") or [])


def required_terms(pod: dict[str, Any]) -> list[dict[str, Any]]:
    affinity = (pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    return list(required.get("nodeSelectorTerms") or [])


def policy_of(pod: dict[str, Any]) -> str | None:
    return (pod["metadata"].get("annotations") or {}).get(POLICY_ANNOTATION)
