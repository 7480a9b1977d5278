"""TLS policy, client-certificate authentication, a read-only file system, and what logs never hold."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BUNDLED_POLICIES, admission_review, fixture
from tests.server_helpers import (
    SERVICE_HOST,
    RunningServer,
    TlsConnection,
    client_context,
    free_port,
    running_server,
)
from webhook.cluster.certs import KeyPair, build_ca, build_client_certificate

pytestmark = pytest.mark.slow
REVIEW = admission_review(fixture("triton-gpu-0"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("tls"), policies=BUNDLED_POLICIES) as running:
        yield running


def legacy_client(ca: Path, version: ssl.TLSVersion, ciphers: str) -> ssl.SSLContext:
    """A client that offers only ``version`` and ``ciphers`` (old versions need security level 0)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    context.set_ciphers(ciphers)
    return context


def handshake(port: int, context: ssl.SSLContext) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(sock, server_hostname=SERVICE_HOST)


def permissive_port(cert_dir: Path) -> int:
    """A control server with the same certificate that accepts anything: proves the client offers it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
    listener = socket.create_server(("127.0.0.1", 0))

    def accept_once() -> None:
        conn, _ = listener.accept()
        with context.wrap_socket(conn, server_side=True):
            pass
        listener.close()

    threading.Thread(target=accept_once, daemon=True).start()
    return int(listener.getsockname()[1])


REFUSED = [
    (ssl.TLSVersion.TLSv1, "DEFAULT:@SECLEVEL=0"),
    (ssl.TLSVersion.TLSv1_1, "DEFAULT:@SECLEVEL=0"),
    (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA"),  # CBC, no AEAD
    (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES256-SHA384"),
    (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-CAMELLIA128-SHA256:ECDHE-ECDSA-NULL-SHA"),
]


@pytest.mark.parametrize(("version", "ciphers"), REFUSED, ids=lambda v: getattr(v, "name", v))
def test_old_protocols_and_weak_ciphers_are_refused(
    server: RunningServer, version: ssl.TLSVersion, ciphers: str
) -> None:
    client = legacy_client(server.ca, version, ciphers)
    handshake(permissive_port(server.cert_dir), client).close()  # the client really offers them
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        handshake(server.port, client)
    with server.connect() as conn:
        assert conn.call("GET", "/healthz")[0] == 200


def test_tls_13_by_default_and_12_with_forward_secret_aead(server: RunningServer) -> None:
    with handshake(server.port, client_context(server.ca)) as tls:
        assert tls.version() == "TLSv1.3" and tls.selected_alpn_protocol() in (None, "http/1.1")
    strong = legacy_client(
        server.ca, ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"
    )
    with handshake(server.port, strong) as tls:
        assert tls.version() == "TLSv1.2" and tls.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
        assert tls.compression() is None


# --- client certificates -------------------------------------------------------------------------


def write_pair(folder: Path, name: str, pair: KeyPair) -> tuple[Path, Path]:
    (folder / f"{name}.crt").write_bytes(pair.cert_pem)
    (folder / f"{name}.key").write_bytes(pair.key_pem)
    return folder / f"{name}.crt", folder / f"{name}.key"


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with ``--client-ca``; its connections present the API server's client certificate."""
    tmp = tmp_path_factory.mktemp("mtls")
    ca = build_ca(common_name="API server client CA")
    (tmp / "client-ca.crt").write_bytes(ca.cert_pem)
    good = write_pair(tmp, "apiserver", build_client_certificate(ca, "kube-apiserver"))
    with running_server(
        tmp, policies=BUNDLED_POLICIES, args=("--client-ca", str(tmp / "client-ca.crt")), client_cert=good
    ) as running:
        yield running


def test_a_client_certificate_from_the_client_ca_is_answered(mtls_server: RunningServer) -> None:
    with mtls_server.connect() as conn:
        assert conn.review(REVIEW)["response"]["auditAnnotations"]["policy"] == "gpu-servers"
    assert any(line.get("client_auth") is True for line in mtls_server.logs())


def _strangers(folder: Path, server: RunningServer) -> dict[str, ssl.SSLContext]:
    other_ca = build_ca(common_name="someone else's CA")
    other = write_pair(folder, "other", build_client_certificate(other_ca, "kube-apiserver"))
    serving = (server.cert_dir / "tls.crt", server.cert_dir / "tls.key")  # right key, wrong CA and usage
    return {
        "another CA": client_context(server.ca, cert=other[0], key=other[1]),
        "the serving certificate": client_context(server.ca, cert=serving[0], key=serving[1]),
    }


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_without_a_client_certificate_only_probes_are_answered(
    mtls_server: RunningServer, version: ssl.TLSVersion
) -> None:
    """The kubelet's HTTPS probes carry no client certificate; admissions must."""
    context = client_context(mtls_server.ca)
    context.maximum_version = version
    with TlsConnection(mtls_server.port, context) as conn:
        assert conn.call("GET", "/healthz")[0] == 200
        assert conn.call("GET", "/readyz")[0] == 200
    for path in ("/mutate", "/validate"):
        with TlsConnection(mtls_server.port, context) as conn:
            status, body = conn.call("POST", path, json.dumps(REVIEW).encode())
        assert (status, body) == (
            403,
            b"a client certificate signed by the configured client CA is required\n",
        )


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_without_an_accepted_client_certificate_nothing_is_answered(
    mtls_server: RunningServer, tmp_path: Path, version: ssl.TLSVersion
) -> None:
    for name, context in _strangers(tmp_path, mtls_server).items():
        context.maximum_version = version
        conn = TlsConnection(mtls_server.port, context)
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            status = conn.call("POST", "/mutate", json.dumps(REVIEW).encode())  # TLS 1.3: fails on read
            pytest.fail(f"{name}: answered {status}")
        conn.close()
    with mtls_server.connect() as conn:
        assert conn.call("GET", "/healthz")[0] == 200


