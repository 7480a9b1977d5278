"""Issue 23's threat model, tried on the real API server: a tenant who may write every field of
every Pod, Deployment, Job and StatefulSet in their own namespaces, and nothing else, cannot put a
Pod on a reserved GPU node — with the webhook serving, and again with every replica stopped.

The tenant is a ServiceAccount with exactly that RBAC (a token for it, not admin). With
``examples/reserved-gpu-pool.yaml`` in force (its Seldon namespace here ``e2e-seldon``, plus a
policy that entitles the tenant's own ``e2e-tenant-gpu`` namespace to the pool), the server keeps
the native ValidatingAdmissionPolicy in step (``--native-guard``, as the chart runs it): that is
what holds while no replica answers, together with the fail-closed ``spec.nodeName`` webhook.
Every attempt must end refused, with no Pod, or with its Pods bound off the pool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import install, seldon
from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import Api, ApiError, wait_for, write_kubeconfig
from tests.e2e.helpers import create, policy_of, wait_pods
from tests.e2e.kube import ROOT, create_namespace, load_objects, pods, wait_scheduled
from webhook.native import inert_policy

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SELDON_NS, TENANT_NS, TENANT_GPU_NS, OPERATOR_NS = (
    "e2e-seldon",
    "e2e-tenant",
    "e2e-tenant-gpu",
    "gpu-operator",
)
RESERVED = ROOT / "examples" / "reserved-gpu-pool.yaml"
NATIVE = "placement-webhook-guard"
TENANT_POLICY = """\
- name: team-gpu
  match: {namespaces: [e2e-tenant-gpu], resources: [nvidia.com/gpu]}
  placement:
    tolerations:
    - {key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}
    nodeAffinity:
      required:
      - {key: pool, operator: In, values: [infer-srv]}
"""
EVERYTHING = {"operator": "Exists"}
GPU_LIMITS = {"limits": {"nvidia.com/gpu": "8"}}
WORKLOADS = [
    ("apps", ["deployments", "replicasets", "statefulsets", "daemonsets"]),
    ("batch", ["jobs", "cronjobs"]),
]
VERBS = ["create", "update", "patch", "get", "list", "watch", "delete"]


def policy_text() -> str:
    text = RESERVED.read_text().replace("namespaces: [seldon-mesh]", f"namespaces: [{SELDON_NS}]")
    return text.replace("reservations:", TENANT_POLICY + "reservations:", 1)


def is_reserved(node: dict[str, Any]) -> bool:
    taints = (node.get("spec") or {}).get("taints") or []
    return any(t.get("key") == "seldon-gpu-srv" and t.get("effect") == "NoSchedule" for t in taints)


def imitation(name: str, *, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """A training Pod dressed as a Seldon GPU server: the label, the agent's env, GPU limits, and a
    toleration of every taint — every field its author may write."""
    pod_spec: dict[str, Any] = {
        "containers": [
            {
                "name": "agent",
                "image": "registry.invalid/train:1",
                "env": [{"name": "SELDON_SERVER_TYPE", "value": "triton"}],
                "resources": GPU_LIMITS,
            }
        ],
        "tolerations": [EVERYTHING],
        **spec,
    }
    metadata = {"name": name, "labels": labels if labels is not None else seldon.labels("not-really")}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def plain(name: str, **spec: Any) -> dict[str, Any]:
    pod_spec = {"containers": [{"name": "main", "image": "registry.invalid/app:1"}], **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec}


@dataclass
class Tenant:
    api: Api
    kubeconfig: Path
    cluster: Cluster
    state: str  # "serving" or "stopped": the webhook's replicas
    reserved_nodes: set[str]

    def kubectl(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Any:
        argv = [str(self.cluster.plane.binaries["kubectl"]), f"--kubeconfig={self.kubeconfig}", *args]
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(argv, capture_output=True, text=True, input=stdin, env=full_env, timeout=120)

    def on_the_pool(self, namespace: str) -> list[str]:
        """The tenant's Pods in ``namespace`` bound (or naming) a reserved node."""
        return [
            p["metadata"]["name"]
            for p in pods(self.cluster.api, namespace)
            if p["spec"].get("nodeName") in self.reserved_nodes
        ]


