"""Scenario 10 (last: it removes the install): uninstall as docs/install.md says."""

from __future__ import annotations

import pytest

from tests.e2e import install
from tests.e2e.conftest import Cluster, probe_pod
from tests.e2e.controlplane import wait_for
from tests.e2e.helpers import policy_of
from tests.e2e.kube import ROOT, create_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NS = "e2e-after-uninstall"
MWCS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
VWCS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


def test_uninstall_leaves_no_webhook_and_server_pods_can_be_created(cluster: Cluster) -> None:
    plane = cluster.plane
    plane.kubectl(
        "delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration", "placement-webhook"
    )
    cluster.webhook.stop()  # its Pods go with the namespace; nothing may call it any more
    # --wait=false: without kubelets, the bound server Pods would stay Terminating forever
    # docs/install.md's second command, as written there (--ignore-not-found: the first one deleted
    # the webhook configuration); --wait=false: without kubelets, bound Pods stay Terminating
    deleted = plane.kubectl(
        "delete", "--ignore-not-found", "--wait=false", "-k", str(ROOT / "deploy" / "base"), check=False
    )
    assert (deleted.returncode, deleted.stderr) == (0, "")
    assert [h["metadata"]["name"] for h in cluster.api.items(MWCS)] == []
    assert [h["metadata"]["name"] for h in cluster.api.items(VWCS)] == []
    assert cluster.api.get(f"/api/v1/namespaces/{install.NS}")["metadata"].get("deletionTimestamp")
    for name in ("placement-webhook-certs",):
        assert cluster.api.maybe(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}") is None
        assert cluster.api.maybe(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}") is None

    create_namespace(cluster.api, NS)

    def created() -> bool:  # the removed configuration leaves the API server's informer shortly
        pod = cluster.api.create(f"/api/v1/namespaces/{NS}/pods", probe_pod("after"))
        return pod is not None

    wait_for("a server Pod without the webhook", created, 20, interval=0.3)
    pod = cluster.api.get(f"/api/v1/namespaces/{NS}/pods/after")
    assert policy_of(pod) is None and "affinity" not in pod["spec"]

    # standing in for the kubelets, finish the namespace: the namespace controller removes the rest
    plane.kubectl("delete", "pods", "--all", "-n", install.NS, "--force", "--grace-period=0", check=False)
    wait_for("the namespace to go", lambda: cluster.api.maybe(f"/api/v1/namespaces/{install.NS}") is None, 60)
