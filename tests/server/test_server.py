"""The webhook's server: what its app answers, called in this process (``api``), and the real HTTPS
server on loopback with real certificates, spoken to over TLS like the API server (``server``), for
what needs sockets or the process: TLS, connections, slow clients, reloads, signals, exit codes."""

from __future__ import annotations

import base64
import json
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from tests.helpers import BUNDLED_POLICIES, admission_review, fixture, minimal_pod
from tests.server_helpers import (
    SERVICE_HOST,
    ConfigMapDir,
    InProcessServer,
    RunningServer,
    TlsConnection,
    client_context,
    free_port,
    in_process_server,
    running_server,
)
from webhook.cluster.certs import build_ca, build_serving_certificate, service_hostnames

GPU_ONLY = """version: 1
policies:
- name: gpu-servers
  match: {servers: ["*"], resources: [nvidia.com/gpu]}
  placement:
    tolerations: [{key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}]
    nodeAffinity: {required: [{key: pool, operator: In, values: [infer-srv]}]}
"""
GPU_V2 = GPU_ONLY.replace("gpu-servers", "gpu-servers-v2").replace("infer-srv", "infer-srv-2")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("server")
    with running_server(
        tmp, policies=BUNDLED_POLICIES, env={"PLACEMENT_WEBHOOK_BODY_TIMEOUT": "1"}
    ) as running:
        yield running


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """The same app as ``server``'s, in this process."""
    with in_process_server(tmp_path_factory.mktemp("api"), policies=BUNDLED_POLICIES, body_timeout=1) as app:
        yield app


def decoded_patch(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(base64.b64decode(answer["response"]["patch"]))  # type: ignore[no-any-return]


# --- the contract ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_gpu_pod_create_is_patched_over_verified_tls(conn: TlsConnection) -> None:
    pod = fixture("triton-gpu-0")
    answer = conn.review(admission_review(pod))
    response = answer["response"]
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    assert response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002" and response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    assert response["auditAnnotations"] == {"policy": "gpu-servers", "outcome": "patched"}
    patched = jsonpatch.apply_patch(pod, decoded_patch(answer))
    assert patched["spec"]["tolerations"][-1] == {
        "key": "seldon-gpu-srv",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    }
    assert conn.sock.version() in ("TLSv1.3", "TLSv1.2")  # type: ignore[union-attr]
    assert conn.sock.selected_alpn_protocol() in (None, "http/1.1")  # type: ignore[union-attr]


@pytest.mark.slow
def test_certificate_is_rejected_for_another_host_name(server: RunningServer) -> None:
    connection = server.connect(server_hostname="evil.example.com")
    with pytest.raises(ssl.SSLCertVerificationError):
        connection.call("GET", "/healthz")


def test_dry_run_and_untouched_pods(api: InProcessServer) -> None:
    pod = fixture("triton-gpu-0")
    assert api.review(admission_review(pod, dryRun=True)) == api.review(admission_review(pod))
    answer = api.review(admission_review(fixture("mlserver-0")))
    assert answer["response"] == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


@pytest.mark.slow
def test_keep_alive_connection_is_reused(conn: TlsConnection) -> None:
    conn.review(admission_review(fixture("mlserver-0")))
    sock = conn.sock
    for _ in range(5):
        conn.review(admission_review(fixture("triton-gpu-0")))
    assert conn.sock is sock


# --- bad input -----------------------------------------------------------------------------------------


def _review_without(*path: str) -> bytes:
    body = admission_review(minimal_pod())
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"not json", 400, "body is not valid JSON"),
        (b"", 400, "empty body"),
        (b'{"kind": "Pod"}', 400, "kind must be AdmissionReview"),
        (
            json.dumps({**admission_review({}), "apiVersion": "admission.k8s.io/v1beta1"}).encode(),
            400,
            "apiVersion must be admission.k8s.io/v1",
        ),
        (_review_without("request", "uid"), 400, "request.uid: field required"),
        (_review_without("request", "object"), 400, "request.object: a Pod CREATE must carry the Pod object"),
        (b"\xff\xfe{}", 400, "body is not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, 400, "body is not valid JSON"),  # nesting deeper than the parser allows
    ],
)
def test_malformed_requests_get_400_with_one_line(
    api: InProcessServer, body: bytes, status: int, message: str
) -> None:
    got, text = api.call("POST", "/mutate", body)
    assert got == status and message in text.decode()
    assert text.decode().count("\n") == 1
    assert api.review(admission_review(fixture("mlserver-0")))["response"]["allowed"] is True  # keeps serving