def tenant_rbac(api: Api, namespace: str) -> None:
    """Pods (and their ephemeral containers) and every workload kind, in ``namespace`` only."""
    rules = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": VERBS},
        {"apiGroups": [""], "resources": ["pods/ephemeralcontainers"], "verbs": ["get", "update", "patch"]},
        *({"apiGroups": [group], "resources": resources, "verbs": VERBS} for group, resources in WORKLOADS),
    ]
    api.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
        {"metadata": {"name": "tenant"}, "rules": rules},
    )
    api.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        {
            "metadata": {"name": "tenant"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant"},
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": TENANT_NS}],
        },
    )


def native_policy_active(cluster: Cluster) -> bool:
    """The API server refuses a stowaway through the native policy (its informer has caught up)."""
    try:
        cluster.api.create(
            f"/api/v1/namespaces/{TENANT_NS}/pods", plain("probe", tolerations=[EVERYTHING]), dryRun="All"
        )
    except ApiError as exc:
        return "ValidatingAdmissionPolicy" in str(exc)
    return False


@pytest.fixture(scope="module")
def attacked(cluster: Cluster) -> Iterator[Cluster]:
    api = cluster.api
    for namespace in (SELDON_NS, TENANT_NS, TENANT_GPU_NS, OPERATOR_NS):
        create_namespace(api, namespace, exist_ok=True)
    api.create(f"/api/v1/namespaces/{TENANT_NS}/serviceaccounts", {"metadata": {"name": "tenant"}})
    api.create(f"/api/v1/namespaces/{SELDON_NS}/serviceaccounts", {"metadata": {"name": "seldon-server"}})
    for namespace in (TENANT_NS, TENANT_GPU_NS):
        tenant_rbac(api, namespace)
    webhook = cluster.webhook
    webhook.stop()
    assert cluster.relay is not None
    webhook.env = install.server_environment(cluster.plane, cluster.relay, native=True)
    webhook.start()
    webhook.set_policies(policy_text())
    wait_for("the native guard to refuse a stowaway", lambda: native_policy_active(cluster), 60)
    try:
        yield cluster
    finally:
        if webhook.process is None:
            webhook.start()
        webhook.set_policies(cluster.default_policies)
        webhook.stop()
        webhook.env = install.server_environment(cluster.plane, cluster.relay)
        webhook.start()
        # inert again, as the chart installs them (the server that kept them in step is gone)
        inert = {
            "apiVersion": "v1",
            "kind": "List",
            "items": [inert_policy(n) for n in (NATIVE, f"{NATIVE}-audit")],
        }
        cluster.plane.kubectl(
            "apply", "--server-side", "--force-conflicts", "--field-manager=placement-webhook", "-f", "-",
            stdin=json.dumps(inert),
        )  # fmt: skip
        for namespace in (SELDON_NS, TENANT_NS, TENANT_GPU_NS):
            cluster.plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module", params=["serving", "stopped"])
def tenant(attacked: Cluster, request: pytest.FixtureRequest) -> Iterator[Tenant]:
    """The tenant, first while the webhook serves, then with every replica stopped."""
    plane = attacked.plane
    token = plane.kubectl("create", "token", "tenant", "-n", TENANT_NS, "--duration=1h").stdout.strip()
    kubeconfig = write_kubeconfig(
        plane.run_dir / "tenant.kubeconfig", plane.server, plane.pki.ca, token=token
    )
    api = Api(plane.server, plane.pki.ca, token=token)
    reserved_nodes = {n["metadata"]["name"] for n in attacked.nodes if is_reserved(n)}
    state = request.param
    # a Pod the tenant runs already, bound off the pool: the target of the update attacks
    running = f"web-{state}"
    api.create(f"/api/v1/namespaces/{TENANT_NS}/pods", plain(running))
    wait_scheduled(attacked.api, TENANT_NS, running)
    if state == "stopped":
        attacked.webhook.stop()
    try:
        yield Tenant(api, kubeconfig, attacked, state, reserved_nodes)
    finally:
        if attacked.webhook.process is None:
            attacked.webhook.start()


