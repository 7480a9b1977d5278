"""Native mode as the chart installs it: the inert policies and bindings of ``mode: native``, a
server run with the chart's ``--native-placement`` and a token of its ServiceAccount (the chart's
ClusterRole, nothing more), and no webhook in the Pod create path: the API server places Pods by
itself, and a changed policy file reaches the MutatingAdmissionPolicy without a manual step."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy import chart
from tests.e2e import install
from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import Process, free_port, spawn, wait_for
from tests.e2e.kube import ROOT, create_namespace
from tests.e2e.native_cases import server_pod
from tests.e2e.test_native_placement import EMPTY

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

RELEASE = NAMESPACE = "e2e-nm"
NAME = f"{RELEASE}-placement-webhook"
APPS = "e2e-nm-apps"
MOVED = """\
version: 1
policies:
- name: moved
  match: {servers: ["*"]}
  placement: {nodeSelector: {pool: elsewhere}}
"""


def chart_objects() -> list[dict[str, Any]]:
    """What ``helm install --set mode=native`` creates for the server's native part."""
    objects = chart.template({"mode": "native"}, release=RELEASE, namespace=NAMESPACE, kube_version="1.37.2")
    kinds = ("MutatingAdmissionPolicy", "ValidatingAdmissionPolicy")
    wanted = [o for o in objects if o["kind"].startswith(kinds) and "-guard" not in o["metadata"]["name"]]
    wanted += [
        o
        for o in objects
        if o["kind"] in ("ClusterRole", "ClusterRoleBinding") and o["metadata"]["name"] == f"{NAME}-native"
    ]
    wanted += [o for o in objects if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == NAME]
    return wanted


def placed_by(cluster: Cluster) -> dict[str, Any]:
    """What a dry-run create of a GPU server Pod stores: its policy annotation and nodeSelector."""
    pod = server_pod("probe", [[{"key": "zone", "operator": "Exists"}]])
    stored = cluster.api.create(f"/api/v1/namespaces/{APPS}/pods", pod, dryRun="All")
    return {
        "policy": stored["metadata"].get("annotations", {}).get("placement-webhook.io/policy"),
        "nodeSelector": stored["spec"].get("nodeSelector"),
        "terms": stored["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"],
    }  # fmt: skip


@pytest.fixture(scope="module")
def native_mode(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Cluster, Path, Process]]:
    cluster.webhook.set_policies(EMPTY)  # the session's webhook places nothing meanwhile
    create_namespace(cluster.api, NAMESPACE)
    create_namespace(cluster.api, APPS)
    objects = chart_objects()
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    cluster.plane.kubectl("apply", "--server-side", "--field-manager=helm", "-f", "-", stdin=document)
    folder = tmp_path_factory.mktemp("native-mode")
    policies = folder / "policies.yaml"
    policies.write_text((ROOT / "examples" / "gpu-pool.yaml").read_text())
    kubeconfig = install.service_account_kubeconfig(cluster.plane, NAME, namespace=NAMESPACE)
    argv = [str(install.CLI), "serve", f"--policies={policies}", f"--cert-dir={folder / 'certs'}",
            "--host=127.0.0.1", f"--port={free_port()}", f"--native-placement={NAME}"]  # fmt: skip
    env = {"KUBECONFIG": str(kubeconfig), "PLACEMENT_WEBHOOK_RELOAD_INTERVAL": "0.2"}
    server = spawn("native-mode", argv, cluster.plane.logs / "native-mode.log", env)
    try:
        yield cluster, policies, server
    finally:
        server.stop()
        cluster.plane.kubectl("delete", "--ignore-not-found", "-f", "-", stdin=document)
        for namespace in (NAMESPACE, APPS):
            cluster.plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        cluster.webhook.set_policies(cluster.default_policies)


