"""``placement-webhook serve``: uvicorn over TLS, file watching, and a clean SIGTERM.

uvicorn builds its ``SSLContext`` once; we replace it with our own (TLS policy, optional client
certificates) and keep a reference so rotated certificates load into it in place. uvicorn re-raises
a captured SIGTERM after draining, which would make the exit status 143; a drained shutdown is a
success, so this server exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvicorn

from webhook.cluster.certs import ensure_dev_certificates, has_serving_certificate
from webhook.errors import PolicyError
from webhook.policy.compiled import PolicySet
from webhook.server.app import AppState, ASGIApp, create_app
from webhook.server.logs import LOGGER, AdmissionLog, configure_logging, flush_logging
from webhook.server.metrics import Metrics, NamespaceCacheFigures
from webhook.server.metrics_port import start_metrics_listener
from webhook.server.namespace_lookup import FIRST_LIST_WAIT, NamespaceLabels, NamespaceLookup, NodeTaints
from webhook.server.native_sync import Apply, NativeGuardSync
from webhook.server.protocol import guarded_protocol
from webhook.server.reloading import CertificateStore, PolicyStore, ServingCheck, create_server_context
from webhook.server.settings import ServerSettings

if TYPE_CHECKING:  # the kubernetes client takes ~0.2 s to import: only when a policy needs the cache
    from webhook.cluster.namespaces import NamespaceCache
    from webhook.cluster.nodes import NodeCache

log = logging.getLogger(LOGGER)


class _Server(uvicorn.Server):
    """uvicorn, but a SIGTERM/SIGINT that drained cleanly ends the process with status 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():  # as uvicorn: only it can
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def _watch(webhook: Webhook, interval: float) -> None:
    """Poll both stores. Parsing a policy file may take milliseconds, so it runs in a thread; the
    certificate is loaded on the event loop's own thread, because OpenSSL must not change a
    context while the loop is doing handshakes with it. Policies that newly use namespaceSelector
    start the namespace cache (or retry starting it), and reservations the node cache; the native
    guard is brought in step (in the thread: it calls the API server) from the first poll on."""
    policies, certificates, native = webhook.policies, webhook.certificates, webhook.native
    while True:
        try:
            if native is not None:
                await asyncio.to_thread(native.sync, policies.loaded)
        except Exception:
            log.exception("native guard sync failed; retrying at the next interval")
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(policies.reload_if_changed)
            if policies.policies.uses_namespace_selector:
                webhook.namespaces.ensure_started()
            if policies.policies.reservations:
                webhook.nodes.ensure_started()
        except Exception:
            log.exception("policy file watch failed; retrying at the next interval")
        try:
            certificates.reload_if_changed()
        except Exception:
            log.exception("certificate watch failed; retrying at the next interval")


def _prepare_certificates(settings: ServerSettings) -> None:
    cert_dir = settings.cert_dir
    if has_serving_certificate(cert_dir):
        return
    if not settings.dev_certs:
        raise SystemExit(f"error: no tls.crt/tls.key in {cert_dir} and dev certificates are disabled")
    ensure_dev_certificates(cert_dir)
    print(
        f"created a local CA and serving certificate in {cert_dir}/ (localhost, 127.0.0.1, in-cluster names);"
        f" CA bundle: {cert_dir / 'ca.crt'}",
        file=sys.stderr,
    )


@dataclass
class Webhook:
    """Everything ``serve`` runs: the HTTP server and the live stores it watches."""

    server: _Server
    policies: PolicyStore
    certificates: CertificateStore
    admission_log: AdmissionLog
    metrics: Metrics
    namespaces: NamespaceLabels
    nodes: NodeTaints
    native: NativeGuardSync | None  # --native-guard: the ValidatingAdmissionPolicy kept in step
    app: ASGIApp  # what uvicorn serves (``create_app``), also for driving it in-process


def _namespace_lookup(settings: ServerSettings, metrics: Metrics) -> NamespaceLabels:
    """The lookup, whose cache is made (cluster credentials read) only when first needed."""

    def make_cache() -> NamespaceCache:
        from webhook.cluster.client import load_api_client
        from webhook.cluster.namespaces import NamespaceCache

        cache = NamespaceCache(
            load_api_client(),
            lookup_timeout=settings.namespace_lookup_timeout,
            relist_interval=settings.namespace_relist_interval,
        )
        metrics.namespace_cache.read = lambda: NamespaceCacheFigures(
            len(cache.state), cache.stats.restarts, dict(cache.stats.misses)
        )
        return cache

    return NamespaceLookup(make_cache)


def _node_lookup(settings: ServerSettings) -> NodeTaints:
    """Node taints for the guard's ``spec.nodeName`` rule, made (credentials read) when first needed."""

    def make_cache() -> NodeCache:
        from webhook.cluster.client import load_api_client
        from webhook.cluster.nodes import NodeCache

        return NodeCache(
            load_api_client(),
            lookup_timeout=settings.namespace_lookup_timeout,
            relist_interval=settings.namespace_relist_interval,
        )

    return NamespaceLookup(make_cache, subject="node")