def refused(attempt: Callable[[], Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        attempt()
    assert caught.value.code in (400, 403, 422, 500), caught.value
    return caught.value


def test_the_tenants_rbac_is_exactly_the_threat_model(tenant: Tenant) -> None:
    plane = tenant.cluster.plane
    who = f"--as=system:serviceaccount:{TENANT_NS}:tenant"
    for verb, resource, subresource, namespace, allowed in [
        ("create", "pods", "", TENANT_NS, "yes"),
        ("patch", "pods", "ephemeralcontainers", TENANT_GPU_NS, "yes"),
        ("create", "statefulsets.apps", "", TENANT_NS, "yes"),
        ("create", "cronjobs.batch", "", TENANT_GPU_NS, "yes"),
        ("create", "pods", "", SELDON_NS, "no"),
        ("create", "pods", "", install.NS, "no"),
        ("create", "pods", "binding", TENANT_NS, "no"),
        ("update", "nodes", "", "", "no"),
        ("create", "servers.mlops.seldon.io", "", TENANT_NS, "no"),
        ("patch", "validatingadmissionpolicies.admissionregistration.k8s.io", "", "", "no"),
        ("update", "namespaces", "", "", "no"),
    ]:
        scope = ["-n", namespace] if namespace else []
        scope += [f"--subresource={subresource}"] if subresource else []
        answer = plane.kubectl("auth", "can-i", verb, resource, who, *scope, check=False).stdout.strip()
        assert answer == allowed, (verb, resource, subresource, namespace)


def test_an_imitation_of_a_seldon_server_is_refused(tenant: Tenant) -> None:
    error = refused(
        lambda: tenant.api.create(f"/api/v1/namespaces/{TENANT_NS}/pods", imitation(f"fake-{tenant.state}"))
    )
    if tenant.state == "serving":
        assert "seldon-gpu-srv:NoSchedule" in str(error)
    assert tenant.on_the_pool(TENANT_NS) == []


@pytest.mark.parametrize("kind", ["Deployment", "Job", "StatefulSet"])
def test_an_imitation_through_a_workload_gets_no_pod_on_the_pool(tenant: Tenant, kind: str) -> None:
    name = f"fake-{kind.lower()}-{tenant.state}"
    template = imitation(name)
    template_meta = {"labels": {**template["metadata"]["labels"], "app": name}}
    spec: dict[str, Any] = {"template": {"metadata": template_meta, "spec": template["spec"]}}
    group = "batch/v1" if kind == "Job" else "apps/v1"
    if kind == "Job":
        spec["template"]["spec"]["restartPolicy"] = "Never"
    else:
        spec |= {"replicas": 2, "selector": {"matchLabels": {"app": name}}}
    if kind == "StatefulSet":
        spec |= {"serviceName": name, "podManagementPolicy": "Parallel"}
    workload = {
        "apiVersion": group,
        "kind": kind,
        "metadata": {"name": name, "namespace": TENANT_NS},
        "spec": spec,
    }
    create(tenant.api, workload)

    def refusal_recorded() -> bool:
        events = tenant.cluster.api.items(f"/api/v1/namespaces/{TENANT_NS}/events")
        return any(
            e["reason"] == "FailedCreate" and e["involvedObject"]["name"].startswith(name) for e in events
        )

    wait_for(f"the {kind}'s FailedCreate event", refusal_recorded, 60)
    assert [p for p in pods(tenant.cluster.api, TENANT_NS) if p["metadata"]["name"].startswith(name)] == []


def test_a_forged_owner_reference_to_a_real_servers_statefulset_entitles_nothing(tenant: Tenant) -> None:
    admin = tenant.cluster.api
    server = load_objects(ROOT / "tests" / "seldon" / "server-triton-gpu.yaml")[0]
    path = f"/apis/apps/v1/namespaces/{SELDON_NS}/statefulsets/triton-gpu"
    real = admin.maybe(path)
    if real is None:
        workload = seldon.workload(server, replicas=0)
        workload["metadata"]["namespace"] = SELDON_NS
        real = create(admin, workload)
    forged = imitation(f"forged-{tenant.state}", labels=seldon.labels("triton-gpu"))
    forged["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": "triton-gpu",
            "uid": real["metadata"]["uid"],
            "controller": True,
        }
    ]
    refused(lambda: tenant.api.create(f"/api/v1/namespaces/{TENANT_NS}/pods", forged))
    assert tenant.on_the_pool(TENANT_NS) == []


def test_a_conflicting_match_with_the_tenants_own_toleration_is_refused(tenant: Tenant) -> None:
    """``team-gpu`` matches (the tenant's entitled namespace, GPU limits) but the Pod pins itself to
    another pool: the policy is not applied, so its ``Exists`` toleration entitles to nothing."""
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["t4-pool"]}]}
                ]
            }
        }
    }
    pod = imitation(f"conflict-{tenant.state}", labels={}, affinity=affinity)
    refused(lambda: tenant.api.create(f"/api/v1/namespaces/{TENANT_GPU_NS}/pods", pod))
    assert pod["metadata"]["name"] not in tenant.on_the_pool(TENANT_GPU_NS)  # entitled Pods may be there