def test_the_api_server_places_pods_from_the_policy_file_the_server_keeps_compiled(
    native_mode: tuple[Cluster, Path, Process],
) -> None:
    cluster, policies, server = native_mode

    def placed(policy: str) -> dict[str, Any] | None:
        assert server.alive(), server.tail()
        found = placed_by(cluster)
        return found if found["policy"] == policy else None

    first = wait_for("the native policy of gpu-pool.yaml", lambda: placed("gpu-servers"), 30)
    assert first["terms"] == [{"matchExpressions": [
        {"key": "zone", "operator": "Exists"},
        {"key": "pool", "operator": "In", "values": ["infer-srv"]},
        {"key": "nvidia.com/mig.capable", "operator": "DoesNotExist"}]}]  # fmt: skip
    policies.write_text(MOVED)  # no helm upgrade, no kubectl: the server follows the file
    moved = wait_for("the native policy of the changed file", lambda: placed("moved"), 30)
    assert moved["nodeSelector"] == {"pool": "elsewhere"}
    assert moved["terms"] == [{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]
    log = server.log.read_text()
    assert '"msg":"native guard in step"' in log and "native guard not applied" not in log


def test_the_servers_token_patches_its_three_policies_and_nothing_else(
    native_mode: tuple[Cluster, Path, Process],
) -> None:
    """The chart's RBAC, by real calls with the ServiceAccount's token: get and patch of its own
    policies by name; no other policy, no binding, no create or delete."""
    cluster, _, _ = native_mode
    kubeconfig = install.service_account_kubeconfig(cluster.plane, NAME, namespace=NAMESPACE)
    config = json.loads(kubeconfig.read_text())
    token = config["users"][0]["user"]["token"]
    base = "/apis/admissionregistration.k8s.io/v1"
    with httpx.Client(base_url=cluster.plane.server, verify=ssl.create_default_context(cafile=str(cluster.plane.pki.ca)),
                      headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:  # fmt: skip

        def status(method: str, path: str, body: Any = None) -> int:
            content = None if body is None else json.dumps(body)
            headers = {"Content-Type": "application/merge-patch+json"}
            return http.request(method, base + path, content=content, headers=headers).status_code

        assert status("GET", f"/mutatingadmissionpolicies/{NAME}") == 200
        assert status("GET", f"/validatingadmissionpolicies/{NAME}-deny") == 200
        assert (
            status("PATCH", f"/validatingadmissionpolicies/{NAME}-warn", {"metadata": {"labels": {"x": "y"}}})
            == 200
        )
        assert status("GET", "/mutatingadmissionpolicies/aaa-someone-else") == 403
        assert status("GET", "/mutatingadmissionpolicies") == 403
        assert status("PATCH", f"/mutatingadmissionpolicybindings/{NAME}", {"spec": {}}) == 403
        assert status("DELETE", f"/mutatingadmissionpolicies/{NAME}") == 403
        policy = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": "x"},
        }
        assert status("POST", "/mutatingadmissionpolicies", policy) == 403


def heavy_pod() -> dict[str, Any]:
    """A valid server Pod (~1 MB) whose required terms make the placement's CEL exceed the API
    server's per-call cost limit: 40 terms of Gt/Lt and 20 NotIn lists spelling 4 and 5 60 ways."""
    values = [str(i).zfill(width) for i in (4, 5) for width in range(1, 31)]
    expressions = [
        {"key": "k", "operator": "Gt", "values": ["3"]},
        {"key": "k", "operator": "Lt", "values": ["6"]},
    ]
    expressions += [{"key": "k", "operator": "NotIn", "values": values} for _ in range(20)]
    pod = server_pod("heavy", [expressions] * 40)
    return pod


def test_a_pod_built_to_exhaust_the_cel_budget_is_refused_never_admitted_unplaced(
    native_mode: tuple[Cluster, Path, Process],
) -> None:
    """As a tenant allowed only to create Pods in its namespace: the API server stops the
    placement's CEL at its cost limit and, failurePolicy Fail, refuses the Pod (the webhook would
    have placed it); an ordinary server Pod of the same tenant is placed."""
    cluster, _, _ = native_mode
    wait_for("the native policy in step", lambda: placed_by(cluster)["policy"] is not None, 30)
    api = cluster.api
    api.create(f"/api/v1/namespaces/{APPS}/serviceaccounts", {"metadata": {"name": "tenant"}})
    rule = {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get"]}
    api.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{APPS}/roles",
        {"metadata": {"name": "tenant"}, "rules": [rule]},
    )
    api.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{APPS}/rolebindings", {"metadata": {"name": "tenant"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant"},
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": APPS}]})  # fmt: skip
    token = json.loads(
        install.service_account_kubeconfig(cluster.plane, "tenant", namespace=APPS).read_text()
    )
    headers = {
        "Authorization": f"Bearer {token['users'][0]['user']['token']}",
        "Content-Type": "application/json",
    }
    context = ssl.create_default_context(cafile=str(cluster.plane.pki.ca))
    with httpx.Client(base_url=cluster.plane.server, verify=context, headers=headers, timeout=60) as http:
        heavy = http.post(f"/api/v1/namespaces/{APPS}/pods", content=json.dumps(heavy_pod()))
        # refused by our policy failing closed (403 with the API server's reason), not by RBAC
        assert heavy.status_code == 403 and f"policy '{NAME}' with binding '{NAME}' denied" in heavy.text
        assert "actual cost limit exceeded" in heavy.text
        assert http.get(f"/api/v1/namespaces/{APPS}/pods/heavy").status_code == 404
        ordinary = server_pod("ordinary", [[{"key": "zone", "operator": "Exists"}]])
        created = http.post(f"/api/v1/namespaces/{APPS}/pods", content=json.dumps(ordinary))
        assert created.status_code == 201, created.text[:500]
        assert created.json()["metadata"]["annotations"]["placement-webhook.io/policy"] in (
            "gpu-servers",
            "moved",
        )