def test_oversized_bodies_get_413(api: InProcessServer) -> None:
    status, text = api.call("POST", "/mutate", b"x" * (3 * 1024 * 1024 + 1))
    assert status == 413 and b"byte limit" in text
    chunks = (b"x" * 65536 for _ in range(60))  # chunked: no Content-Length to refuse early
    response = api.request("POST", "/mutate", chunks, headers={"Transfer-Encoding": "chunked"})
    assert response.status_code == 413
    assert api.review(admission_review(fixture("mlserver-0")))["response"]["allowed"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/mutate", 405), ("POST", "/review", 404), ("PUT", "/healthz", 405)],
)
def test_wrong_method_or_path(api: InProcessServer, method: str, path: str, status: int) -> None:
    assert api.call(method, path, b"{}")[0] == status


def test_unusual_pods_are_never_a_500(api: InProcessServer) -> None:
    odd = fixture("triton-gpu-0")
    odd["spec"]["tolerations"] = "not-a-list"
    response = api.review(admission_review(odd))["response"]
    assert response["allowed"] is True and "patch" not in response
    assert response["warnings"] == [
        "placement-webhook: Pod not placed by gpu-servers: spec.tolerations is a string, expected a list"
    ]
    bare = {"metadata": {"labels": {"seldon-server-name": "x"}}}
    assert api.review(admission_review(bare))["response"]["allowed"] is True
    huge = fixture("triton-gpu-0")
    huge["spec"]["containers"][0]["env"] = [{"name": f"V{i}", "value": "x" * 20} for i in range(20000)]
    answer = api.review(admission_review(huge))
    assert answer["response"]["patchType"] == "JSONPatch"


