"""A connection the client resets is let go of at once, not after the keep-alive timeout.

uvicorn cancels its keep-alive timer only when a connection closes cleanly; a reset one stayed
referenced by the timer, with its TLS state and request, for the whole keep-alive timeout (120 s,
~80 KB each). The server runs in this process (the real uvicorn, TLS and protocol, on a thread) so
the test can see whether the protocol objects are still alive.
"""

from __future__ import annotations

import gc
import json
import socket
import struct
import time
import weakref
from pathlib import Path

import pytest

from tests.helpers import admission_review, fixture
from tests.server_helpers import TlsConnection, client_context
from webhook.server.serve import Webhook

pytestmark = pytest.mark.slow


def _connections(served: Webhook) -> list[object]:
    """The server's open connections, read from this thread while the server's may change them."""
    while True:
        try:
            return list(served.server.server_state.connections)
        except RuntimeError:  # the set changed size during the copy
            continue


def _admitted_connection(served: Webhook, ca: Path) -> tuple[TlsConnection, list[weakref.ref[object]]]:
    """A kept-alive connection that has had one admission answered, and weak references to the
    server's protocol objects for it."""
    before = weakref.WeakSet(_connections(served))  # by identity, and without keeping them alive
    conn = TlsConnection(served.server.config.port, client_context(ca))
    review = admission_review(fixture("triton-gpu-0"))
    status, body = conn.call("POST", "/mutate?timeout=10s", json.dumps(review).encode())
    assert status == 200 and json.loads(body)["response"]["allowed"], body
    protocols = [p for p in _connections(served) if p not in before]
    assert len(protocols) == 1
    return conn, [weakref.ref(protocols[0])]


def _released(refs: list[weakref.ref[object]], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        gc.collect()
        if all(ref() is None for ref in refs):
            return True
        time.sleep(0.05)
    return False


def test_a_connection_reset_after_an_answer_is_released_at_once(webhook: Webhook, tmp_path: Path) -> None:
    conn, refs = _admitted_connection(webhook, tmp_path / "certs" / "ca.crt")
    assert conn.sock is not None
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
    conn.close()
    assert _released(refs), "the reset connection is still referenced (by the keep-alive timer)"


def test_a_connection_closed_cleanly_is_released_too(webhook: Webhook, tmp_path: Path) -> None:
    conn, refs = _admitted_connection(webhook, tmp_path / "certs" / "ca.crt")
    assert conn.sock is not None
    conn.sock.unwrap().close()  # close_notify, then FIN
    conn.close()
    assert _released(refs)


def test_many_reset_connections_leave_none_behind(webhook: Webhook, tmp_path: Path) -> None:
    refs: list[weakref.ref[object]] = []
    for _ in range(20):
        conn, more = _admitted_connection(webhook, tmp_path / "certs" / "ca.crt")
        assert conn.sock is not None
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        refs += more
    assert _released(refs)
    assert webhook.server.server_state.connections == set()
