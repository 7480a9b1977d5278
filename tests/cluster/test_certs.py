"""Certificates: SANs, usages, chain and host name verification with cryptography's X.509 verifier."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from webhook.cluster.certs import (
    CA_FILE,
    CERT_FILE,
    KEY_FILE,
    build_ca,
    build_serving_certificate,
    ensure_dev_certificates,
    service_hostnames,
)


def verify(ca_pem: bytes, cert_pem: bytes, host: str) -> None:
    store = Store([x509.load_pem_x509_certificate(ca_pem)])
    subject = (
        x509.DNSName(host)
        if not host[0].isdigit()
        else x509.IPAddress(__import__("ipaddress").ip_address(host))
    )
    verifier = PolicyBuilder().store(store).build_server_verifier(subject)
    verifier.verify(x509.load_pem_x509_certificate(cert_pem), [])


def test_serving_certificate_sans_usage_and_chain() -> None:
    ca = build_ca()
    serving = build_serving_certificate(ca, service_hostnames("placement-webhook", "ops"))
    cert = serving.certificate
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert sans == [
        "placement-webhook",
        "placement-webhook.ops",
        "placement-webhook.ops.svc",
        "placement-webhook.ops.svc.cluster.local",
    ]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    verify(ca.cert_pem, serving.cert_pem, "placement-webhook.ops.svc")
    with pytest.raises(VerificationError):
        verify(ca.cert_pem, serving.cert_pem, "other.ops.svc")
    with pytest.raises(VerificationError):
        verify(build_ca().cert_pem, serving.cert_pem, "placement-webhook.ops.svc")


def test_dev_certificates_are_written_once_with_a_private_key(tmp_path: Path) -> None:
    assert ensure_dev_certificates(tmp_path / "certs") is True
    files = {p.name for p in (tmp_path / "certs").iterdir()}
    assert files == {CA_FILE, CERT_FILE, KEY_FILE}
    assert stat.S_IMODE((tmp_path / "certs" / KEY_FILE).stat().st_mode) == 0o600
    ca_pem = (tmp_path / "certs" / CA_FILE).read_bytes()
    leaf = (tmp_path / "certs" / CERT_FILE).read_bytes()
    for host in ("localhost", "127.0.0.1", "placement-webhook.placement-webhook.svc"):
        verify(ca_pem, leaf, host)
    before = leaf
    assert ensure_dev_certificates(tmp_path / "certs") is False
    assert (tmp_path / "certs" / CERT_FILE).read_bytes() == before


def test_a_certificate_needs_a_host_name() -> None:
    with pytest.raises(ValueError, match="at least one host name"):
        build_serving_certificate(build_ca(), [])


def test_dev_certificates_are_written_whole_and_the_ca_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever waits for ca.crt to appear finds every file complete; no temporary file is left."""
    seen: list[tuple[str, bool]] = []
    real_replace = os.replace
    folder = tmp_path / "c"

    def recording_replace(src: str, dst: str) -> None:
        real_replace(src, dst)
        seen.append((Path(dst).name, all((folder / n).exists() for n in ("tls.key", "tls.crt", "ca.crt"))))

    monkeypatch.setattr(os, "replace", recording_replace)
    assert ensure_dev_certificates(folder) is True
    assert seen == [("tls.key", False), ("tls.crt", False), ("ca.crt", True)]
    assert sorted(p.name for p in folder.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
    assert folder.joinpath("tls.key").stat().st_mode & 0o777 == 0o600
