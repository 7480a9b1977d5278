"""``audit --cluster`` in the real control plane: server Pods created under one policy set, the
policies changed in the running server, more Pods created after; the audit, run with only the
documented RBAC (docs/audit-rbac.yaml, a TokenRequest token of its ServiceAccount), finds exactly
the Pods created before the change, grouped by owner with the commands that roll them."""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import seldon
from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import wait_for
from tests.e2e.helpers import create, policy_of, wait_pods
from tests.e2e.install import cli, service_account_kubeconfig
from tests.e2e.kube import ROOT, create_namespace, load_objects
from tests.helpers import trusting

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NS = "e2e-audit"
RBAC = ROOT / "docs" / "audit-rbac.yaml"
ACCOUNT = "system:serviceaccount:placement-webhook:placement-webhook-audit"
# today's change: GPU servers now also prefer the 80 GB A100s
PREFERRED = """    nodeAffinity:
      preferred:
      - weight: 10
        matchExpressions:
        - {key: nvidia.com/gpu.product, operator: In, values: [A100-SXM4-80GB]}
      required:"""


def changed_policies(default: str) -> str:
    """The shipped policies with a preferred term added to gpu-servers (its placement only)."""
    head, sep, tail = default.partition("- name: gpu-servers")
    assert sep and tail.count("    nodeAffinity:\n      required:") == 1, "policies.yaml changed shape"
    return head + sep + tail.replace("    nodeAffinity:\n      required:", PREFERRED)


def server_workload(name: str, kind: str, replicas: int) -> dict[str, Any]:
    server = copy.deepcopy(load_objects(ROOT / "tests" / "seldon" / "server-triton-gpu.yaml")[0])
    server["metadata"] = {"name": name, "namespace": NS}
    workload = seldon.workload(server, kind=kind, replicas=replicas)
    workload["metadata"]["namespace"] = NS
    return workload


# not a Seldon server (the mutating webhook is never sent it), yet it tolerates the GPU pool's taint
SNEAKY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "sneaky", "namespace": NS},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "sneaky"}},
        "template": {
            "metadata": {"labels": {"app": "sneaky"}},
            "spec": {
                "containers": [{"name": "web", "image": "registry.invalid/web:1"}],
                "tolerations": [{"key": "seldon-gpu-srv", "operator": "Exists"}],
            },
        },
    },
}


def run_workloads(cluster: Cluster, names: dict[str, str]) -> dict[str, list[str]]:
    """Create each workload (name -> kind) and wait for its Pods; their names per workload."""
    replicas = {"StatefulSet": 2, "Deployment": 1}
    for name, kind in names.items():
        create(cluster.api, server_workload(name, kind, replicas[kind]))
    return {
        name: sorted(
            p["metadata"]["name"]
            for p in wait_pods(cluster.api, NS, f"seldon-server-name={name}", replicas[kind])
        )
        for name, kind in names.items()
    }


@pytest.fixture(scope="module")
def audited(cluster: Cluster) -> Iterator[tuple[Cluster, Path, dict[str, list[str]], dict[str, list[str]]]]:
    create_namespace(cluster.api, NS)
    cluster.api.create(f"/api/v1/namespaces/{NS}/serviceaccounts", {"metadata": {"name": "seldon-server"}})
    before = run_workloads(cluster, {"audit-sts": "StatefulSet", "audit-dep": "Deployment"})
    today = cluster.plane.run_dir / "policies-audit.yaml"
    today.write_text(changed_policies(cluster.default_policies))
    cluster.webhook.set_policies(today.read_text())
    try:
        after = run_workloads(cluster, {"audit-sts-after": "StatefulSet", "audit-dep-after": "Deployment"})
    finally:
        cluster.webhook.set_policies(cluster.default_policies)
    create(cluster.api, SNEAKY)
    wait_pods(cluster.api, NS, "app=sneaky", 1)
    cluster.plane.kubectl("apply", "-f", str(RBAC))
    try:
        yield cluster, today, before, after
    finally:
        cluster.plane.kubectl("delete", "-f", str(RBAC))
        release(cluster)


def release(cluster: Cluster) -> None:
    """Delete the namespace and its Pods for good: without a kubelet a bound Pod's graceful
    deletion never completes, and its GPUs would stay counted for the scenarios that follow."""
    cluster.api.delete(f"/api/v1/namespaces/{NS}")  # Terminating: no Pod can be created in it now

    def gone() -> bool:
        listed = cluster.api.items(f"/api/v1/namespaces/{NS}/pods")
        for pod in listed:
            cluster.api.delete(
                f"/api/v1/namespaces/{NS}/pods/{pod['metadata']['name']}", gracePeriodSeconds=0
            )
        return not listed

    wait_for(f"the Pods of {NS} deleted", gone, 60, interval=0.5)


