"""Scenarios 1 and 2: Seldon-shaped workloads → real controllers create the Pods → the webhook
places them → the real scheduler binds them, where ``simulate`` said they could go."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import seldon
from tests.e2e.conftest import Cluster
from tests.e2e.helpers import (
    by_pod,
    create,
    policy_of,
    simulate,
    tolerations,
    wait_pods,
    write_yaml,
)
from tests.e2e.kube import ROOT, create_namespace, load_objects

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NS = seldon.NAMESPACE
GPU_TAINT = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
EXAMPLE_POOL = ROOT / "examples" / "gpu-pool.yaml"


@pytest.fixture(scope="module")
def seldon_mesh(cluster: Cluster) -> Iterator[Cluster]:
    create_namespace(cluster.api, NS)
    for account in ("seldon-server", "seldon-scheduler"):
        cluster.api.create(f"/api/v1/namespaces/{NS}/serviceaccounts", {"metadata": {"name": account}})
    yield cluster


def bound(pod: dict[str, Any]) -> str:
    node = pod["spec"].get("nodeName")
    assert node, f"{pod['metadata']['name']} is not bound: {pod['status'].get('conditions')}"
    return str(node)


def run_servers(
    cluster: Cluster, servers: list[dict[str, Any]], policies: Path | str, *, kind: str = "StatefulSet"
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Create the workloads, wait for their Pods; also what ``simulate`` predicted for each server."""
    for server in servers:
        create(cluster.api, seldon.workload(server, kind=kind))
    created = {
        s["metadata"]["name"]: wait_pods(
            cluster.api, NS, f"seldon-server-name={s['metadata']['name']}", s["spec"].get("replicas", 1)
        )
        for s in servers
    }
    files = [write_yaml(servers, cluster.plane.run_dir), ROOT / "tests" / "seldon" / "serverconfigs.yaml"]
    _, report = simulate(files, nodes=cluster.nodes_file, policies=policies)
    predicted = by_pod(report)
    return created, {name: predicted[f"{NS}/{name}-0"] for name in created}


def delete_workloads(cluster: Cluster, names: list[str], kind: str = "statefulsets") -> None:
    for name in names:
        cluster.api.delete(f"/apis/apps/v1/namespaces/{NS}/{kind}/{name}", propagationPolicy="Foreground")


def test_statefulset_servers_are_placed_where_simulate_said(seldon_mesh: Cluster) -> None:
    cluster = seldon_mesh
    servers = [
        load_objects(ROOT / "tests" / "seldon" / "server-triton-gpu.yaml")[0],  # 7 replicas, 1 GPU each
        load_objects(ROOT / "tests" / "seldon" / "server-mlserver-llm.yaml")[0],  # 2 GPUs, llm-on-a100
        seldon.server("mlserver", "mlserver", replicas=2),  # the chart's CPU server
    ]
    default = cluster.webhook.policies
    created, predicted = run_servers(cluster, servers, default)
    gpu_nodes = {
        n["metadata"]["name"]
        for n in cluster.nodes
        if "nvidia.com/gpu" in n.get("status", {}).get("allocatable", {})
        and n["status"]["allocatable"]["nvidia.com/gpu"] != "0"
    }

    for pod in created["triton-gpu"]:
        assert policy_of(pod) == "gpu-servers"
        assert GPU_TAINT in tolerations(pod)
        assert bound(pod) in predicted["triton-gpu"]["after"]["fits"]
        assert bound(pod) in gpu_nodes  # never mig-1, which offers no whole GPU
    for pod in created["mlserver-llm-chat"]:
        assert policy_of(pod) == "llm-on-a100"
        assert bound(pod) in predicted["mlserver-llm-chat"]["after"]["fits"]
        assert bound(pod) in {"a100-40-1", "a100-80-1"}
    for pod in created["mlserver"]:  # a CPU server: matched by no policy, left alone
        assert policy_of(pod) is None
        assert GPU_TAINT not in tolerations(pod) and "affinity" not in pod["spec"]
        assert predicted["mlserver"]["outcome"] == "unchanged"
        assert bound(pod) in predicted["mlserver"]["before"]["fits"]

    # the bundled policies lack the MIG exclusion: simulate says the GPU server may land on mig-1,
    # which the real scheduler never picks because mig-1 offers no nvidia.com/gpu (resource fit)
    assert "mig-1" in predicted["triton-gpu"]["after"]["fits"]
    assert any("mig-1" in p for p in predicted["triton-gpu"]["problems"])
    delete_workloads(cluster, list(created))


def test_the_example_pool_policy_keeps_gpu_servers_off_the_mig_node(seldon_mesh: Cluster) -> None:
    cluster = seldon_mesh
    server = load_objects(ROOT / "tests" / "seldon" / "server-triton-gpu.yaml")[0]
    server = copy.deepcopy(server) | {"metadata": {"name": "triton-pool", "namespace": NS}}
    cluster.webhook.set_policies(EXAMPLE_POOL.read_text())
    try:
        created, predicted = run_servers(cluster, [server], EXAMPLE_POOL)
    finally:
        cluster.webhook.set_policies(cluster.default_policies)
    assert "mig-1" not in predicted["triton-pool"]["after"]["fits"]
    assert not predicted["triton-pool"]["problems"] or all(
        "mig-1" not in p for p in predicted["triton-pool"]["problems"]
    )
    for pod in created["triton-pool"]:
        assert policy_of(pod) == "gpu-servers"
        assert bound(pod) in predicted["triton-pool"]["after"]["fits"]
    delete_workloads(cluster, ["triton-pool"])


