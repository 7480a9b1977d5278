"""``placement-webhook certs`` into a folder: files, SANs, usage, chain, CA kept, a real TLS handshake."""

from __future__ import annotations

import base64
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.cluster.test_certs import verify
from webhook.cli.main import main
from webhook.cluster.certs import build_ca

HOSTS = ["pw", "pw.ops", "pw.ops.svc", "pw.ops.svc.cluster.local"]


def certs(capsys: pytest.CaptureFixture[str], out: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["certs", "--service", "pw", "--namespace", "ops", "--out", str(out), *extra])
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr


def test_issues_ca_and_serving_certificate_and_prints_the_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = certs(capsys, tmp_path / "c")
    assert code == 0 and "CA created" in err
    files = {p.name: p for p in (tmp_path / "c").iterdir()}
    assert set(files) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    assert (
        stat.S_IMODE(files["tls.key"].stat().st_mode) == stat.S_IMODE(files["ca.key"].stat().st_mode) == 0o600
    )
    ca_pem = files["ca.crt"].read_bytes()
    assert base64.b64decode(out.strip()) == ca_pem
    cert = x509.load_pem_x509_certificate(files["tls.crt"].read_bytes())
    assert (
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
        == HOSTS
    )
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    for host in HOSTS[1:]:
        verify(ca_pem, files["tls.crt"].read_bytes(), host)