# --- confinement ----------------------------------------------------------------------------------

# Runs ``placement-webhook`` after installing an audit hook that reports every attempt to write,
# create, rename or remove a file; with PYTHONDONTWRITEBYTECODE no .pyc is written either.
AUDITED = """
import os, sys
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
def hook(event, args):
    if event == "open" and args[0] is not None and not isinstance(args[0], int):
        mode, flags = args[1] or "", args[2] or 0
        if any(c in mode for c in "wax+") or flags & WRITE:
            os.write(2, f"AUDIT-WRITE open {args[0]}\\n".encode())
    elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.chmod", "os.truncate"):
        os.write(2, f"AUDIT-WRITE {event} {args[0]}\\n".encode())
sys.addaudithook(hook)
from webhook.cli.main import main
sys.exit(main())
"""


def test_serve_writes_nothing_when_certificates_exist(tmp_path: Path, server: RunningServer) -> None:
    """Certificates, policies, HOME, TMPDIR and the working directory all read-only."""
    readonly = tmp_path / "ro"
    (readonly / "home").mkdir(parents=True)
    shutil.copytree(server.cert_dir, readonly / "certs")
    shutil.copy(BUNDLED_POLICIES, readonly / "policies.yaml")
    for path in [*sorted(readonly.rglob("*"), reverse=True), readonly]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    env = {"HOME": str(readonly / "home"), "TMPDIR": str(readonly / "home"), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        with running_server(
            tmp_path,
            policies=readonly / "policies.yaml",
            cert_dir=readonly / "certs",
            env=env,
            launcher=(sys.executable, "-c", AUDITED),
            cwd=readonly,
            args=("--no-dev-certs",),
        ) as confined:
            with confined.connect() as conn:
                assert conn.review(REVIEW)["response"]["patchType"] == "JSONPatch"
            confined.wait_for(lambda: any(line.get("msg") == "admission" for line in confined.logs()))
            assert confined.terminate() == 0
        log = confined.log_path.read_text()
        assert "AUDIT-WRITE" not in log, [line for line in log.splitlines() if "AUDIT-WRITE" in line]
    finally:
        for path in [readonly, *readonly.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_the_audit_hook_sees_writes(tmp_path: Path) -> None:
    """The check above can fail: the same hook reports dev certificates being written."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            AUDITED,
            "serve",
            "--cert-dir",
            str(tmp_path / "c"),
            "--port",
            str(free_port()),
            "--policies",
            str(tmp_path / "missing.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert f"AUDIT-WRITE os.mkdir {tmp_path / 'c'}" in result.stderr
    # written beside the final name, then renamed into place (webhook.cluster.certs.write_atomically)
    assert f"AUDIT-WRITE open {tmp_path / 'c' / '.tls.key.'}" in result.stderr
    assert f"AUDIT-WRITE os.rename {tmp_path / 'c' / '.tls.key.'}" in result.stderr


MARKERS = ["ENVVALUE-7f3a", "ENVNAME_7F3A", "ANNOTATION-9c1d", "COMMAND-2b8e", "LABELVALUE-5e6f"]


def _secret_pod() -> dict[str, object]:
    pod = fixture("triton-gpu-0")
    container = pod["spec"]["containers"][0]
    container["env"] = [*container.get("env", []), {"name": MARKERS[1], "value": MARKERS[0]}]
    container["command"] = ["sh", "-c", MARKERS[3]]
    pod["metadata"].setdefault("annotations", {})["note"] = MARKERS[2]
    pod["metadata"]["labels"]["secret-label"] = MARKERS[4]
    return pod


def test_logs_hold_no_pod_contents_or_keys(tmp_path: Path) -> None:
    """At debug level, through admissions, malformed requests and an internal mix of both."""
    with running_server(tmp_path, policies=BUNDLED_POLICIES, args=("--log-level", "debug")) as running:
        body = json.dumps(admission_review(_secret_pod()))
        with running.connect() as conn:
            assert conn.review(json.loads(body))["response"]["allowed"] is True
            for broken in (
                body[: len(body) // 2],  # truncated
                body.replace('"operation": "CREATE"', '"operation": ["' + MARKERS[0] + '"]'),  # wrong type
                body.replace('"kind": "AdmissionReview"', '"kind": "' + MARKERS[0] + '"'),  # wrong kind
                body.replace('"note": ', '"note": "x", "note": '),  # duplicate key
            ):
                assert conn.call("POST", "/mutate", broken.encode())[0] == 400
            odd = _secret_pod()
            odd["spec"]["tolerations"] = MARKERS[0]  # an impossible Pod shape: warned, not placed
            assert conn.review(admission_review(odd))["response"]["allowed"] is True
        running.wait_for(lambda: sum(line.get("msg") == "admission" for line in running.logs()) == 2)
        assert running.terminate() == 0
        key = (running.cert_dir / "tls.key").read_text()
    log = running.log_path.read_text()
    assert [m for m in MARKERS if m in log] == []
    assert "PRIVATE KEY" not in log and not any(line in log for line in key.splitlines()[1:-1])
