"""``certs --install`` against the real API server: what tests/cluster/test_install.py used to check
against a fake one. Run as admin in a namespace and a webhook configuration of its own, so the
live install stays untouched; the ServiceAccount's RBAC is test_install_in_cluster.py's subject.

The order of the writes (CA Secret, then caBundle, then the serving Secret, which keeps a rotation
safe) is read from the resourceVersions the API server gave each object: etcd revisions, which
only grow.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import write_kubeconfig
from tests.e2e.install import cli
from tests.e2e.kube import create_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NS = "e2e-certs"
MWCS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
VWCS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"  # the guard's
SECRETS = f"/api/v1/namespaces/{NS}/secrets"


def configuration(name: str, hooks: int = 2, kind: str = "MutatingWebhookConfiguration") -> dict[str, Any]:
    """Two webhooks that nothing ever triggers (ConfigMaps in namespaces that do not exist)."""
    hook = {
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "clientConfig": {"service": {"name": "placement-webhook", "namespace": NS, "path": "/mutate"}},
        "rules": [
            {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}
        ],
        "namespaceSelector": {"matchLabels": {"e2e-never": "true"}},
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "webhooks": [{**hook, "name": f"hook{i}.placement-webhook.io"} for i in range(hooks)],
    }


@pytest.fixture(scope="module")
def certs_cluster(cluster: Cluster) -> Iterator[Cluster]:
    create_namespace(cluster.api, NS)
    cluster.api.create(MWCS, configuration("e2e-certs"))
    cluster.api.create(VWCS, configuration("e2e-certs", hooks=1, kind="ValidatingWebhookConfiguration"))
    yield cluster
    cluster.api.delete(MWCS + "/e2e-certs")
    cluster.api.delete(VWCS + "/e2e-certs")
    cluster.api.delete(MWCS + "/e2e-certs-late")


def install(cluster: Cluster, *extra: str, webhook: str = "e2e-certs", kubeconfig: Path | None = None) -> Any:
    config = kubeconfig or cluster.plane.admin_kubeconfig
    return cli(
        "certs", "--install", "--namespace", NS, "--webhook", webhook, "--kubeconfig", str(config), *extra
    )


def secret(cluster: Cluster, name: str) -> dict[str, Any] | None:
    return cluster.api.maybe(f"{SECRETS}/{name}")  # type: ignore[no-any-return]


def data(obj: dict[str, Any] | None, key: str) -> bytes:
    assert obj is not None
    return base64.b64decode(obj["data"][key])


def bundles(cluster: Cluster, name: str = "e2e-certs", configurations: str = MWCS) -> list[bytes]:
    hooks = cluster.api.get(f"{configurations}/{name}")["webhooks"]
    return [base64.b64decode(h["clientConfig"]["caBundle"]) for h in hooks]


def versions(cluster: Cluster) -> dict[str, int]:
    """resourceVersion of the CA Secret, the two webhook configurations and the serving Secret."""
    out = {}
    for key, path in (
        ("ca", f"{SECRETS}/placement-webhook-ca"),
        ("webhook", f"{MWCS}/e2e-certs"),
        ("guard", f"{VWCS}/e2e-certs"),
        ("tls", f"{SECRETS}/placement-webhook-tls"),
    ):
        out[key] = int(cluster.api.get(path)["metadata"]["resourceVersion"])
    return out


def written(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """Which objects changed, in the order they were written."""
    return sorted((k for k in after if after[k] != before.get(k)), key=lambda k: after[k])


def verify(ca_pem: bytes, cert_pem: bytes, hostname: str) -> x509.Certificate:
    ca, cert = x509.load_pem_x509_certificate(ca_pem), x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert hostname in names.get_values_for_type(x509.DNSName)
    return cert


def test_first_install_creates_both_secrets_and_patches_every_webhook(certs_cluster: Cluster) -> None:
    cluster = certs_cluster
    result = install(cluster)
    assert (result.returncode, result.stderr) == (0, "")
    assert f"secret {NS}/placement-webhook-tls: created" in result.stdout
    assert "mutatingwebhookconfiguration e2e-certs: caBundle set on 2 of 2 webhooks" in result.stdout
    assert "validatingwebhookconfiguration e2e-certs: caBundle set on 1 of 1 webhooks" in result.stdout
    tls, ca = secret(cluster, "placement-webhook-tls"), secret(cluster, "placement-webhook-ca")
    assert tls is not None and tls["type"] == "kubernetes.io/tls"
    assert ca is not None and ca["type"] == "Opaque" and set(ca["data"]) == {"ca.crt", "ca.key"}
    assert set(tls["data"]) == {"tls.crt", "tls.key", "ca.crt"}  # the CA key never reaches the Pods
    assert bundles(cluster) == [data(ca, "ca.crt")] * 2
    assert bundles(cluster, configurations=VWCS) == [data(ca, "ca.crt")]
    verify(bundles(cluster)[0], data(tls, "tls.crt"), f"placement-webhook.{NS}.svc")
    # the order that keeps a rotation safe: CA Secret, then caBundle, then the serving Secret
    assert written({}, versions(cluster)) == ["ca", "webhook", "guard", "tls"]


def test_running_again_writes_nothing(certs_cluster: Cluster) -> None:
    cluster = certs_cluster
    before = versions(cluster)
    result = install(cluster)
    assert result.returncode == 0 and versions(cluster) == before
    assert result.stdout.splitlines() == [
        f"secret {NS}/placement-webhook-ca: unchanged",
        "mutatingwebhookconfiguration e2e-certs: caBundle unchanged",
        "validatingwebhookconfiguration e2e-certs: caBundle unchanged",
        f"secret {NS}/placement-webhook-tls: unchanged",
    ]


def test_an_expiring_serving_certificate_is_renewed_with_the_same_ca(
    certs_cluster: Cluster, tmp_path: Path
) -> None:
    cluster = certs_cluster
    ca = secret(cluster, "placement-webhook-ca")
    (tmp_path / "ca.crt").write_bytes(data(ca, "ca.crt"))
    (tmp_path / "ca.key").write_bytes(data(ca, "ca.key"))
    short = cli(
        "certs", "--namespace", NS, "--days", "10", "--out", str(tmp_path / "short"),
        "--ca-cert", str(tmp_path / "ca.crt"), "--ca-key", str(tmp_path / "ca.key"),
    )  # fmt: skip
    assert short.returncode == 0, short.stderr
    tls = secret(cluster, "placement-webhook-tls")
    assert tls is not None
    for key in ("tls.crt", "tls.key"):
        tls["data"][key] = base64.b64encode((tmp_path / "short" / key).read_bytes()).decode()
    cluster.api.request("PUT", f"{SECRETS}/placement-webhook-tls", tls)
    short_cert = x509.load_pem_x509_certificate((tmp_path / "short" / "tls.crt").read_bytes())

    before = versions(cluster)
    result = install(cluster)
    assert result.returncode == 0 and "within 30 days" in result.stdout
    assert written(before, versions(cluster)) == ["tls"]
    renewed = verify(
        data(ca, "ca.crt"),
        data(secret(cluster, "placement-webhook-tls"), "tls.crt"),
        f"placement-webhook.{NS}.svc",
    )
    assert renewed.not_valid_after_utc > short_cert.not_valid_after_utc
    assert bundles(cluster) == [data(ca, "ca.crt")] * 2


def test_a_new_ca_keeps_the_old_one_in_the_bundle_until_the_next_run(certs_cluster: Cluster) -> None:
    cluster = certs_cluster
    old_ca = data(secret(cluster, "placement-webhook-ca"), "ca.crt")
    before = versions(cluster)
    assert install(cluster, "--new-ca").returncode == 0
    after = versions(cluster)
    assert written(before, after) == ["ca", "webhook", "guard", "tls"]
    new_ca = data(secret(cluster, "placement-webhook-ca"), "ca.crt")
    assert new_ca != old_ca and bundles(cluster) == [new_ca + old_ca] * 2
    assert bundles(cluster, configurations=VWCS) == [new_ca + old_ca]
    assert install(cluster).returncode == 0
    assert written(after, versions(cluster)) == ["webhook", "guard"] and bundles(cluster) == [new_ca] * 2
    assert bundles(cluster, configurations=VWCS) == [new_ca]


def test_a_missing_webhook_configuration_fails_in_one_line_before_the_serving_secret(
    certs_cluster: Cluster,
) -> None:
    cluster = certs_cluster
    name = "e2e-certs-late"
    args = ("--secret", "late-tls", "--ca-secret", "late-ca")
    result = install(cluster, *args, webhook=name)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: get mutatingwebhookconfiguration {name}: 404"), line
    assert secret(cluster, "late-tls") is None  # the Job retries from here
    cluster.api.create(MWCS, configuration(name, hooks=1))
    late = install(cluster, *args, webhook=name)
    assert late.returncode == 0
    # the guard's configuration is optional (guard.enabled=false): skipped, not an error
    assert f"validatingwebhookconfiguration {name}: not installed, skipped" in late.stdout.splitlines()
    assert secret(cluster, "late-tls") is not None
    assert bundles(cluster, name) == [data(secret(cluster, "late-ca"), "ca.crt")]


def test_unusable_kubeconfig_and_refused_credentials_are_one_line_errors(
    certs_cluster: Cluster, tmp_path: Path
) -> None:
    cluster = certs_cluster
    result = install(cluster, kubeconfig=tmp_path / "missing")
    assert (result.returncode, result.stderr) == (
        2,
        f"error: --kubeconfig {tmp_path / 'missing'}: no such file\n",
    )
    wrong = write_kubeconfig(tmp_path / "wrong", cluster.plane.server, cluster.plane.pki.ca, token="wrong")
    result = install(cluster, kubeconfig=wrong)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: get secret {NS}/placement-webhook-tls: 401 Unauthorized"]