def _native_guard(settings: ServerSettings, metrics: Metrics) -> NativeGuardSync | None:
    """The native guard's keeper with ``--native-guard``; its API client is made at the first apply."""
    if settings.native_guard is None and settings.native_placement is None:
        return None

    def make_apply() -> Apply:
        from webhook.cluster.client import load_api_client
        from webhook.cluster.native_guard import apply_native_guard

        api = load_api_client()
        return lambda policies: apply_native_guard(api, policies)

    return NativeGuardSync(
        make_apply, name=settings.native_guard, metrics=metrics, placement=settings.native_placement
    )


def namespaces_servable(namespaces: NamespaceLabels, *, wait: float = FIRST_LIST_WAIT) -> ServingCheck:
    """A reload that newly needs namespace labels waits (up to ``wait`` seconds) for the cache's
    first LIST: one the server cannot serve (no credentials, no RBAC) is refused, never served
    unready."""

    def check(new: PolicySet, current: PolicySet) -> str | None:
        if not new.uses_namespace_selector or current.uses_namespace_selector:
            return None  # nothing new is needed: the current policies already wait for the cache
        return namespaces.serving_problem(wait=wait)

    return check


def build_server(settings: ServerSettings) -> Webhook:
    """Everything ``serve`` runs, without running it."""
    _prepare_certificates(settings)
    metrics = Metrics()
    namespaces = _namespace_lookup(settings, metrics)
    policies = PolicyStore(settings.policies, metrics, can_serve=namespaces_servable(namespaces))
    context = create_server_context(settings.cert_dir, client_ca=settings.client_ca)
    certificates = CertificateStore(settings.cert_dir, context, metrics)
    admission_log = AdmissionLog()
    require_client_certificate = settings.client_ca is not None
    if policies.policies.uses_namespace_selector:
        namespaces.ensure_started()
    nodes = _node_lookup(settings)
    if policies.policies.reservations:
        nodes.ensure_started()
    state = AppState(
        policies, certificates, metrics, settings.max_body_bytes, settings.body_timeout, admission_log,
        require_client_certificate=require_client_certificate, namespaces=namespaces, nodes=nodes,
    )  # fmt: skip
    app = create_app(state)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,  # the API server calls us directly; X-Forwarded-* must not be trusted
        timeout_keep_alive=int(settings.keep_alive_timeout),
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
        limit_concurrency=settings.max_connections,
        h11_max_incomplete_event_size=64 * 1024,
        lifespan="off",
        http=guarded_protocol(
            header_timeout=settings.header_timeout,
            max_header_bytes=settings.max_header_bytes,
            check_client_certificate=require_client_certificate,
        ),
    )
    config.load()
    config.ssl = context  # ours: TLS policy, client CA, and reloadable in place
    native = _native_guard(settings, metrics)
    state.native = native
    return Webhook(
        _Server(config), policies, certificates, admission_log, metrics, namespaces, nodes, native, app
    )


def bind_sockets(host: str, port: int) -> list[socket.socket]:
    """Bind every address ``host`` resolves to, as ``loop.create_server`` would, before serving.

    Binding here, not inside uvicorn, lets a taken port fail before "serving" is logged, as one
    line and exit 1 (uvicorn logs the error and exits 3). Raises OSError; nothing stays bound then.
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def listen_address(host: str, port: int, *, scheme: str = "https") -> str:
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


async def _serve(webhook: Webhook, interval: float, sockets: list[socket.socket]) -> None:
    server = webhook.server
    watcher = asyncio.create_task(_watch(webhook, interval))
    try:
        await server.serve(sockets=sockets)
    finally:
        watcher.cancel()


def _close(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def run_server(settings: ServerSettings) -> int:
    configure_logging(settings.log_level)
    address = listen_address(settings.host, settings.port)
    try:  # first: a taken port is the likeliest failure, and nothing should be made before it
        sockets = bind_sockets(settings.host, settings.port)
    except OSError as exc:
        print(f"error: cannot listen on {address}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        webhook = build_server(settings)
    except PolicyError as exc:
        _close(sockets)
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return 1
    except (OSError, ssl.SSLError, ValueError) as exc:  # unreadable or mismatched tls.crt/tls.key/CA
        _close(sockets)
        print(f"error: cannot load the certificates in {settings.cert_dir}: {exc}", file=sys.stderr)
        return 1
    stop_metrics = None
    if settings.metrics_port is not None:
        metrics_address = listen_address(settings.host, settings.metrics_port, scheme="http")
        try:
            stop_metrics = start_metrics_listener(webhook.metrics, settings.host, settings.metrics_port)
        except OSError as exc:
            _close(sockets)
            webhook.admission_log.close()
            print(f"error: cannot listen on {metrics_address}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        log.info("serving metrics", extra={"fields": {"address": metrics_address}})
    log.info(
        "serving",
        extra={
            "fields": {
                "address": address,
                "policies": str(settings.policies),
                "policy_count": len(webhook.policies.policies),
                "cert_dir": str(settings.cert_dir),
                "client_auth": settings.client_ca is not None,
            }
        },
    )
    server = webhook.server
    try:
        with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
            runner.run(_serve(webhook, settings.reload_interval, sockets))
    finally:
        if stop_metrics is not None:
            stop_metrics()
        _close(sockets)
        webhook.admission_log.close()
        flush_logging()
    return 0 if server.started else 1


def settings_from_options(**options: object) -> ServerSettings:
    """Command-line options override the environment, which overrides the defaults."""
    return ServerSettings(**{k: v for k, v in options.items() if v is not None})  # type: ignore[arg-type]
