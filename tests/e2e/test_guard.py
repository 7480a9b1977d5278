"""Scenario 11: the reservation guard (``POST /validate``) as the real API server calls it.

With ``examples/reserved-gpu-pool.yaml`` in force: a plain Deployment that tolerates the GPU
pool's taint gets no Pods (its ReplicaSet's events carry our message), the NVIDIA-style DaemonSet
in ``gpu-operator`` is admitted on every node it tolerates, a DaemonSet elsewhere is not, Seldon
GPU servers are admitted and placed on the pool, a Pod with only the API server's default
tolerations is never sent (the matchConditions, judged by the server's own log), and an UPDATE
adding the toleration to a running Pod is refused while one of a Pod admitted before the
reservation existed keeps working. There is no kubelet: Pods are bound, never Running.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import seldon
from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import ApiError, wait_for
from tests.e2e.helpers import create, policy_of, wait_pods
from tests.e2e.kube import ROOT, create_namespace, load_objects, pods, wait_scheduled

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NS, OPERATOR_NS, TEAM_NS = "e2e-guard", "gpu-operator", "team-a"
RESERVED = ROOT / "examples" / "reserved-gpu-pool.yaml"
STOWAWAY = ROOT / "tests" / "cases" / "guard-refuses-a-stowaway" / "pod.yaml"
GUARD = 'admission webhook "guard.placement-webhook.io" denied the request: '
WHY = "but no enforce policy places it there and no allow rule admits it"
ACCESS = (
    "to run on the GPU pool, deploy a Seldon Server that requests nvidia.com/gpu, or ask the platform team"
)
GPU_EXISTS = {"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoSchedule"}


def pod(name: str, *tolerations: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "registry.invalid/app:1"}]}
    if tolerations:
        spec["tolerations"] = list(tolerations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def template(app: str, *tolerations: dict[str, Any]) -> dict[str, Any]:
    spec = {**pod(app, *tolerations)["spec"]}
    return {"metadata": {"labels": {"app": app}}, "spec": spec}


def daemonset(name: str, namespace: str) -> dict[str, Any]:
    """What NVIDIA's device plugin and GPU operator DaemonSets carry: tolerations for the GPU taints."""
    tolerations = [GPU_EXISTS, {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": template(name, *tolerations)},
    }


def taints(node: dict[str, Any]) -> list[dict[str, Any]]:
    return list((node.get("spec") or {}).get("taints") or [])


def reserved(node: dict[str, Any]) -> bool:
    return any(t.get("key") == "seldon-gpu-srv" and t.get("effect") == "NoSchedule" for t in taints(node))


def tolerated_by_the_plugin(node: dict[str, Any]) -> bool:
    """Its tolerations, plus the node-condition ones the DaemonSet controller adds, cover every taint."""
    return all(
        t.get("effect") == "PreferNoSchedule"
        or str(t.get("key")).startswith("node.kubernetes.io/")
        or (t.get("key") in ("seldon-gpu-srv", "nvidia.com/gpu") and t.get("effect") == "NoSchedule")
        for t in taints(node)
    )


def validations(cluster: Cluster) -> list[dict[str, Any]]:
    """The server's log lines for /validate, one per request the API server sent there."""
    lines = []
    for line in cluster.webhook.log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("msg") == "validation":
                lines.append(record)
    return lines


def validated(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    return [v for v in validations(cluster) if (v["namespace"], v["pod"]) == (namespace, name)]


def wait_validated(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    return wait_for(
        f"a /validate log line for {namespace}/{name}",
        lambda: validated(cluster, namespace, name) or None,
        10,
    )


def force_delete_pods(cluster: Cluster, namespace: str) -> None:
    """Standing in for the kubelets: bound Pods would stay Terminating forever."""
    cluster.plane.kubectl(
        "delete", "pods", "--all", "-n", namespace, "--force", "--grace-period=0", check=False
    )


@pytest.fixture(scope="module")
def guarded(cluster: Cluster) -> Iterator[Cluster]:
    for namespace in (NS, OPERATOR_NS, TEAM_NS):
        create_namespace(cluster.api, namespace, exist_ok=True)
    cluster.api.create(f"/api/v1/namespaces/{NS}/serviceaccounts", {"metadata": {"name": "seldon-server"}})
    # admitted while nothing is reserved yet: its later updates must keep working
    cluster.api.create(f"/api/v1/namespaces/{NS}/pods", pod("early", GPU_EXISTS))
    # the example binds its grant to the namespace Seldon runs in: here, this scenario's own
    cluster.webhook.set_policies(
        RESERVED.read_text().replace("namespaces: [seldon-mesh]", f"namespaces: [{NS}]")
    )
    try:
        yield cluster
    finally:
        cluster.webhook.set_policies(cluster.default_policies)
        for path in (
            f"/apis/apps/v1/namespaces/{NS}/deployments/stowaway",
            f"/apis/apps/v1/namespaces/{NS}/daemonsets/not-an-operator",
            f"/apis/apps/v1/namespaces/{NS}/statefulsets/triton-gpu",
            f"/apis/apps/v1/namespaces/{OPERATOR_NS}/daemonsets/nvidia-device-plugin-daemonset",
        ):
            cluster.api.delete(path, propagationPolicy="Background")
        for namespace in (NS, OPERATOR_NS, TEAM_NS):
            wait_for(
                f"the workloads' Pods in {namespace} to go",
                lambda ns=namespace: force_delete_pods(cluster, ns) or not pods(cluster.api, ns),
                60,
                interval=0.5,
            )


def test_kubectl_shows_the_refusal_of_a_pod_that_tolerates_every_taint(guarded: Cluster) -> None:
    result = guarded.plane.kubectl("create", "-f", str(STOWAWAY), check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f'Error from server: error when creating "{STOWAWAY}": {GUARD}placement-webhook: Pod'
        f" team-a/batch-1 tolerates the reserved taint seldon-gpu-srv:NoSchedule (toleration *), {WHY}; {ACCESS}\n"
    )
    assert guarded.api.maybe(f"/api/v1/namespaces/{TEAM_NS}/pods/batch-1") is None


def test_a_plain_deployment_tolerating_the_gpu_taint_gets_no_pods(guarded: Cluster) -> None:
    api = guarded.api
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "stowaway", "namespace": NS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "stowaway"}},
            "template": template("stowaway", GPU_EXISTS),
        },
    }
    create(api, deployment)
    message = re.compile(
        rf"Error creating: {re.escape(GUARD)}placement-webhook: Pod {NS}/stowaway-[a-z0-9]+-[a-z0-9]+ tolerates the"
        rf" reserved taint seldon-gpu-srv:NoSchedule \(toleration seldon-gpu-srv:NoSchedule\), {WHY}; {re.escape(ACCESS)}"
    )

    def refusals() -> list[dict[str, Any]]:
        events = api.items(f"/api/v1/namespaces/{NS}/events")
        return [
            e
            for e in events
            if e["involvedObject"]["kind"] == "ReplicaSet"
            and e["involvedObject"]["name"].startswith("stowaway-")
            and e["reason"] == "FailedCreate"
        ]

    (event, *_) = wait_for("the ReplicaSet's FailedCreate event", lambda: refusals() or None, 30)
    assert message.fullmatch(event["message"]), event["message"]
    assert [p for p in pods(api, NS) if p["metadata"]["name"].startswith("stowaway-")] == []


