"""Start the real ``placement-webhook serve`` in a subprocess on loopback and talk to it over TLS;
or build the same app in this process and call it without a socket (``in_process_server``)."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from webhook.server import serve
from webhook.server.logs import LOGGER, AdmissionLog, JsonFormatter
from webhook.server.serve import Webhook, build_server, settings_from_options

SERVICE_HOST = "placement-webhook.placement-webhook.svc"


class Client(Protocol):
    """What the tests call on a server: a ``TlsConnection`` to a real one, or an ``InProcessServer``."""

    def call(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]: ...

    def review(self, review: dict[str, Any]) -> dict[str, Any]: ...


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_context(ca: Path, *, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


class TlsConnection(http.client.HTTPSConnection):
    """Connects to 127.0.0.1 but verifies the certificate for ``server_hostname`` (as the API server)."""

    def __init__(
        self, port: int, context: ssl.SSLContext, server_hostname: str = SERVICE_HOST, timeout: float = 10
    ) -> None:
        super().__init__("127.0.0.1", port, context=context, timeout=timeout)
        self.server_hostname = server_hostname
        self.tls_context = context

    def __enter__(self) -> TlsConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        # as http.client's own connect and Go's net package: without it Nagle's algorithm and
        # delayed ACKs add ~40 ms to every request whose headers and body go out separately
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self.tls_context.wrap_socket(sock, server_hostname=self.server_hostname)

    def call(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        self.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = self.getresponse()
        return response.status, response.read()

    def review(self, review: dict[str, Any]) -> dict[str, Any]:
        status, body = self.call("POST", "/mutate?timeout=10s", json.dumps(review).encode())
        assert status == 200, (status, body)
        return json.loads(body)  # type: ignore[no-any-return]


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    cert_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    client_cert: tuple[Path, Path] | None = None  # presented when the server requires one

    def context(self) -> ssl.SSLContext:
        cert, key = self.client_cert or (None, None)
        return client_context(self.ca, cert=cert, key=key)

    @property
    def ca(self) -> Path:
        return self.cert_dir / "ca.crt"

    def connect(self, **kwargs: Any) -> TlsConnection:
        return TlsConnection(self.port, self.context(), **kwargs)

    def logs(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(
            f"condition not met within {timeout}s; log:\n{self.log_path.read_text()[-3000:]}"
        )

    def readyz(self) -> dict[str, Any]:
        with self.connect() as conn:
            status, body = conn.call("GET", "/readyz")
        return {"status": status, **json.loads(body)}

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def _healthy(port: int, context: ssl.SSLContext) -> bool:
    try:
        conn = TlsConnection(port, context, server_hostname="localhost", timeout=1)
        status, _ = conn.call("GET", "/healthz")
        conn.close()
        return status == 200
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return False


@contextmanager
def running_server(
    tmp: Path,
    *,
    policies: Path,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    cert_dir: Path | None = None,
    client_cert: tuple[Path, Path] | None = None,
    launcher: tuple[str, ...] = (sys.executable, "-m", "webhook"),
    cwd: Path | None = None,
) -> Iterator[RunningServer]:
    """The real server in a subprocess; yields once /healthz answers, stops it (SIGTERM) afterwards.

    ``launcher`` replaces ``python -m webhook`` (e.g. to install an audit hook first); ``client_cert``
    is presented by every connection of the returned server (for ``--client-ca``)."""
    cert_dir = cert_dir or tmp / "certs"
    environment = {**os.environ, "PLACEMENT_WEBHOOK_RELOAD_INTERVAL": "0.2", **(env or {})}
    server = None
    for _ in range(3):  # a port picked free can be taken meanwhile, e.g. as a client's source port
        port = free_port()
        log_path = tmp / f"server-{port}.log"
        command = [*launcher, "serve", "--host", "127.0.0.1", "--port", str(port), "--cert-dir", str(cert_dir),
                   "--policies", str(policies), *args]  # fmt: skip
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=cwd
            )
        server = RunningServer(process, port, cert_dir, log_path, environment, client_cert)
        try:
            if _wait_until_healthy(server):
                break
        except BaseException:  # whatever stops the wait, no server outlives the test run
            process.kill()
            process.wait()
            raise
        if "address already in use" not in log_path.read_text().lower():
            raise AssertionError(f"server did not start (exit {process.poll()}):\n{log_path.read_text()}")
    assert server is not None and server.process.poll() is None, "no free port after 3 tries"
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def _wait_until_healthy(server: RunningServer, timeout: float = 20) -> bool:
    """True once /healthz answers; False when the process exits first. Raises on a hang."""
    deadline = time.monotonic() + timeout
    while not (server.cert_dir / "ca.crt").exists() or not _healthy(server.port, server.context()):
        if server.process.poll() is not None:
            return False
        if time.monotonic() > deadline:
            server.process.kill()
            raise AssertionError(
                f"server did not become healthy in {timeout}s:\n{server.log_path.read_text()}"
            )
        time.sleep(0.05)
    return True


class ConfigMapDir:
    """A folder laid out like a mounted ConfigMap: ``policies.yaml -> ..data/policies.yaml``, ``..data -> ..<ts>``."""

    def __init__(self, root: Path, text: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.version = 0
        self.update(text)
        (root / "policies.yaml").symlink_to("..data/policies.yaml")

    @property
    def path(self) -> Path:
        return self.root / "policies.yaml"

    def update(self, text: str) -> None:
        """Write a new timestamped folder and swap ``..data`` atomically, as the kubelet does."""
        self.version += 1
        folder = self.root / f"..2026_11_22_{self.version:04d}"
        folder.mkdir()
        (folder / "policies.yaml").write_text(text)
        temporary = self.root / "..data_tmp"
        temporary.symlink_to(folder.name)
        temporary.replace(self.root / "..data")


def open_tls(
    server: RunningServer, context: ssl.SSLContext | None = None, timeout: float = 10
) -> ssl.SSLSocket:
    """A raw TLS socket to the server, for requests http.client would refuse to send."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout)
    tls = (context or client_context(server.ca)).wrap_socket(sock, server_hostname=SERVICE_HOST)
    tls.settimeout(timeout)
    return tls


