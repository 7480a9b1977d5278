"""``certs --install`` before any API server is reached: the CA bundle merge and unusable kubeconfigs.

The calls ``certs --install`` makes are tested against the real kube-apiserver in
``tests/e2e/test_certs_install.py`` (and, as the bootstrap Job's ServiceAccount, in
``tests/e2e/test_install_in_cluster.py``); the local fake API server they used to run against is
gone. The failure modes it produced (404 for a missing webhook configuration, 401 for refused
credentials) the real one produces too, and the order of the writes it logged is read from the
resourceVersions the real one assigns, so no fake is kept.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from webhook.cli.main import main
from webhook.cluster.certs import build_ca, merge_ca_bundle


def test_the_bundle_drops_expired_and_duplicate_cas() -> None:
    old, new = build_ca(days=10), build_ca()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=20)
    assert merge_ca_bundle(new.cert_pem, old.cert_pem + new.cert_pem) == new.cert_pem + old.cert_pem
    assert merge_ca_bundle(new.cert_pem, old.cert_pem, now=later) == new.cert_pem
    assert merge_ca_bundle(new.cert_pem, b"not pem") == new.cert_pem


def test_a_missing_or_empty_kubeconfig_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # never the in-cluster config
    code = main(["certs", "--install", "--kubeconfig", str(tmp_path / "missing")])
    assert (code, capsys.readouterr().err) == (
        2,
        f"error: --kubeconfig {tmp_path / 'missing'}: no such file\n",
    )
    (tmp_path / "empty").write_text("")
    code = main(["certs", "--install", "--kubeconfig", str(tmp_path / "empty")])
    assert (code, capsys.readouterr().err) == (
        1,
        "error: no in-cluster service account and no usable kubeconfig:"
        f" Invalid kube-config. {tmp_path / 'empty'} file is empty\n",
    )