def test_the_gpu_operators_daemonset_is_admitted_and_one_elsewhere_is_not(guarded: Cluster) -> None:
    api = guarded.api
    create(api, daemonset("nvidia-device-plugin-daemonset", OPERATOR_NS))
    create(api, daemonset("not-an-operator", NS))
    gpu_nodes = {n["metadata"]["name"] for n in guarded.nodes if reserved(n) and tolerated_by_the_plugin(n)}
    assert len(gpu_nodes) >= 3

    def on_every_gpu_node() -> list[dict[str, Any]] | None:
        created = pods(api, OPERATOR_NS, "app=nvidia-device-plugin-daemonset")
        placed = {
            p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
                "nodeSelectorTerms"
            ][0]["matchFields"][0]["values"][0]
            for p in created
        }
        return created if gpu_nodes <= placed else None

    created = wait_for("the device plugin's Pods on every GPU node", on_every_gpu_node, 60)
    owner = created[0]["metadata"]["ownerReferences"][0]
    assert (owner["apiVersion"], owner["kind"], owner["controller"]) == ("apps/v1", "DaemonSet", True)
    decision = wait_validated(guarded, OPERATOR_NS, created[0]["metadata"]["name"])[0]
    assert (decision["outcome"], decision["taints"], decision["refused"]) == (
        "allowed",
        ["seldon-gpu-srv:NoSchedule"],
        [],
    )

    def refused() -> list[dict[str, Any]]:
        return [
            e
            for e in api.items(f"/api/v1/namespaces/{NS}/events")
            if e["involvedObject"] == {**e["involvedObject"], "kind": "DaemonSet", "name": "not-an-operator"}
            and e["reason"] == "FailedCreate"
        ]

    (event, *_) = wait_for("the other DaemonSet's FailedCreate event", lambda: refused() or None, 30)
    assert f"{GUARD}placement-webhook: Pod {NS}/not-an-operator-" in event["message"]
    assert pods(api, NS, "app=not-an-operator") == []