def read_until_closed(tls: ssl.SSLSocket) -> bytes:
    """Everything the server sends until it closes the connection; a socket timeout propagates."""
    reply = b""
    try:
        while chunk := tls.recv(65536):
            reply += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    return reply


def rss_kib(process: subprocess.Popen[bytes]) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {process.pid}")


# --- the same app in this process ----------------------------------------------------------------


class LogSink:
    """What ``serve`` would write to stdout: the admission lines and the JSON log records, in order.

    ``AdmissionLog`` writes bytes to it from its own thread; the handler below from the app's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data = bytearray()

    def write(self, data: bytes) -> int:
        with self._lock:
            self._data += data
        return len(data)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        with self._lock:
            return self._data.decode()


class _SinkHandler(logging.Handler):
    """The ``placement_webhook`` records as ``configure_logging`` writes them: one ``JsonFormatter`` line."""

    def __init__(self, sink: LogSink) -> None:
        super().__init__()
        self.sink = sink
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.write(self.format(record).encode() + b"\n")


@dataclass
class InProcessServer:
    """The app ``serve`` runs, made by its own ``build_server`` (settings, certificates, stores,
    metrics, admission log) and called in this process through httpx's ASGI transport: no socket,
    no TLS, no uvicorn, no file watching. For what the app alone decides: status, headers and
    bodies of /mutate, /validate, /healthz, /readyz and /metrics, and its log lines.
    tests/server/test_tls_contract.py checks that the real server answers the same requests alike.

    The calls mirror ``TlsConnection`` (``call``, ``review``) and ``RunningServer`` (``readyz``,
    ``logs``, ``wait_for``); ``log_text`` stands for the process's log file."""

    webhook: Webhook
    cert_dir: Path
    sink: LogSink
    client: httpx.AsyncClient
    runner: asyncio.Runner

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """``body``: bytes, or an iterable of byte chunks (sent as a chunked request body)."""
        headers = {"Content-Type": "application/json", **(headers or {})}
        if body is not None and not isinstance(body, bytes):
            body = _chunks(body)
        return self.runner.run(self.client.request(method, path, content=body, headers=headers))

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        response = self.request(method, path, body, headers)
        return response.status_code, response.content

    def review(self, review: dict[str, Any]) -> dict[str, Any]:
        status, body = self.call("POST", "/mutate?timeout=10s", json.dumps(review).encode())
        assert status == 200, (status, body)
        return json.loads(body)  # type: ignore[no-any-return]

    def readyz(self) -> dict[str, Any]:
        status, body = self.call("GET", "/readyz")
        return {"status": status, **json.loads(body)}

    def log_text(self) -> str:
        return self.sink.text()

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        """For the admission log, written by a thread every 50 ms."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; log:\n{self.log_text()[-3000:]}")
            time.sleep(0.01)


async def _chunks(parts: Any) -> Any:
    for part in parts:
        yield part


@contextmanager
def in_process_server(tmp: Path, *, policies: Path, **options: Any) -> Iterator[InProcessServer]:
    """``build_server`` for ``serve --policies policies --cert-dir tmp/certs`` and ``options`` (the
    other settings, as ``settings_from_options`` takes them); its log lines go to a ``LogSink``."""
    settings = settings_from_options(policies=policies, cert_dir=tmp / "certs", host="127.0.0.1", **options)
    sink = LogSink()
    logger, handler = logging.getLogger(LOGGER), _SinkHandler(sink)
    level = logger.level
    logger.addHandler(handler)  # before build_server: it may log (namespace cache cannot start)
    logger.setLevel(settings.log_level.upper())
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(serve, "AdmissionLog", lambda: AdmissionLog(stream=sink))
            webhook = build_server(settings)
        transport = httpx.ASGITransport(app=webhook.app)
        client = httpx.AsyncClient(transport=transport, base_url=f"https://{SERVICE_HOST}")
        with asyncio.Runner() as runner:
            try:
                yield InProcessServer(webhook, settings.cert_dir, sink, client, runner)
            finally:
                runner.run(client.aclose())
                webhook.admission_log.close()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
