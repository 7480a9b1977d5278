"""``--metrics-port``: /metrics also over plain HTTP on a port of its own, for Prometheus without our CA."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import BUNDLED_POLICIES, admission_review, fixture
from tests.server_helpers import free_port, running_server
from webhook.cli.main import main
from webhook.server.metrics import Metrics
from webhook.server.serve import start_metrics_listener

pytestmark = pytest.mark.slow


def plain_get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        connection.close()


def test_the_metrics_port_serves_the_same_registry_as_the_tls_port(tmp_path: Path) -> None:
    metrics_port = free_port()
    with running_server(
        tmp_path, policies=BUNDLED_POLICIES, args=("--metrics-port", str(metrics_port))
    ) as server:
        conn = server.connect()
        answer = conn.review(admission_review(fixture("triton-gpu-0")))
        assert answer["response"]["allowed"] is True and "patch" in answer["response"]
        status, tls_body = conn.call("GET", "/metrics")
        conn.close()
        code, content_type, plain = plain_get(metrics_port, "/metrics")
        assert (status, code) == (200, 200) and content_type.startswith("text/plain")
        counted = 'placement_webhook_admissions_total{outcome="patched",policy="gpu-servers"} 1.0'
        assert counted in plain and counted in tls_body.decode()
        log = server.log_path.read_text()
    assert f'"msg":"serving metrics","address":"http://127.0.0.1:{metrics_port}"' in log


def test_a_taken_metrics_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "webhook", "serve", "--host", "127.0.0.1", "--port", str(free_port()),
             "--metrics-port", str(port), "--cert-dir", str(tmp_path / "c"), "--policies", str(BUNDLED_POLICIES)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert result.returncode == 1
    stderr = [line for line in result.stderr.splitlines() if not line.startswith("created a local CA")]
    assert stderr == [f"error: cannot listen on http://127.0.0.1:{port}: Address already in use"]
    assert "serving" not in result.stdout


def test_the_metrics_port_serves_only_get_metrics() -> None:
    """A probe pointed at this port by mistake must fail, not get 200 with the metrics."""
    metrics = Metrics()
    port = free_port()
    stop = start_metrics_listener(metrics, "127.0.0.1", port)
    try:
        status, content_type, body = plain_get(port, "/metrics?x=1")
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
        assert "placement_webhook_policies" in body
        assert plain_get(port, "/metrics", "HEAD")[:2] == (200, content_type)
        only = "not found: this port serves only GET /metrics\n"
        for path in ("/healthz", "/readyz", "/", "/metrics/", "/mutate"):
            assert plain_get(port, path) == (404, "text/plain; charset=utf-8", only), path
        assert plain_get(port, "/mutate", "POST") == (404, "text/plain; charset=utf-8", only)
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            answer = plain_get(port, "/metrics", method)
            assert answer == (405, "text/plain; charset=utf-8", "method not allowed: use GET\n"), method
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"GET /metrics HTTP/one\r\n\r\n")
            reply = raw.recv(4096).decode()
        assert reply.startswith("HTTP/1.0 400 ") and "text/plain" in reply and "<html" not in reply.lower()
        counted = plain_get(port, "/metrics")[2]
    finally:
        stop()
    assert 'placement_webhook_bad_requests_total{code="404"} 6.0' in counted
    assert 'placement_webhook_bad_requests_total{code="405"} 5.0' in counted
    assert 'placement_webhook_bad_requests_total{code="400"} 1.0' in counted


def test_serve_help_names_every_webhook_path_and_what_client_ca_guards(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "POST /mutate (placement) and /validate (the reservation guard)" in text
    assert "--client-ca CLIENT_CA answer the webhooks (/mutate, /validate) only for clients" in text
    assert "also serve GET /metrics (only) over plain HTTP" in text
