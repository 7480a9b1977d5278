"""uvicorn's httptools HTTP/1.1 protocol with a deadline and a size limit for the request head.

uvicorn (0.54, httptools) bounds the body only through the app and the idle time between requests
only through the keep-alive timeout: a client that opens a connection and then sends its request
line and headers slowly ("slowloris"), or never, holds the connection forever, and one that sends
headers without end makes httptools buffer them without limit. Every such connection also counts
against ``limit_concurrency``, so a few hundred of them would turn real admissions into 503s.

This subclass adds, per request head (request line and headers):

- a deadline (``header_timeout``) from the first byte of a request until its head is complete; a
  late head gets **408** and the connection is closed. Before its first byte a new connection is
  idle like a kept-alive one between requests: closed, without an answer, after the keep-alive
  timeout. kube-apiserver's HTTP client dials connections it may not use at once (a burst of
  admissions, then an idle pool kept up to 90 s): a deadline from the handshake would answer those
  with an unsolicited 408 and close them under its feet;
- a size limit (``max_header_bytes``) on the request target plus header names and values: a longer
  head gets **431** and the connection is closed. A head that spans reads is also cut off once the
  bytes received for it pass the limit, before httptools buffers more of it.

A TLS connection that the server closes (these refusals, a ``connection: close`` answer such as
a 413, an expired keep-alive, an idle one at shutdown) waits up to 30 s for the client's
``close_notify``, meanwhile reading and discarding whatever the client sends, and still counts as
a connection (and delays a graceful shutdown). A client that never answers would hold its slot
that long, so a connection being closed leaves the count at once and is cut (``abort``) after
``CLOSE_GRACE_SECONDS``, ample to flush a short answer.

A graceful shutdown (SIGTERM) stops keeping connections alive without dropping a request. A
request in flight, or whose head is arriving, is answered with ``connection: close``. An idle
kept-alive connection is not closed at once: kube-apiserver's client may be writing the next
admission onto it at that very moment, and an HTTP client does not retry a POST that met a closed
connection, so the API server would count a failed admission. It stays open for
``DRAIN_IDLE_SECONDS``: a request that comes is answered with ``connection: close`` (the client
dials again, reaching another replica), and one that stays idle that long is closed. Go's client
reuses its most recently used idle connection first, so one idle that long is the least likely
to be chosen at the instant it closes.

A lost connection lets go of everything at once. uvicorn (0.54) cancels its keep-alive timer in
``connection_lost`` only for a clean close; a connection reset by the client (RST, a TLS peer
that leaves without ``close_notify``) keeps its timer, and the timer's bound method keeps the
protocol, its TLS transport with OpenSSL's buffers, the request cycle and the ASGI scope alive for
the whole keep-alive timeout (120 s): some 80 KB per connection, so a client that connects and
resets at 100 connections a second would hold about 1 GB. This protocol cancels that timer, and
its own, on every loss.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

CLOSE_GRACE_SECONDS = 2.0
#: after SIGTERM, how long an idle kept-alive connection may still bring one last request
DRAIN_IDLE_SECONDS = 1.0


def _plain_response(status: str, message: str) -> bytes:
    """A complete ``connection: close`` response written straight to the transport."""
    body = (message + "\n").encode("ascii")
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode("ascii") + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose request heads must arrive within a deadline and a size limit."""

    header_timeout: float = 10.0
    max_header_bytes: int = 64 * 1024
    check_client_certificate: bool = False

    _head_timer: asyncio.TimerHandle | None = None
    _head_deadline: float = 0.0
    _awaiting_head: bool = False
    _head_bytes: int = 0  # received while the head is incomplete (an upper bound across reads)
    _head_size: int = 0  # exact: target, header names and values, as httptools reports them
    _refused: bool = False
    _lost: bool = False
    _abort_timer: asyncio.TimerHandle | None = None
    _draining: bool = False
    _mid_head: bool = False  # between the first byte of a request and its complete head
    _drain_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._awaiting_head, self._head_bytes = True, 0  # the deadline starts with the first byte
        # idle until then, as between requests: uvicorn's keep-alive timer (cancelled by data_received)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._cancel_head_timer()
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:  # uvicorn cancels it only when exc is None
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        self._cancel_drain_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():  # answered with connection: close
            self._release()

    def shutdown(self) -> None:
        """SIGTERM: no more keep-alive. A request in flight or arriving is answered with
        ``connection: close``; an idle connection may bring one more request, answered the same
        way, for ``DRAIN_IDLE_SECONDS``, and is then closed and released (graceful shutdown waits
        for requests, not for clients slow to acknowledge a close)."""
        self._draining = True
        if self.transport.is_closing():
            self._release()
        elif self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        elif not self._mid_head:
            self._drain_timer = self.loop.call_later(DRAIN_IDLE_SECONDS, self._close_if_idle)

    def _close_if_idle(self) -> None:
        self._drain_timer = None
        if self.transport.is_closing() or self._mid_head:
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
            self._release()

    def _cancel_drain_timer(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None

    def timeout_keep_alive_handler(self) -> None:
        super().timeout_keep_alive_handler()
        self._release()

    def _release(self) -> None:
        """A connection being closed stops counting against the limit and is cut after a grace period."""
        self.connections.discard(self)
        if self._abort_timer is None:
            self._abort_timer = self.loop.call_later(CLOSE_GRACE_SECONDS, self._abort)

    def _abort(self) -> None:
        self._abort_timer = None
        if not self._lost:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._awaiting_head:
            if self._head_timer is None and self._head_bytes == 0:  # a new connection's first byte
                self._start_head()
            self._head_bytes += len(data)
        super().data_received(data)
        if self._awaiting_head and self._head_bytes > self.max_header_bytes:
            self._refuse("431 Request Header Fields Too Large", self._too_large_message())

    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        self._head_size, self._mid_head = 0, True
        if not self._awaiting_head:  # the next request on a kept-alive connection
            self._start_head()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_head = self._mid_head = False  # the timer stays: it re-arms for the next head
        if self._refused:
            return
        if self._head_size > self.max_header_bytes:  # it arrived within one read
            self._refuse("431 Request Header Fields Too Large", self._too_large_message())
            return
        if self.check_client_certificate:
            self.scope["extensions"] = {"tls": {"client_certificate_verified": self._peer_verified()}}
        super().on_headers_complete()
        if self._draining and self.cycle is not None:  # the last request on this connection
            self._cancel_drain_timer()
            self.cycle.keep_alive = False

    def _peer_verified(self) -> bool:
        """Whether the client presented a certificate; with ``CERT_OPTIONAL`` OpenSSL has already
        refused the handshake of any presented certificate that does not verify against the CA."""
        ssl_object = self.transport.get_extra_info("ssl_object")
        return ssl_object is not None and bool(ssl_object.getpeercert())

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def _start_head(self) -> None:
        """Start the deadline of the next head. One timer per connection, not one per request: when
        it fires before the current head's deadline (it was set for an earlier head) it re-arms."""
        self._awaiting_head, self._head_bytes = True, 0
        self._head_deadline = self.loop.time() + self.header_timeout
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_deadline, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head or self._refused:
            return  # between requests: the next head arms a timer again
        if self.loop.time() < self._head_deadline:  # set for an earlier head of this connection
            self._head_timer = self.loop.call_at(self._head_deadline, self._head_timed_out)
        else:
            self._refuse(
                "408 Request Timeout", f"request headers not received within {self.header_timeout:g} s"
            )

    def _too_large_message(self) -> str:
        return f"request line and headers are over the {self.max_header_bytes} byte limit"

    def _refuse(self, status: str, message: str) -> None:
        """Answer once and close; a client that cannot finish its head gets no second chance."""
        self._awaiting_head, self._refused = False, True
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        self.logger.warning(
            "refused a request head", extra={"fields": {"status": status[:3], "reason": message}}
        )
        if self.cycle is None or self.cycle.response_complete:  # never interleave with a response
            self.transport.write(_plain_response(status, message))
        self.transport.close()
        self._release()


def guarded_protocol(
    *, header_timeout: float, max_header_bytes: int, check_client_certificate: bool = False
) -> type[GuardedHttpProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` with these limits (uvicorn instantiates it).

    With ``check_client_certificate`` each request's scope says whether the TLS client presented a
    (verified) certificate, as ``scope["extensions"]["tls"]["client_certificate_verified"]``.
    """
    return type(
        "GuardedHttpProtocol",
        (GuardedHttpProtocol,),
        {
            "header_timeout": header_timeout,
            "max_header_bytes": max_header_bytes,
            "check_client_certificate": check_client_certificate,
        },
    )