def test_a_pod_created_bound_to_a_reserved_node_is_refused(tenant: Tenant) -> None:
    node = sorted(tenant.reserved_nodes)[0]
    error = refused(
        lambda: tenant.api.create(
            f"/api/v1/namespaces/{TENANT_NS}/pods", plain(f"bound-{tenant.state}", nodeName=node)
        )
    )
    if tenant.state == "serving":
        assert f"names node {node} in spec.nodeName" in str(error)
    assert tenant.on_the_pool(TENANT_NS) == []


def on_the_pool_or_the_pool_full(pod: dict[str, Any], reserved_nodes: set[str]) -> bool:
    """Bound to a reserved node, or left pending only because the pool's GPUs are taken (earlier
    scenarios fill them: there are no kubelets to finish a Pod) and never for a taint or affinity."""
    if pod["spec"].get("nodeName"):
        return pod["spec"]["nodeName"] in reserved_nodes
    messages = [
        c.get("message", "") for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"
    ]
    return any("Insufficient nvidia.com/gpu" in m for m in messages)


def edit_script(tmp: Path) -> Path:
    """A KUBE_EDITOR that adds a toleration of every taint to the Pod kubectl edit opens."""
    script = tmp / "add-toleration.py"
    script.write_text(
        "import sys, yaml\n"
        "path = sys.argv[-1]\n"
        "pod = yaml.safe_load(open(path))\n"
        "pod['spec'].setdefault('tolerations', []).append({'operator': 'Exists'})\n"
        "open(path, 'w').write(yaml.safe_dump(pod))\n"
    )
    return script


@pytest.mark.parametrize("how", ["patch", "replace", "edit"])
def test_a_toleration_added_to_a_running_pod_is_refused(tenant: Tenant, how: str, tmp_path: Path) -> None:
    name = f"web-{tenant.state}"
    if how == "patch":
        patch = json.dumps([{"op": "add", "path": "/spec/tolerations/-", "value": EVERYTHING}])
        result = tenant.kubectl("patch", "pod", name, "-n", TENANT_NS, "--type=json", "-p", patch)
    elif how == "replace":
        current = tenant.api.get(f"/api/v1/namespaces/{TENANT_NS}/pods/{name}")
        current["spec"]["tolerations"].append(EVERYTHING)
        result = tenant.kubectl("replace", "-f", "-", stdin=json.dumps(current))
    else:
        editor = f"{sys.executable} {edit_script(tmp_path)}"
        result = tenant.kubectl(
            "edit", "pod", name, "-n", TENANT_NS, "--output-patch=false", env={"KUBE_EDITOR": editor}
        )
    assert result.returncode != 0, result.stdout
    assert "denied" in result.stderr or "failed calling webhook" in result.stderr, result.stderr
    tolerations = tenant.api.get(f"/api/v1/namespaces/{TENANT_NS}/pods/{name}")["spec"]["tolerations"]
    assert EVERYTHING not in tolerations