def audit(cluster: Cluster, *args: str, policies: Path | str) -> tuple[int, Any, str]:
    kubeconfig = service_account_kubeconfig(cluster.plane, "placement-webhook-audit")
    result = cli("audit", "--cluster", "--kubeconfig", str(kubeconfig), "--policies", str(policies), *args)
    report = json.loads(result.stdout) if "json" in args and result.stdout else result.stdout
    return result.returncode, report, result.stderr


def test_audit_finds_exactly_the_pods_created_before_the_policy_change(audited: Any) -> None:
    cluster, today, before, after = audited
    pods = cluster.api.items(f"/api/v1/namespaces/{NS}/pods", labelSelector="seldon-server-name")
    assert {p["metadata"]["name"]: policy_of(p) for p in pods} == dict.fromkeys(
        [*before["audit-sts"], *before["audit-dep"], *after["audit-sts-after"], *after["audit-dep-after"]],
        "gpu-servers",
    )
    code, report, err = audit(cluster, "-n", NS, "-o", "json", policies=today)
    assert (code, err) == (1, "")
    assert report["webhookConfiguration"] == "mutatingwebhookconfiguration placement-webhook"
    assert (report["audited"], report["differing"]) == (6, 3)
    [replicaset] = {
        p["metadata"]["ownerReferences"][0]["name"]
        for p in pods
        if p["metadata"]["name"] in before["audit-dep"]
    }
    added = ["preferred weight 10: nvidia.com/gpu.product In [A100-SXM4-80GB]"]
    assert [
        (
            o["kind"],
            o["namespace"],
            o["name"],
            o["via"],
            o["command"],
            [(p["name"], p["status"], p["changes"]) for p in o["pods"]],
        )
        for o in report["owners"]
    ] == [
        (
            "Deployment",
            NS,
            "audit-dep",
            f"ReplicaSet {replicaset}",
            f"kubectl rollout restart deployment/audit-dep -n {NS}",
            [(name, "patched", added) for name in before["audit-dep"]],
        ),
        (
            "StatefulSet",
            NS,
            "audit-sts",
            None,
            f"kubectl rollout restart statefulset/audit-sts -n {NS}",
            [(name, "patched", added) for name in before["audit-sts"]],
        ),
    ]


def test_the_table_and_the_whole_cluster(audited: Any) -> None:
    cluster, today, before, _ = audited
    code, out, err = audit(cluster, policies=today)
    assert (code, err) == (1, "")
    lines = out.splitlines()
    sts = lines.index(f"StatefulSet {NS}/audit-sts")
    assert lines[sts + 1] == f"  roll: kubectl rollout restart statefulset/audit-sts -n {NS}"
    block = lines[sts + 2 : lines.index("", sts) if "" in lines[sts:] else len(lines)]
    assert [line.split()[0] for line in block if not line.startswith("    ")] == before["audit-sts"]
    assert block[1] == "    + preferred weight 10: nvidia.com/gpu.product In [A100-SXM4-80GB]"
    assert f"StatefulSet {NS}/audit-sts-after" not in lines
    assert not any(line.startswith(f"Deployment {NS}/audit-dep-after") for line in lines)
    # never sent to the webhook, so never audited: e.g. the webhook's own Pods (no seldon-server-name)
    skipped = [line for line in lines if line.startswith("not audited: ")]
    assert skipped and skipped[-1].endswith(" not selected by the webhook's objectSelector"), out


def test_under_the_policies_that_placed_them_nothing_differs(audited: Any) -> None:
    cluster, _, _, _ = audited
    code, report, err = audit(cluster, "-n", NS, "-o", "json", policies=cluster.webhook.policies)
    assert (code, err, report["audited"], report["owners"]) == (0, "", 6, [])


def test_with_a_reservation_the_guard_finds_the_pod_that_tolerates_it_by_hand(audited: Any) -> None:
    cluster, today, _, _ = audited
    guarded = today.with_name("policies-audit-guarded.yaml")
    # today's policies grant the taint on labels and requests alone: accepted here, as a file
    # may, to audit what the guard makes of the Pods (loading refuses it otherwise)
    guarded.write_text(
        trusting(today.read_text() + "\nreservations:\n- taint: {key: seldon-gpu-srv, effect: NoSchedule}\n")
    )
    code, report, err = audit(cluster, "-n", NS, "-o", "json", policies=guarded)
    assert (code, err) == (1, "")
    [sneaky] = [o for o in report["owners"] if o["name"] == "sneaky"]
    [pod] = sneaky["pods"]
    assert (sneaky["kind"], sneaky["command"], pod["status"]) == (
        "Deployment",
        f"kubectl rollout restart deployment/sneaky -n {NS}",
        "refused",
    )
    assert pod["message"].startswith(
        f"Pod {NS}/{pod['name']} tolerates the reserved taint seldon-gpu-srv:NoSchedule (toleration seldon-gpu-srv)"
    )
    # the servers the policies place are entitled: only their placement differs, as without it
    assert sorted(o["name"] for o in report["owners"]) == ["audit-dep", "audit-sts", "sneaky"]
    assert {p["status"] for o in report["owners"] if o["name"] != "sneaky" for p in o["pods"]} == {"patched"}


