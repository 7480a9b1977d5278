"""Scenarios 8 and 9: the install itself. ``certs --install`` as the bootstrap Job's own
ServiceAccount (Secrets, caBundle, idempotent, RBAC minimal) and Pod Security admitting the
webhook's own Pods under the namespace's ``restricted`` level."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.e2e import install
from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import Api, ApiError
from tests.e2e.kube import pods

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NS = install.NS
SA = f"system:serviceaccount:{NS}:placement-webhook-certs"
MWCS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
VWCS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


def secret(cluster: Cluster, name: str) -> dict[str, object]:
    return dict(cluster.api.get(f"/api/v1/namespaces/{NS}/secrets/{name}"))


def test_certs_install_wrote_the_secrets_and_the_ca_bundle(cluster: Cluster) -> None:
    tls, ca = secret(cluster, "placement-webhook-tls"), secret(cluster, "placement-webhook-ca")
    assert tls["type"] == "kubernetes.io/tls" and set(tls["data"]) == {"tls.crt", "tls.key", "ca.crt"}  # type: ignore[arg-type]
    assert set(ca["data"]) == {"ca.crt", "ca.key"}  # type: ignore[arg-type]
    for configurations in (MWCS, VWCS):  # the placement webhook's and the reservation guard's
        hook = cluster.api.get(f"{configurations}/placement-webhook")["webhooks"][0]
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == base64.b64decode(ca["data"]["ca.crt"])  # type: ignore[index]
    # and the API server trusts the served certificate through it: every placed Pod so far says so


def test_a_rerun_as_the_service_account_changes_nothing(cluster: Cluster) -> None:
    versions = {
        name: secret(cluster, name)["metadata"]["resourceVersion"]  # type: ignore[index]
        for name in ("placement-webhook-tls", "placement-webhook-ca")
    }
    webhook_version = cluster.api.get(f"{MWCS}/placement-webhook")["metadata"]["resourceVersion"]
    result = install.install_certificates(cluster.plane)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"secret {NS}/placement-webhook-ca: unchanged",
        "mutatingwebhookconfiguration placement-webhook: caBundle unchanged",
        "validatingwebhookconfiguration placement-webhook: caBundle unchanged",
        f"secret {NS}/placement-webhook-tls: unchanged",
    ]
    for name, version in versions.items():
        assert secret(cluster, name)["metadata"]["resourceVersion"] == version  # type: ignore[index]
    assert cluster.api.get(f"{MWCS}/placement-webhook")["metadata"]["resourceVersion"] == webhook_version


def test_kubectl_apply_again_keeps_the_patched_ca_bundle(cluster: Cluster) -> None:
    before = cluster.api.get(f"{MWCS}/placement-webhook")["webhooks"][0]["clientConfig"]["caBundle"]
    install.apply_base(cluster.plane)
    after = cluster.api.get(f"{MWCS}/placement-webhook")["webhooks"][0]["clientConfig"]["caBundle"]
    assert after == before


@pytest.mark.parametrize(
    ("verb", "resource", "namespace", "allowed"),
    [
        ("get", "secrets/placement-webhook-tls", NS, True),
        ("update", "secrets/placement-webhook-ca", NS, True),
        ("create", "secrets", NS, True),
        ("get", "secrets/someone-elses", NS, False),
        ("list", "secrets", NS, False),
        ("delete", "secrets/placement-webhook-tls", NS, False),
        ("create", "secrets", "default", False),
        ("get", "secrets/placement-webhook-tls", "default", False),
        ("patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/placement-webhook", None, True),
        ("patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/another", None, False),
        ("get", "mutatingwebhookconfigurations.admissionregistration.k8s.io/another", None, False),
        ("list", "mutatingwebhookconfigurations.admissionregistration.k8s.io", None, False),
        (
            "patch",
            "validatingwebhookconfigurations.admissionregistration.k8s.io/placement-webhook",
            None,
            True,
        ),
        ("patch", "validatingwebhookconfigurations.admissionregistration.k8s.io/another", None, False),
        ("list", "validatingwebhookconfigurations.admissionregistration.k8s.io", None, False),
        ("create", "pods", NS, False),
    ],
)
def test_the_job_service_account_can_do_only_its_job(
    cluster: Cluster, verb: str, resource: str, namespace: str | None, allowed: bool
) -> None:
    args = ["auth", "can-i", verb, resource, f"--as={SA}"]
    args += ["-n", namespace] if namespace else []
    result = cluster.plane.kubectl(*args, check=False)
    assert result.stdout.strip() == ("yes" if allowed else "no"), result.stderr


def test_its_token_is_refused_other_objects(cluster: Cluster) -> None:
    """The same, by real calls with the ServiceAccount's own TokenRequest token."""
    cluster.api.create(f"/api/v1/namespaces/{NS}/secrets", {"metadata": {"name": "someone-elses"}})
    cluster.api.create(MWCS, {"metadata": {"name": "another"}, "webhooks": []})
    token = cluster.plane.kubectl("create", "token", "placement-webhook-certs", "-n", NS).stdout.strip()
    as_job = Api(cluster.plane.server, cluster.plane.pki.ca, token=token)
    try:
        assert (
            as_job.get(f"/api/v1/namespaces/{NS}/secrets/placement-webhook-tls")["type"]
            == "kubernetes.io/tls"
        )
        for path in (f"/api/v1/namespaces/{NS}/secrets/someone-elses", f"{MWCS}/another", MWCS):
            with pytest.raises(ApiError) as refused:
                as_job.get(path)
            assert refused.value.code == 403, path
    finally:
        as_job.close()
        cluster.api.delete(f"/api/v1/namespaces/{NS}/secrets/someone-elses")
        cluster.api.delete(f"{MWCS}/another")


def test_pod_security_restricted_admits_the_webhooks_own_pods(cluster: Cluster) -> None:
    namespace = cluster.api.get(f"/api/v1/namespaces/{NS}")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    servers = pods(cluster.api, NS, install.SERVER_SELECTOR)
    assert len(servers) == 2  # both replicas created by the ReplicaSet controller, so admitted
    jobs = pods(cluster.api, NS, "app.kubernetes.io/component=certs")
    assert len(jobs) >= 1  # the bootstrap Job's Pod too
    # the level is enforced here: a Pod that breaks it is refused by the same plugin
    bad = {
        "metadata": {"name": "not-restricted"},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/x:1"}]},
    }
    with pytest.raises(ApiError) as refused:
        cluster.api.create(f"/api/v1/namespaces/{NS}/pods", bad, dryRun="All")
    assert refused.value.code == 403 and 'violates PodSecurity "restricted:' in str(refused.value)


def test_the_api_server_verifies_the_service_name_against_the_ca_bundle(cluster: Cluster) -> None:
    """What the API server checks, checked from outside too: the SAN, by the caBundle's CA."""
    assert cluster.webhook.get("/healthz").status_code == 200
    with cluster.webhook.client() as client, pytest.raises(httpx.ConnectError):
        client.get(
            f"{cluster.webhook.url}/healthz", extensions={"sni_hostname": "placement-webhook.other.svc"}
        )