def test_running_again_renews_the_serving_certificate_and_keeps_the_ca(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c"
    certs(capsys, out)
    ca_before, leaf_before = (out / "ca.crt").read_bytes(), (out / "tls.crt").read_bytes()
    code, bundle, err = certs(capsys, out, "--days", "30")
    assert code == 0 and "CA kept" in err
    assert (out / "ca.crt").read_bytes() == ca_before == base64.b64decode(bundle)
    assert (out / "tls.crt").read_bytes() != leaf_before
    verify(ca_before, (out / "tls.crt").read_bytes(), "pw.ops.svc")
    certs(capsys, out, "--new-ca")
    assert (out / "ca.crt").read_bytes() != ca_before


def test_a_supplied_ca_signs_and_its_key_is_not_copied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = build_ca()
    (tmp_path / "my-ca.crt").write_bytes(ca.cert_pem)
    (tmp_path / "my-ca.key").write_bytes(ca.key_pem)
    code, _, _ = certs(
        capsys,
        tmp_path / "c",
        "--ca-cert",
        str(tmp_path / "my-ca.crt"),
        "--ca-key",
        str(tmp_path / "my-ca.key"),
    )
    assert code == 0
    assert not (tmp_path / "c" / "ca.key").exists()
    verify(ca.cert_pem, (tmp_path / "c" / "tls.crt").read_bytes(), "pw.ops.svc")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ca-cert", "x.crt"], "--ca-cert and --ca-key go together"),
        (["--new-ca", "--ca-cert", "a", "--ca-key", "b"], "exclude each other"),
        (["--days", "0"], "--days must be at least 1"),
        (["--ca-cert", "missing.crt", "--ca-key", "missing.key"], "cannot read the CA"),
        (["--install", "--kubeconfig", "k"], "--out is for files"),
        (["--namespace", "Ops_1"], '--namespace "Ops_1": must be a lowercase RFC 1123 label'),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, out, err = certs(capsys, tmp_path / "c", *extra)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and message in err


def test_a_mismatched_ca_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ca.crt").write_bytes(build_ca().cert_pem)
    (tmp_path / "ca.key").write_bytes(build_ca().key_pem)
    code, _, err = certs(
        capsys, tmp_path / "c", "--ca-cert", str(tmp_path / "ca.crt"), "--ca-key", str(tmp_path / "ca.key")
    )
    assert code == 2 and "does not belong to the certificate" in err
    (tmp_path / "c" / "ca.crt").parent.mkdir()
    (tmp_path / "c" / "ca.crt").write_bytes(build_ca().cert_pem)
    (tmp_path / "c" / "ca.key").write_bytes(build_ca().key_pem)
    code, _, err = certs(capsys, tmp_path / "c")
    assert code == 2 and "use --new-ca to replace it" in err


def _handshake(out: Path, server_hostname: str) -> str:
    """A real TLS handshake on loopback: the server uses the issued pair, the client trusts ca.crt."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(out / "tls.crt", out / "tls.key")
    client_ctx = ssl.create_default_context(cafile=str(out / "ca.crt"))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                return tls.recv(2).decode()
        finally:
            thread.join(timeout=5)


def test_the_service_name_verifies_in_a_real_tls_handshake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    certs(capsys, tmp_path / "c")
    assert _handshake(tmp_path / "c", "pw.ops.svc") == "ok"
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _handshake(tmp_path / "c", "pw.other.svc")


def _self_signed(
    *,
    constraints: x509.BasicConstraints | None,
    usage: x509.KeyUsage | None = None,
    days: int = 365,
    key: object = None,
) -> tuple[bytes, bytes]:
    """A self-signed certificate with exactly the given extensions (PEM cert, PEM key)."""
    import datetime as dt

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not quite a CA")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
    )
    if constraints is not None:
        builder = builder.add_extension(constraints, critical=True)
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    from cryptography.hazmat.primitives.asymmetric import ed25519

    digest = None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(private, digest)  # type: ignore[arg-type]
    key_pem = private.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        ["content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "crl_sign"], False
    )
    return x509.KeyUsage(
        digital_signature=True, key_cert_sign=cert_sign, encipher_only=False, decipher_only=False, **flags
    )


@pytest.mark.parametrize(
    ("pair", "problem"),
    [
        (
            lambda: _self_signed(constraints=x509.BasicConstraints(ca=False, path_length=None)),
            "not a CA certificate (basicConstraints CA:FALSE)",
        ),
        (
            lambda: _self_signed(constraints=None),
            "not a CA certificate (it has no basicConstraints extension)",
        ),
        (
            lambda: _self_signed(
                constraints=x509.BasicConstraints(ca=True, path_length=0), usage=_usage(cert_sign=False)
            ),
            "not allowed to sign certificates (its keyUsage lacks keyCertSign)",
        ),
        (  # a serving certificate given as the CA: the likeliest mix-up
            lambda: (lambda ca: (ca.cert_pem, ca.key_pem))(
                __import__("webhook.cluster.certs", fromlist=["x"]).build_serving_certificate(
                    build_ca(), ["h"]
                )
            ),
            "not a CA certificate (basicConstraints CA:FALSE)",
        ),
        (
            lambda: _self_signed(constraints=x509.BasicConstraints(ca=True, path_length=0), days=10),
            "expires ",
        ),
    ],
)
def test_a_supplied_certificate_that_is_no_ca_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pair: object, problem: str
) -> None:
    cert_pem, key_pem = pair()  # type: ignore[operator]
    (tmp_path / "ca.crt").write_bytes(cert_pem)
    (tmp_path / "ca.key").write_bytes(key_pem)
    code, out, err = certs(
        capsys, tmp_path / "c", "--ca-cert", str(tmp_path / "ca.crt"), "--ca-key", str(tmp_path / "ca.key")
    )
    assert (code, out) == (2, "")
    assert err.startswith(f"error: CA {tmp_path / 'ca.crt'}: {problem}")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "c").exists()


def test_a_ca_true_certificate_without_key_usage_signs_a_chain_openssl_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """keyUsage is optional (RFC 5280 4.2.1.3; Go's crypto/x509 and OpenSSL accept such a CA)."""
    cert_pem, key_pem = _self_signed(constraints=x509.BasicConstraints(ca=True, path_length=None))
    (tmp_path / "ca.crt").write_bytes(cert_pem)
    (tmp_path / "ca.key").write_bytes(key_pem)
    code, _, err = certs(
        capsys, tmp_path / "c", "--ca-cert", str(tmp_path / "ca.crt"), "--ca-key", str(tmp_path / "ca.key")
    )
    assert code == 0, err
    assert (tmp_path / "c" / "ca.crt").read_bytes() == cert_pem
    assert _handshake(tmp_path / "c", "pw.ops.svc") == "ok"  # OpenSSL's verifier, a real handshake


def test_the_mismatched_key_message_is_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ca.crt").write_bytes(build_ca().cert_pem)
    (tmp_path / "ca.key").write_bytes(build_ca().key_pem)
    code, _, err = certs(
        capsys, tmp_path / "c", "--ca-cert", str(tmp_path / "ca.crt"), "--ca-key", str(tmp_path / "ca.key")
    )
    assert (code, err) == (
        2,
        f"error: CA {tmp_path / 'ca.crt'}: the private key does not belong to the certificate\n",
    )


CA_TRUE = x509.BasicConstraints(ca=True, path_length=0)


def test_an_rsa_ca_signs_a_chain_that_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert_pem, key_pem = _self_signed(constraints=CA_TRUE, usage=_usage(cert_sign=True), key=key)
    (tmp_path / "ca.crt").write_bytes(cert_pem)
    (tmp_path / "ca.key").write_bytes(key_pem)
    code, _, err = certs(
        capsys, tmp_path / "c", "--ca-cert", str(tmp_path / "ca.crt"), "--ca-key", str(tmp_path / "ca.key")
    )
    assert code == 0, err
    verify(cert_pem, (tmp_path / "c" / "tls.crt").read_bytes(), "pw.ops.svc")


def test_a_ca_key_that_cannot_sign_here_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    cert_pem, key_pem = _self_signed(constraints=CA_TRUE, usage=_usage(cert_sign=True), key=key)
    (tmp_path / "ca.crt").write_bytes(cert_pem)
    (tmp_path / "ca.key").write_bytes(key_pem)
    code, _, err = certs(
        capsys, tmp_path / "c", "--ca-cert", str(tmp_path / "ca.crt"), "--ca-key", str(tmp_path / "ca.key")
    )
    assert (code, err) == (
        2,
        f"error: CA {tmp_path / 'ca.crt'}: not usable here (its key must be an ECDSA or RSA key)\n",
    )