def test_seldon_gpu_servers_are_admitted_and_placed_on_the_pool(guarded: Cluster) -> None:
    server = load_objects(ROOT / "tests" / "seldon" / "server-triton-gpu.yaml")[0]
    workload = seldon.workload(server, replicas=2)
    workload["metadata"]["namespace"] = NS
    create(guarded.api, workload)
    created = wait_pods(guarded.api, NS, "seldon-server-name=triton-gpu", 2)
    tainted = {n["metadata"]["name"] for n in guarded.nodes if reserved(n)}
    for server_pod in created:
        assert policy_of(server_pod) == "gpu-servers"
        assert server_pod["spec"]["nodeName"] in tainted
        decision = wait_validated(guarded, NS, server_pod["metadata"]["name"])[0]
        assert (decision["operation"], decision["outcome"], decision["refused"]) == ("CREATE", "allowed", [])


def test_a_pod_with_only_the_default_tolerations_is_never_sent(guarded: Cluster) -> None:
    api = guarded.api
    plain = api.create(f"/api/v1/namespaces/{NS}/pods", pod("plain"))
    # the API server's DefaultTolerationSeconds gave it two; the matchConditions look past them
    assert {t["key"] for t in plain["spec"]["tolerations"]} == {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    }
    other = api.create(
        f"/api/v1/namespaces/{NS}/pods", pod("other-taint", {"key": "example.com/spot", "operator": "Exists"})
    )
    assert other["metadata"]["name"] == "other-taint"
    (decision,) = wait_validated(guarded, NS, "other-taint")  # logged after "plain" would have been
    assert decision["outcome"] == "untouched"
    assert validated(guarded, NS, "plain") == []


def test_an_update_adding_the_toleration_to_a_running_pod_is_refused(guarded: Cluster) -> None:
    api = guarded.api
    api.create(f"/api/v1/namespaces/{NS}/pods", pod("web"))
    bound = wait_scheduled(api, NS, "web")
    assert bound["spec"].get("nodeName"), bound["status"]
    patch = json.dumps([{"op": "add", "path": "/spec/tolerations/-", "value": GPU_EXISTS}])
    result = guarded.plane.kubectl("patch", "pod", "web", "-n", NS, "--type=json", "-p", patch, check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error from server: {GUARD}placement-webhook: Pod {NS}/web is updated to tolerate the"
        f" reserved taint seldon-gpu-srv:NoSchedule (toleration seldon-gpu-srv:NoSchedule), {WHY}; {ACCESS}\n"
    )
    assert GPU_EXISTS not in api.get(f"/api/v1/namespaces/{NS}/pods/web")["spec"]["tolerations"]


def test_a_pod_admitted_before_the_reservation_keeps_its_updates(guarded: Cluster) -> None:
    api = guarded.api
    early = copy.deepcopy(api.get(f"/api/v1/namespaces/{NS}/pods/early"))
    assert GPU_EXISTS in early["spec"]["tolerations"]
    updated = api.merge(f"/api/v1/namespaces/{NS}/pods/early", {"metadata": {"labels": {"touched": "yes"}}})
    assert updated["metadata"]["labels"] == {"touched": "yes"}
    decision = wait_for(
        "the update's /validate log line",
        lambda: [v for v in validated(guarded, NS, "early") if v["operation"] == "UPDATE"] or None,
        10,
    )
    assert [(d["outcome"], d["taints"], d["refused"]) for d in decision] == [
        ("allowed", ["seldon-gpu-srv:NoSchedule"], [])
    ]
    with pytest.raises(ApiError) as refused:  # and adding another toleration of it is still refused
        api.request(
            "PATCH",
            f"/api/v1/namespaces/{NS}/pods/early",
            [{"op": "add", "path": "/spec/tolerations/-", "value": {"operator": "Exists"}}],
            content_type="application/json-patch+json",
        )
    assert refused.value.code == 403 and "is updated to tolerate the reserved taint" in str(refused.value)