def test_a_mig_server_is_audited_only_and_stays_pending(seldon_mesh: Cluster) -> None:
    """The bundled ``mig-servers`` policy is audit mode: nothing added, so nowhere to go."""
    cluster = seldon_mesh
    pod_spec = {"containers": [{"name": "triton", "resources": {"limits": {"nvidia.com/mig-1g.5gb": 1}}}]}
    server = seldon.server("triton-mig", "triton", pod_spec)
    created, predicted = run_servers(cluster, [server], cluster.webhook.policies)
    (pod,) = created["triton-mig"]
    assert predicted["triton-mig"]["outcome"] == "audit"
    assert predicted["triton-mig"]["after"]["fits"] == predicted["triton-mig"]["before"]["fits"]
    assert GPU_TAINT not in tolerations(pod) and "affinity" not in pod["spec"]
    assert not pod["spec"].get("nodeName")
    (condition,) = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert condition["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/mig-1g.5gb" in condition["message"]
    assert "mig-1" not in predicted["triton-mig"]["after"]["fits"]  # untolerated taint, as the scheduler says
    delete_workloads(cluster, ["triton-mig"])


def test_seldons_own_components_are_never_sent(seldon_mesh: Cluster) -> None:
    cluster = seldon_mesh
    fixture = load_objects(ROOT / "tests" / "fixtures" / "seldon-scheduler-0.yaml")[0]
    spec = copy.deepcopy(fixture["spec"])
    # the claim (no provisioner) and the token volume (the API server adds its own) left out
    spec["volumes"] = [{"name": "scheduler-state", "emptyDir": {}}]
    spec["containers"][0]["volumeMounts"] = [{"mountPath": "/mnt/scheduler", "name": "scheduler-state"}]
    labels = {"app.kubernetes.io/name": "seldon-scheduler"}
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "seldon-scheduler", "namespace": NS},
        "spec": {
            "replicas": 1,
            "serviceName": "seldon-scheduler",
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }
    calls_before = len(cluster.webhook.settled_admissions())
    create(cluster.api, sts)
    (pod,) = wait_pods(cluster.api, NS, "app.kubernetes.io/name=seldon-scheduler", 1)
    assert policy_of(pod) is None and "affinity" not in pod["spec"]
    assert all(t["key"].startswith("node.kubernetes.io/") for t in tolerations(pod))
    assert len(cluster.webhook.settled_admissions()) == calls_before  # the objectSelector kept it away
    delete_workloads(cluster, ["seldon-scheduler"])


def test_simulate_against_the_cluster_equals_simulate_on_the_files(seldon_mesh: Cluster) -> None:
    cluster = seldon_mesh
    files = sorted((ROOT / "tests" / "seldon").glob("*.yaml"))
    policies = cluster.webhook.policies
    code_files, from_files = simulate(files, nodes=cluster.nodes_file, policies=policies)
    code_cluster, from_cluster = simulate(files, kubeconfig=cluster.plane.admin_kubeconfig, policies=policies)
    assert code_files == code_cluster

    def verdicts(report: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for pod, entry in by_pod(report).items():
            out[pod] = {
                "outcome": entry["outcome"],
                "policy": entry["policy"],
                **{
                    side: {
                        n["node"]: (n["fits"], n["reason"], n["score"])
                        for n in entry[side]["nodes"]
                        if n["node"] in names
                    }
                    for side in ("before", "after")
                },
            }
        return out

    names = {n["metadata"]["name"] for n in cluster.nodes}
    assert verdicts(from_cluster) == verdicts(from_files)
    assert len(from_files["pods"]) == 2  # the two Servers; their ServerConfigs only shape them


def test_deployment_mode_servers_are_placed_all_the_same(seldon_mesh: Cluster) -> None:
    """Seldon's ``useDeploymentsForServers``: Pods from a ReplicaSet, named by generateName."""
    cluster = seldon_mesh
    server = load_objects(ROOT / "tests" / "seldon" / "server-triton-gpu.yaml")[0]
    server = copy.deepcopy(server) | {"metadata": {"name": "triton-deploy", "namespace": NS}}
    server["spec"]["replicas"] = 3
    calls_before = len(cluster.webhook.settled_admissions())
    created, predicted = run_servers(cluster, [server], cluster.webhook.policies, kind="Deployment")
    for pod in created["triton-deploy"]:
        assert pod["metadata"]["generateName"].startswith("triton-deploy-")
        assert policy_of(pod) == "gpu-servers" and GPU_TAINT in tolerations(pod)
        assert bound(pod) in predicted["triton-deploy"]["after"]["fits"]
    calls = cluster.webhook.settled_admissions()[calls_before:]
    assert len(calls) == 3 and {c["namespace"] for c in calls} == {NS}
    delete_workloads(cluster, ["triton-deploy"], kind="deployments")