def test_namespace_labels_are_read_for_a_policys_namespace_selector(audited: Any) -> None:
    """Relabelled while the Pods run: the next audit follows the labels the API server has now."""
    cluster, today, _, _ = audited
    by_team = today.with_name("policies-audit-team.yaml")
    head, sep, tail = cluster.default_policies.partition("policies:\n")
    by_team.write_text(
        head
        + sep
        + '- name: nlp-pool\n  match: {servers: ["*"], namespaceSelector: {matchLabels: {team: nlp}}}\n'
        "  placement: {nodeSelector: {team-pool: nlp}}\n" + tail
    )
    reported: dict[str, dict[str, list[str]]] = {}
    for team in ("nlp", "cv"):
        cluster.api.merge(f"/api/v1/namespaces/{NS}", {"metadata": {"labels": {"team": team}}})
        code, report, err = audit(cluster, "-n", NS, "-o", "json", policies=by_team)
        assert (code, err) == ((1, "") if team == "nlp" else (0, "")), err
        reported[team] = {o["name"]: [c for p in o["pods"] for c in p["changes"]] for o in report["owners"]}
    assert sorted(reported["nlp"]) == ["audit-dep", "audit-dep-after", "audit-sts", "audit-sts-after"]
    assert {c for changes in reported["nlp"].values() for c in changes} == {"nodeSelector team-pool=nlp"}
    assert reported["cv"] == {}


def test_the_documented_rbac_is_read_only(audited: Any) -> None:
    cluster, _, _, _ = audited

    def can(*args: str) -> str:
        return cluster.plane.kubectl("auth", "can-i", *args, f"--as={ACCOUNT}", check=False).stdout.strip()

    assert can("list", "pods", "-A") == "yes"
    assert can("get", "replicasets", "-n", NS) == "yes"
    assert can("get", "mutatingwebhookconfigurations/placement-webhook") == "yes"
    for forbidden in (
        ("watch", "pods", "-A"),
        ("delete", "pods", "-n", NS),
        ("get", "secrets", "-n", "placement-webhook"),
        ("patch", "statefulsets", "-n", NS),
        ("get", "mutatingwebhookconfigurations/other"),
        ("list", "replicasets", "-n", NS),
    ):
        assert can(*forbidden) == "no", forbidden


def test_without_the_rbac_the_audit_is_refused_in_one_line(audited: Any) -> None:
    cluster, today, _, _ = audited
    cluster.plane.kubectl("delete", "clusterrolebinding", "placement-webhook-audit")
    try:
        code, out, err = audit(cluster, "-n", NS, policies=today)
    finally:
        cluster.plane.kubectl("apply", "-f", str(RBAC))
    assert (code, out) == (2, "")
    assert err.startswith("error: cluster: get mutatingwebhookconfiguration placement-webhook: 403 ")
    assert len(err.splitlines()) == 1, err


def test_rolling_the_deployment_places_its_new_pod_by_todays_policies(audited: Any) -> None:
    """Last, as it changes the Deployment: its roll command, run with today's policies in the
    server, makes a Pod the audit no longer reports (the old one stays: no kubelet makes the new
    one Ready, so the Deployment keeps it). Both commands are accepted by the API server."""
    cluster, today, before, _ = audited
    _, report, _ = audit(cluster, "-n", NS, "-o", "json", policies=today)
    commands = {o["name"]: o["command"] for o in report["owners"]}
    cluster.webhook.set_policies(today.read_text())
    try:
        cluster.plane.kubectl(*shlex.split(commands["audit-dep"])[1:])
        rolled = wait_pods(cluster.api, NS, "seldon-server-name=audit-dep", 2)
    finally:
        cluster.webhook.set_policies(cluster.default_policies)
    [new] = [p["metadata"]["name"] for p in rolled if p["metadata"]["name"] not in before["audit-dep"]]
    code, report, _ = audit(cluster, "-n", NS, "-o", "json", policies=today)
    reported = {o["name"]: [p["name"] for p in o["pods"]] for o in report["owners"]}
    assert (code, reported) == (1, {"audit-dep": before["audit-dep"], "audit-sts": before["audit-sts"]})
    assert new not in reported["audit-dep"]
    out = cluster.plane.kubectl(*shlex.split(commands["audit-sts"])[1:]).stdout
    assert out == "statefulset.apps/audit-sts restarted\n"
    sts = cluster.api.get(f"/apis/apps/v1/namespaces/{NS}/statefulsets/audit-sts")
    assert "kubectl.kubernetes.io/restartedAt" in sts["spec"]["template"]["metadata"]["annotations"]
