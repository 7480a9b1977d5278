"""A graceful shutdown stops keeping connections alive without dropping a request.

kube-apiserver keeps idle connections to a webhook and keeps using them after the webhook's Pod
has left the Service's endpoints (kubernetes#127335). If SIGTERM closed those idle connections at
once, an admission written onto one at that instant would fail: an HTTP client does not retry a
POST on a connection the server closed. So after SIGTERM every answer carries
``connection: close`` (the client dials again and reaches another replica) and an idle connection
is closed only once it has stayed idle for ``DRAIN_IDLE_SECONDS``.
"""

from __future__ import annotations

import json
import socket
import ssl
import time

import pytest

from tests.helpers import admission_review, fixture
from tests.server_helpers import SERVICE_HOST, TlsConnection, client_context
from webhook.server.protocol import DRAIN_IDLE_SECONDS
from webhook.server.serve import Webhook

pytestmark = pytest.mark.slow

BODY = json.dumps(admission_review(fixture("triton-gpu-0"))).encode()
HEAD = (
    "POST /mutate?timeout=10s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    f"Content-Length: {len(BODY)}\r\n\r\n"
).encode()


def _kept_alive(webhook: Webhook) -> TlsConnection:
    conn = TlsConnection(webhook.server.config.port, client_context(webhook.certificates.cert_dir / "ca.crt"))
    status, _ = conn.call("POST", "/mutate?timeout=10s", BODY)
    assert status == 200
    return conn


def _raw(webhook: Webhook) -> ssl.SSLSocket:
    context = client_context(webhook.certificates.cert_dir / "ca.crt")
    sock = socket.create_connection(("127.0.0.1", webhook.server.config.port), timeout=10)
    return context.wrap_socket(sock, server_hostname=SERVICE_HOST)


def _stop(webhook: Webhook) -> None:
    """SIGTERM's effect: uvicorn's main loop sees it within 0.1 s and starts the shutdown."""
    webhook.server.should_exit = True
    time.sleep(0.3)


def _read_until_closed(tls: ssl.SSLSocket) -> bytes:
    reply = b""
    while chunk := tls.recv(65536):
        reply += chunk
    return reply


def test_an_idle_connection_brings_one_last_request_answered_with_connection_close(webhook: Webhook) -> None:
    conn = _kept_alive(webhook)
    _stop(webhook)
    conn.request("POST", "/mutate?timeout=10s", body=BODY, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200
    assert json.loads(response.read())["response"]["allowed"]
    assert response.getheader("connection") == "close"
    assert conn.sock is None or _read_until_closed(conn.sock) == b""  # and the server closed it


def test_an_idle_connection_is_closed_once_idle_for_the_drain_period(webhook: Webhook) -> None:
    conn = _kept_alive(webhook)
    assert conn.sock is not None
    stopped = time.monotonic()
    webhook.server.should_exit = True
    assert _read_until_closed(conn.sock) == b""
    waited = time.monotonic() - stopped
    assert DRAIN_IDLE_SECONDS <= waited < DRAIN_IDLE_SECONDS + 1.5, waited


@pytest.mark.parametrize("sent_before", [HEAD[:20], HEAD, HEAD + BODY[:100]], ids=["head", "headers", "body"])
def test_a_request_arriving_at_sigterm_is_answered_then_closed(webhook: Webhook, sent_before: bytes) -> None:
    tls = _raw(webhook)
    tls.sendall(sent_before)
    _stop(webhook)
    time.sleep(DRAIN_IDLE_SECONDS + 0.2)  # longer than an idle connection is kept
    tls.sendall((HEAD + BODY)[len(sent_before) :])
    reply = _read_until_closed(tls)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), reply[:200]
    assert b"\r\nconnection: close" in head.lower()
    assert json.loads(body)["response"]["allowed"]


def test_new_connections_are_refused_once_the_shutdown_starts(webhook: Webhook) -> None:
    conn = _kept_alive(webhook)  # keeps the server draining for a moment
    _stop(webhook)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", webhook.server.config.port)) != 0
    conn.close()
