"""``certs --install`` through the real ``kubernetes`` client against a local fake API server."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tests.cluster.test_certs import verify
from tests.fake_apiserver import SECRETS, WEBHOOKS, FakeApiServer
from webhook.cli.main import main
from webhook.cluster.certs import (
    build_ca,
    build_serving_certificate,
    load_key_pair,
    merge_ca_bundle,
    service_hostnames,
)

NS = "ops"
TLS_PATH = f"{SECRETS.format(namespace=NS)}/placement-webhook-tls"
CA_PATH = f"{SECRETS.format(namespace=NS)}/placement-webhook-ca"
MWC_PATH = f"{WEBHOOKS}/placement-webhook"


def webhook_configuration(hooks: int = 2) -> dict[str, Any]:
    hook = {
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "clientConfig": {"service": {"name": "placement-webhook", "namespace": NS, "path": "/mutate"}},
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "placement-webhook"},
        "webhooks": [{**hook, "name": f"hook{i}.placement-webhook.io"} for i in range(hooks)],
    }


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeApiServer, Path]]:
    # never reach a real cluster, even when the tests themselves run inside a Pod
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with FakeApiServer(tmp_path) as server:
        yield server, server.write_kubeconfig(tmp_path / "kubeconfig")


def install(capsys: pytest.CaptureFixture[str], kubeconfig: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["certs", "--install", "--namespace", NS, "--kubeconfig", str(kubeconfig), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def installed(api: tuple[FakeApiServer, Path], capsys: pytest.CaptureFixture[str]) -> FakeApiServer:
    """A fake cluster after a first successful install, with the call log cleared."""
    server, kubeconfig = api
    server.store(MWC_PATH, webhook_configuration())
    assert install(capsys, kubeconfig)[0] == 0
    server.calls.clear()
    return server


def data(secret: dict[str, Any] | None, key: str) -> bytes:
    assert secret is not None
    return base64.b64decode(secret["data"][key])


def bundles(server: FakeApiServer) -> list[bytes]:
    configuration = server.webhook_configuration("placement-webhook")
    assert configuration is not None
    return [base64.b64decode(hook["clientConfig"]["caBundle"]) for hook in configuration["webhooks"]]


def test_first_install_creates_both_secrets_and_patches_every_webhook(
    api: tuple[FakeApiServer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, kubeconfig = api
    server.store(MWC_PATH, webhook_configuration(hooks=2))
    code, out, err = install(capsys, kubeconfig)
    assert (code, err) == (0, "")
    assert "secret ops/placement-webhook-tls: created" in out
    assert "caBundle set on 2 of 2 webhooks" in out
    tls, ca = (
        server.secret("placement-webhook-tls", namespace=NS),
        server.secret("placement-webhook-ca", namespace=NS),
    )
    assert tls is not None and tls["type"] == "kubernetes.io/tls"
    assert ca is not None and ca["type"] == "Opaque" and set(ca["data"]) == {"ca.crt", "ca.key"}
    assert set(tls["data"]) == {"tls.crt", "tls.key", "ca.crt"}  # the CA key never reaches the Pods
    load_key_pair(data(tls, "tls.crt"), data(tls, "tls.key"), what="tls")
    assert bundles(server) == [data(ca, "ca.crt")] * 2
    verify(bundles(server)[0], data(tls, "tls.crt"), "placement-webhook.ops.svc")
    # the order that keeps a rotation safe: CA Secret, then caBundle, then the serving Secret
    assert server.writes() == [
        ("POST", SECRETS.format(namespace=NS)),
        ("PATCH", MWC_PATH),
        ("POST", SECRETS.format(namespace=NS)),
    ]


def test_running_again_writes_nothing(
    api: tuple[FakeApiServer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, kubeconfig = installed(api, capsys), api[1]
    code, out, _ = install(capsys, kubeconfig)
    assert code == 0 and server.writes() == []
    assert out.splitlines() == [
        "secret ops/placement-webhook-ca: unchanged",
        "mutatingwebhookconfiguration placement-webhook: caBundle unchanged",
        "secret ops/placement-webhook-tls: unchanged",
    ]


def test_an_expiring_serving_certificate_is_renewed_with_the_same_ca(
    api: tuple[FakeApiServer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, kubeconfig = installed(api, capsys), api[1]
    ca_secret = server.secret("placement-webhook-ca", namespace=NS)
    ca = load_key_pair(data(ca_secret, "ca.crt"), data(ca_secret, "ca.key"), what="ca")
    short = build_serving_certificate(ca, service_hostnames("placement-webhook", NS), days=10)
    tls = server.secret("placement-webhook-tls", namespace=NS)
    assert tls is not None
    tls["data"]["tls.crt"] = base64.b64encode(short.cert_pem).decode()
    tls["data"]["tls.key"] = base64.b64encode(short.key_pem).decode()
    server.calls.clear()
    code, out, _ = install(capsys, kubeconfig)
    assert code == 0 and "within 30 days" in out
    assert server.writes() == [("PUT", TLS_PATH)]
    renewed = x509.load_pem_x509_certificate(
        data(server.secret("placement-webhook-tls", namespace=NS), "tls.crt")
    )
    assert renewed.not_valid_after_utc > short.certificate.not_valid_after_utc
    assert bundles(server) == [ca.cert_pem] * 2


def test_a_new_ca_keeps_the_old_one_in_the_bundle_until_the_next_run(
    api: tuple[FakeApiServer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, kubeconfig = installed(api, capsys), api[1]
    old_ca = data(server.secret("placement-webhook-ca", namespace=NS), "ca.crt")
    assert install(capsys, kubeconfig, "--new-ca")[0] == 0
    assert server.writes() == [("PUT", CA_PATH), ("PATCH", MWC_PATH), ("PUT", TLS_PATH)]
    new_ca = data(server.secret("placement-webhook-ca", namespace=NS), "ca.crt")
    assert new_ca != old_ca and bundles(server) == [new_ca + old_ca] * 2
    server.calls.clear()
    assert install(capsys, kubeconfig)[0] == 0
    assert server.writes() == [("PATCH", MWC_PATH)] and bundles(server) == [new_ca] * 2


def test_a_missing_webhook_configuration_fails_in_one_line_before_the_serving_secret(
    api: tuple[FakeApiServer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, kubeconfig = api
    code, _, err = install(capsys, kubeconfig)
    assert code == 1
    assert err.splitlines() == [
        f"error: get mutatingwebhookconfiguration placement-webhook: 404 {MWC_PATH} not found"
    ]
    assert server.secret("placement-webhook-tls", namespace=NS) is None  # the Job retries from here
    server.store(MWC_PATH, webhook_configuration())
    assert install(capsys, kubeconfig)[0] == 0
    assert server.secret("placement-webhook-tls", namespace=NS) is not None


def test_unusable_kubeconfig_and_refused_credentials_are_one_line_errors(
    api: tuple[FakeApiServer, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, kubeconfig = api
    code, _, err = install(capsys, tmp_path / "missing")
    assert (code, err) == (2, f"error: --kubeconfig {tmp_path / 'missing'}: no such file\n")
    (tmp_path / "empty").write_text("")
    code, _, err = install(capsys, tmp_path / "empty")
    assert (code, err) == (
        1,
        "error: no in-cluster service account and no usable kubeconfig:"
        f" Invalid kube-config. {tmp_path / 'empty'} file is empty\n",
    )
    kubeconfig.write_text(kubeconfig.read_text().replace("fake-token", "wrong"))
    code, _, err = install(capsys, kubeconfig)
    assert code == 1 and err.splitlines() == ["error: get secret ops/placement-webhook-tls: 401 Unauthorized"]


def test_the_bundle_drops_expired_and_duplicate_cas() -> None:
    old, new = build_ca(days=10), build_ca()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=20)
    assert merge_ca_bundle(new.cert_pem, old.cert_pem + new.cert_pem) == new.cert_pem + old.cert_pem
    assert merge_ca_bundle(new.cert_pem, old.cert_pem, now=later) == new.cert_pem
    assert merge_ca_bundle(new.cert_pem, b"not pem") == new.cert_pem
