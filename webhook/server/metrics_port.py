"""``serve --metrics-port``: ``GET /metrics`` over plain HTTP on a port of its own, and nothing else.

For Prometheus setups that cannot scrape with the webhook's private CA (the TLS port keeps
``/metrics`` too). prometheus-client's own exposition server answered every path with the metrics:
a liveness or readiness probe pointed at this port by mistake (``/healthz``, ``/readyz``) got 200
and was fooled, and ``POST /mutate`` got prometheus-client's own 405 wording. Here only
``GET /metrics`` (and ``HEAD``) is served; any other path is 404, another method on ``/metrics``
405, each with a one-line plain-text body, and every such refusal is counted in
``placement_webhook_bad_requests_total`` as on the TLS port.

A thread per connection (``ThreadingHTTPServer``), HTTP/1.0 (one request per connection) and a
socket timeout, so a client that connects and sends nothing holds a thread for seconds, not forever.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from webhook.server.metrics import CONTENT_TYPE, Metrics

METRICS_PATH = "/metrics"
#: seconds a connection may take to send its request (and to read the answer)
SOCKET_TIMEOUT = 10.0
#: methods answered 405 on /metrics and 404 elsewhere (http.server answers others 501)
OTHER_METHODS = ("POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")


class _MetricsHandler(BaseHTTPRequestHandler):
    metrics: Metrics  # set on the subclass made per listener
    timeout = SOCKET_TIMEOUT
    server_version = "placement-webhook"
    sys_version = ""

    def do_GET(self) -> None:  # http.server dispatches on these names
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _other_method(self) -> None:
        if self._path() == METRICS_PATH:
            self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed: use GET", allow="GET, HEAD")
        else:
            self._not_found()

    def _path(self) -> str:
        return urlsplit(self.path).path

    def _answer(self, *, send_body: bool) -> None:
        if self._path() != METRICS_PATH:
            self._not_found(send_body=send_body)
            return
        body = self.metrics.render()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _not_found(self, *, send_body: bool = True) -> None:
        message = f"not found: this port serves only GET {METRICS_PATH}"
        self._refuse(HTTPStatus.NOT_FOUND, message, send_body=send_body)

    def _refuse(
        self, status: HTTPStatus, message: str, *, allow: str | None = None, send_body: bool = True
    ) -> None:
        self.metrics.bad_requests.labels(str(status.value)).inc()
        body = f"{message}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if allow is not None:
            self.send_header("Allow", allow)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, an unknown method): one plain line,
        not its HTML page."""
        status = HTTPStatus(code)
        self.close_connection = True
        self.request_version = "HTTP/1.0"  # a status line even when the request line was unreadable
        if code >= 500:
            body = f"{message or status.phrase}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        self._refuse(status, (message or status.phrase).lower(), send_body=self.command != "HEAD")

    def log_message(self, format: str, *args: object) -> None:  # http.server names the argument so
        """Silent, as the TLS port's operational paths: a scrape every few seconds is not news."""


for _method in OTHER_METHODS:
    setattr(_MetricsHandler, f"do_{_method}", _MetricsHandler._other_method)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def start_metrics_listener(metrics: Metrics, host: str, port: int) -> Callable[[], None]:
    """Serve ``GET /metrics`` on ``host:port`` in a thread; returns how to stop it. It binds at
    once, so a taken port raises OSError here."""
    handler = type("MetricsHandler", (_MetricsHandler,), {"metrics": metrics})
    family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    server_class = type("MetricsServer", (_Server,), {"address_family": family})
    httpd = server_class((host, port), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="metrics-port", daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

    return stop