@pytest.mark.slow
def test_slow_body_gets_408(server: RunningServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port))
    tls = client_context(server.ca).wrap_socket(sock, server_hostname=SERVICE_HOST)
    tls.sendall(
        b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    tls.settimeout(10)
    reply = b""
    while b"not received" not in reply and (chunk := tls.recv(4096)):
        reply += chunk
    tls.close()
    assert reply.startswith(b"HTTP/1.1 408") and b"not received within 1 s" in reply


# --- observability -------------------------------------------------------------------------------------


def test_health_readiness_and_metrics(api: InProcessServer) -> None:
    assert api.call("GET", "/healthz") == (200, b"ok\n")
    ready = api.readyz()
    assert ready["status"] == 200 and ready["ready"] is True and ready["policies"] == 3
    api.review(admission_review(fixture("triton-gpu-0")))
    status, text = api.call("GET", "/metrics")
    metrics = text.decode()
    assert status == 200
    assert 'placement_webhook_admissions_total{outcome="patched",policy="gpu-servers"}' in metrics
    assert "placement_webhook_admission_duration_seconds_bucket" in metrics
    assert "placement_webhook_policy_generation 1.0" in metrics
    assert "placement_webhook_certificate_expiry_timestamp_seconds" in metrics


def test_one_json_log_line_per_admission_without_pod_contents(api: InProcessServer) -> None:
    pod = fixture("triton-gpu-0")
    api.review(admission_review(pod, uid="log-test-uid"))
    api.wait_for(lambda: any(line.get("uid") == "log-test-uid" for line in api.logs()))
    (line,) = [entry for entry in api.logs() if entry.get("uid") == "log-test-uid"]
    assert line["msg"] == "admission" and line["outcome"] == "patched" and line["policy"] == "gpu-servers"
    assert line["namespace"] == "seldon-mesh" and line["pod"] == "triton-gpu-0" and line["patch_ops"] == 3
    assert isinstance(line["duration_ms"], float)
    text = api.log_text()
    assert "tritonserver" not in text and "libtcmalloc" not in text and "seldon-scheduler" not in text


# --- reloads under load --------------------------------------------------------------------------------


class Load:
    """Keep-alive connections posting reviews from threads until stopped; records every answer."""

    def __init__(
        self, server: RunningServer, threads: int = 4, *, context: ssl.SSLContext | None = None
    ) -> None:
        self.server, self.stop_event = server, threading.Event()
        self.context = context or client_context(server.ca)
        self.answers: list[tuple[float, str | None]] = []
        self.failures: list[str] = []
        self.pool = ThreadPoolExecutor(threads)
        self.futures = [self.pool.submit(self._run) for _ in range(threads)]

    def _run(self) -> None:
        """Reconnects every 25 requests so that new TLS handshakes happen throughout."""
        body = json.dumps(admission_review(fixture("triton-gpu-0"))).encode()
        conn, sent = TlsConnection(self.server.port, self.context), 0
        while not self.stop_event.is_set():
            if sent and sent % 25 == 0:
                conn.close()
                conn = TlsConnection(self.server.port, self.context)
            sent += 1
            started = time.monotonic()
            try:
                status, text = conn.call("POST", "/mutate", body)
            except Exception as exc:  # a failure is data for the assertion, not a crash of the thread
                self.failures.append(repr(exc))
                conn.close()
                conn = TlsConnection(self.server.port, self.context)
                continue
            if status != 200:
                self.failures.append(f"{status} {text[:100]!r}")
                continue
            annotations = json.loads(text)["response"].get("auditAnnotations") or {}
            self.answers.append((started, annotations.get("policy")))
        conn.close()

    def finish(self) -> None:
        self.stop_event.set()
        for future in self.futures:
            future.result()
        self.pool.shutdown()


@pytest.mark.slow
def test_policy_hot_reload_valid_and_invalid_under_load(tmp_path: Path) -> None:
    configmap = ConfigMapDir(tmp_path / "policies", GPU_ONLY)
    with running_server(tmp_path, policies=configmap.path) as server:
        load = Load(server)
        time.sleep(0.3)
        configmap.update(GPU_V2)
        server.wait_for(lambda: server.readyz()["generation"] == 2)
        switched = time.monotonic()
        time.sleep(0.3)
        configmap.update(
            "version: 1\npolicies:\n- name: broken\n  placement: {tolerations: [{key: a, operator: Bad}]}\n"
        )
        server.wait_for(lambda: server.readyz()["lastReloadError"] is not None)
        time.sleep(0.3)
        load.finish()
        ready = server.readyz()
        assert ready["generation"] == 2 and "must be Equal or Exists" in ready["lastReloadError"]
        assert load.failures == []
        assert {policy for _, policy in load.answers} == {"gpu-servers", "gpu-servers-v2"}
        # a request sent after the server reported generation 2 is decided by the new policies
        assert all(policy == "gpu-servers-v2" for sent, policy in load.answers if sent > switched)
        conn = server.connect()
        metrics = conn.call("GET", "/metrics")[1].decode()
        assert 'placement_webhook_policy_reloads_total{result="failure"} 1.0' in metrics
        assert 'placement_webhook_policy_reloads_total{result="success"} 1.0' in metrics
        rejected = [line for line in server.logs() if line["msg"].startswith("policy reload rejected")]
        assert rejected and rejected[0]["level"] == "error"


def _write_pair(cert_dir: Path, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> None:
    staging = cert_dir.parent / "staging"
    staging.mkdir(exist_ok=True)
    for name, data in (("ca.crt", ca_pem), ("tls.crt", cert_pem), ("tls.key", key_pem)):
        (staging / name).write_bytes(data)
        (staging / name).replace(cert_dir / name)


@pytest.mark.slow
def test_certificate_rotation_without_downtime(tmp_path: Path) -> None:
    with running_server(tmp_path, policies=BUNDLED_POLICIES) as server:
        old_ca = server.ca.read_bytes()
        kept = server.connect()
        assert kept.call("GET", "/healthz")[0] == 200
        new_ca = build_ca()
        both = ssl.create_default_context(
            cadata=old_ca.decode() + new_ca.cert_pem.decode()
        )  # as caBundle during a CA rotation
        load = Load(server, threads=2, context=both)
        serving = build_serving_certificate(
            new_ca, ["localhost", "127.0.0.1", *service_hostnames("placement-webhook", "placement-webhook")]
        )
        _write_pair(server.cert_dir, new_ca.cert_pem, serving.cert_pem, serving.key_pem)

        def new_cert_served() -> bool:
            context = ssl.create_default_context(cadata=new_ca.cert_pem.decode())
            try:
                TlsConnection(server.port, context).call("GET", "/healthz")
                return True
            except ssl.SSLError:
                return False

        server.wait_for(new_cert_served)
        answered = len(load.answers)
        server.wait_for(
            lambda: len(load.answers) > answered + 60
        )  # two reconnect rounds on the new certificate
        load.finish()
        assert load.failures == []
        assert kept.call("GET", "/healthz")[0] == 200  # the open connection finishes on the old certificate
        with pytest.raises(ssl.SSLCertVerificationError):
            TlsConnection(server.port, ssl.create_default_context(cadata=old_ca.decode())).call(
                "GET", "/healthz"
            )


# --- process lifecycle ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_drains_in_flight_requests_and_exits_0(tmp_path: Path) -> None:
    with running_server(tmp_path, policies=BUNDLED_POLICIES) as server:
        body = json.dumps(admission_review(fixture("triton-gpu-0"))).encode()
        sock = socket.create_connection(("127.0.0.1", server.port))
        tls = client_context(server.ca).wrap_socket(sock, server_hostname=SERVICE_HOST)
        head = f"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        tls.sendall(head.encode() + body[:100])  # the request is in flight
        time.sleep(0.2)
        server.process.send_signal(signal.SIGTERM)

        def refusing() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", server.port)) != 0

        server.wait_for(refusing)  # stopped accepting new connections
        tls.sendall(body[100:])
        tls.settimeout(10)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = tls.recv(65536)
            if not chunk:
                break
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert b'"patchType":"JSONPatch"' in reply
        assert server.process.wait(timeout=30) == 0


@pytest.mark.slow
def test_start_up_with_an_invalid_policy_file_fails_fast(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\npolicies:\n- name: x\n  placement: {tolerations: [{key: k, operator: Bad}]}\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "webhook",
            "serve",
            "--policies",
            str(bad),
            "--cert-dir",
            str(tmp_path / "c"),
            "--port",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert (
        f"error: {bad}:4: policies[0] (x).placement.tolerations[0].operator: must be Equal or Exists"
        in result.stderr
    )


@pytest.mark.slow
def test_missing_certificates_without_dev_certs_fail_fast(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "webhook",
            "serve",
            "--no-dev-certs",
            "--port",  # a free one: the certificates must fail, not a port another server holds
            str(free_port()),
            "--cert-dir",
            str(tmp_path / "none"),
            "--policies",
            str(BUNDLED_POLICIES),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and "no tls.crt/tls.key" in result.stderr
    assert not (tmp_path / "none").exists()


@pytest.mark.slow
def test_environment_configures_the_server(tmp_path: Path) -> None:
    shutil.copy(BUNDLED_POLICIES, tmp_path / "p.yaml")
    with running_server(
        tmp_path, policies=tmp_path / "p.yaml", env={"PLACEMENT_WEBHOOK_MAX_BODY_BYTES": "2048"}
    ) as server:
        conn = server.connect()
        assert conn.call("POST", "/mutate", b"x" * 4096)[0] == 413


@pytest.mark.slow
def test_mismatched_certificate_files_fail_fast_with_one_line(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    ca = build_ca()
    one = build_serving_certificate(ca, ["localhost"])
    other = build_serving_certificate(ca, ["localhost"])
    (certs / "tls.crt").write_bytes(one.cert_pem)
    (certs / "tls.key").write_bytes(other.key_pem)  # not the key of tls.crt
    result = subprocess.run(
        [sys.executable, "-m", "webhook", "serve", "--port", str(free_port()), "--cert-dir", str(certs),
         "--policies", str(BUNDLED_POLICIES)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot load the certificates in {certs}: ")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.slow
def test_a_port_taken_meanwhile_is_retried_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The helper's retry (ports picked free can be taken as a client's source port), and the
    server's own clear exit when its port is in use."""
    import tests.server_helpers as helpers

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        real = helpers.free_port
        monkeypatch.setattr(helpers, "free_port", lambda: next(ports, None) or real())
        with running_server(tmp_path, policies=BUNDLED_POLICIES) as server:
            assert server.port != taken.getsockname()[1]
            assert server.readyz()["ready"] is True
        first_log = tmp_path / f"server-{taken.getsockname()[1]}.log"
        assert "address already in use" in first_log.read_text().lower()


@pytest.mark.slow
def test_a_port_in_use_is_one_line_exit_1_and_never_logs_serving(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "webhook", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--cert-dir", str(tmp_path / "c"), "--policies", str(BUNDLED_POLICIES)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: cannot listen on https://127.0.0.1:{port}: Address already in use"
    ]
    assert "serving" not in result.stdout
    assert not (tmp_path / "c").exists()  # the port is tried first: no dev certificates made for nothing


def test_bind_sockets_raises_on_a_taken_port_and_names_addresses_like_urls() -> None:
    from webhook.server.serve import bind_sockets, listen_address

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="Address already in use"):
            bind_sockets("127.0.0.1", taken.getsockname()[1])
    [sock] = bind_sockets("127.0.0.1", 0)
    with sock:
        assert sock.getsockname()[0] == "127.0.0.1"
    assert listen_address("::", 8443) == "https://[::]:8443"
    assert listen_address("0.0.0.0", 8443) == "https://0.0.0.0:8443"


@pytest.mark.slow
@pytest.mark.parametrize(
    "depth",
    [
        900,  # deep enough for a RecursionError in the Python-side loading, under libyaml's own limit
        100_000,  # far past libyaml's nesting limit
    ],
)
def test_a_deeply_nested_policy_file_on_hot_reload_keeps_the_last_good_policies(
    tmp_path: Path, depth: int
) -> None:
    configmap = ConfigMapDir(tmp_path / "policies", GPU_ONLY)
    with running_server(tmp_path, policies=configmap.path) as server:
        configmap.update("version: 1\npolicies: " + "[" * depth + "]" * depth + "\n")
        server.wait_for(lambda: server.readyz()["lastReloadError"] is not None)
        ready = server.readyz()
        assert (ready["ready"], ready["generation"]) == (True, 1)
        assert ready["lastReloadError"].startswith(f"{configmap.path}:")
        assert "\n" not in ready["lastReloadError"]
        conn = server.connect()
        answer = conn.review(admission_review(fixture("triton-gpu-0")))
        assert answer["response"]["auditAnnotations"]["policy"] == "gpu-servers"  # still the good ones
        metrics = conn.call("GET", "/metrics")[1].decode()
        assert 'placement_webhook_policy_reloads_total{result="failure"} 1.0' in metrics
        assert server.process.poll() is None
        configmap.update(GPU_V2)  # and the next good file still takes effect
        server.wait_for(lambda: server.readyz()["generation"] == 2)
        assert server.readyz()["lastReloadError"] is None


SECRET = "s3cr3t-token-in-the-pod-env"


def _secret_review(**changes: Any) -> dict[str, Any]:
    pod = minimal_pod()
    pod["spec"]["containers"][0]["env"] = [{"name": "TOKEN", "value": SECRET}]
    return {**admission_review(pod, uid="refused-uid"), **changes}


@pytest.mark.parametrize(
    ("body", "status", "answered", "logged", "uid"),
    [
        (  # what the reason quotes of the body is left out of the log
            json.dumps(_secret_review(kind=SECRET)).encode(),
            400,
            f'kind must be AdmissionReview, got "{SECRET}"',
            'kind must be AdmissionReview, got "…"',
            "refused-uid",
        ),
        (
            json.dumps(_secret_review()).encode()[:-1] + f', "{SECRET}": "x", "{SECRET}": 1}}'.encode(),
            400,
            f'body repeats the key "{SECRET}" in one object; its meaning is ambiguous',
            'body repeats the key "…" in one object; its meaning is ambiguous',
            "refused-uid",
        ),
        (
            f'{{"request": "{SECRET}"'.encode(),
            400,
            "body is not valid JSON: unexpected end of data: line 1 column 42 (char 41)",
            None,  # orjson's words quote nothing
            None,
        ),
        (
            json.dumps(_secret_review()).encode() + b" " * 3_200_000 + SECRET.encode(),
            413,
            None,  # the size is the body's
            None,
            None,
        ),
    ],
)
def test_refused_requests_are_logged_at_info_without_the_body(
    api: InProcessServer, body: bytes, status: int, answered: str | None, logged: str | None, uid: str | None
) -> None:
    def refusals() -> list[dict[str, Any]]:
        return [line for line in api.logs() if line.get("msg") == "refused a request"]

    seen = len(refusals())  # the server is shared: only the line this request adds counts
    got, text = api.call("POST", "/mutate", body)
    assert got == status
    if answered is not None:
        assert text.decode() == answered + "\n"
    api.wait_for(lambda: len(refusals()) > seen)
    line = refusals()[seen]
    reason = logged or text.decode().rstrip("\n")
    assert (line["level"], line["status"], line["reason"], line["uid"]) == ("info", status, reason, uid)
    assert SECRET not in api.log_text()