def test_an_ephemeral_container_update_adds_no_toleration(tenant: Tenant) -> None:
    name = f"web-{tenant.state}"
    path = f"/api/v1/namespaces/{TENANT_NS}/pods/{name}/ephemeralcontainers"
    current = tenant.api.get(path)
    current["spec"]["tolerations"].append(EVERYTHING)
    current["spec"]["ephemeralContainers"] = [
        {"name": f"debug-{int(time.time())}", "image": "registry.invalid/debug:1"}
    ]
    try:
        updated = tenant.api.request("PUT", path, current)
    except ApiError as exc:  # refused outright is as good
        assert exc.code in (400, 403, 422), exc
        updated = tenant.api.get(f"/api/v1/namespaces/{TENANT_NS}/pods/{name}")
    assert EVERYTHING not in updated["spec"]["tolerations"]
    assert tenant.on_the_pool(TENANT_NS) == []


def test_seldon_servers_and_the_gpu_operator_still_run_on_the_pool(tenant: Tenant) -> None:
    """What the pool is for keeps working under the native policy (only while serving: the
    placement webhook, failurePolicy Fail, must place a server's Pods)."""
    if tenant.state == "stopped":
        pytest.skip("with every replica stopped, server Pods wait for /mutate (failurePolicy Fail)")
    admin = tenant.cluster.api
    server = load_objects(ROOT / "tests" / "seldon" / "server-triton-gpu.yaml")[0]
    workload = seldon.workload(server, replicas=2)
    workload["metadata"] |= {"name": "triton-gpu-live", "namespace": SELDON_NS}
    workload["spec"]["selector"]["matchLabels"] = {"seldon-server-name": "triton-gpu-live"}
    workload["spec"]["template"]["metadata"]["labels"] = seldon.labels("triton-gpu-live")
    create(admin, workload)
    for pod in wait_pods(admin, SELDON_NS, "seldon-server-name=triton-gpu-live", 2):
        assert policy_of(pod) == "gpu-servers"
        assert on_the_pool_or_the_pool_full(pod, tenant.reserved_nodes)
    # the tenant's own entitled namespace: a server Pod /mutate places (it writes no toleration itself)
    entitled = imitation("team-gpu-0", labels=seldon.labels("team-model"), tolerations=[])
    created = tenant.api.create(f"/api/v1/namespaces/{TENANT_GPU_NS}/pods", entitled)
    assert policy_of(created) == "team-gpu"
    assert on_the_pool_or_the_pool_full(
        wait_scheduled(admin, TENANT_GPU_NS, "team-gpu-0"), tenant.reserved_nodes
    )
    plugin_tolerations = [{"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoSchedule"}]
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "device-plugin", "namespace": OPERATOR_NS},
        "spec": {
            "selector": {"matchLabels": {"app": "device-plugin"}},
            "template": {
                "metadata": {"labels": {"app": "device-plugin"}},
                "spec": plain("x", tolerations=plugin_tolerations)["spec"],
            },
        },
    }
    create(admin, daemonset)
    wait_for(
        "device-plugin Pods on reserved nodes",
        lambda: (
            [
                p
                for p in pods(admin, OPERATOR_NS, "app=device-plugin")
                if p["spec"].get("nodeName") in tenant.reserved_nodes
            ]
            or None
        ),
        60,
    )
    admin.delete(
        f"/apis/apps/v1/namespaces/{OPERATOR_NS}/daemonsets/device-plugin", propagationPolicy="Background"
    )
