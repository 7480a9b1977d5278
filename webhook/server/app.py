"""The HTTP edge: decode the request, call the handler of its path (``ROUTES``: ``/mutate`` the
mutator, ``/validate`` the reservation guard), encode its ``Response``. Nothing else.

Two error planes: a malformed request gets a 4xx with a one-line message (the API server's
``failurePolicy`` then decides); a Pod we reject is a normal 200 AdmissionReview with
``allowed: false``. An unexpected error is a 500 with the traceback and request uid logged.

Every handler is served by one lean ASGI endpoint (the same protocol guard, limits,
client-certificate rule, error planes, metrics and log line): they sit in the path of Pod creation,
and a framework's routing, middleware and dependency machinery cost more than the whole decision
(see bench/RESULTS.md). Everything else (health, readiness, metrics, 404s, 405s) is a small
Starlette app.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.responses import Response as HttpResponse
from starlette.routing import Route

from webhook.admission.handler import Handler
from webhook.admission.request import AdmissionRequest, parse_admission_review
from webhook.admission.response import Response, errored
from webhook.engine.handlers import Guard, Mutator
from webhook.engine.memo import LoadedPolicies
from webhook.errors import InputError, NamespaceLabelsUnknownError, UndecidableError
from webhook.server.jsonkeys import key_problem
from webhook.server.logs import LOGGER, AdmissionLog
from webhook.server.metrics import CONTENT_TYPE, Metrics
from webhook.server.namespace_lookup import NamespaceLabels, NodeTaints
from webhook.server.native_sync import NativeGuardSync
from webhook.server.reloading import CertificateStore, PolicyStore

log = logging.getLogger(LOGGER)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
TEXT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]


@dataclass
class AppState:
    policies: PolicyStore
    certificates: CertificateStore | None
    metrics: Metrics
    max_body_bytes: int
    body_timeout: float
    admission_log: AdmissionLog | None = None
    #: with ``--client-ca``: the webhooks answer only TLS clients that presented a verified certificate
    require_client_certificate: bool = False
    #: the Namespace labels for namespaceSelector; None: policies that need them get no answer
    namespaces: NamespaceLabels | None = None
    #: Node taints for the guard's spec.nodeName rule; None: Pods that need them get no answer
    nodes: NodeTaints | None = None
    #: the native guard kept in step (``--native-guard``); its problem shows in /readyz
    native: NativeGuardSync | None = None


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message
        super().__init__(message)


async def read_body(scope: Scope, receive: Receive, *, limit: int, timeout: float) -> bytes:
    """The request body; over ``limit`` bytes is a 413, a client slower than ``timeout`` a 408.

    The deadline is one timer that cancels this task (``asyncio.timeout`` does the same with a
    context manager that costs ~4 µs per request, more than the timer itself)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise HttpError(413, f"request body of {value.decode()} bytes is over the {limit} byte limit")
    task = asyncio.current_task()
    assert task is not None
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    deadline = asyncio.get_running_loop().call_later(timeout, expire)
    chunks, size, more = [], 0, True
    try:
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise HttpError(400, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise HttpError(413, f"request body is over the {limit} byte limit")
            chunks.append(chunk)
            more = message.get("more_body", False)
    except asyncio.CancelledError:
        if expired and task.uncancel() == 0:  # our deadline, not a cancellation from outside
            raise HttpError(408, f"request body not received within {timeout:g} s") from None
        raise
    finally:
        deadline.cancel()
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    if not body:
        raise HttpError(400, "empty body: expected an AdmissionReview v1 JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HttpError(400, f"body is not valid JSON: {str(exc).splitlines()[0]}") from None
    problem = key_problem(body, data)
    if problem is not None:
        raise HttpError(400, f"body {problem}")
    return data


def log_fields(
    handler: Handler[LoadedPolicies], request: AdmissionRequest, response: Response, seconds: float
) -> dict[str, Any]:
    """The log line of one answered request: identifiers, then what the handler says of its
    answer (``Response.details``: policy and outcome, or the reserved taints), never Pod contents."""
    return {
        "msg": handler.log_message,
        "uid": request.uid,
        "namespace": request.namespace,
        "pod": request.pod_name(),
        **response.details,
        "dry_run": request.dry_run,
        "duration_ms": round(seconds * 1000, 3),
    }


def _request_uid(body: bytes) -> str | None:
    """Best-effort uid for an error log line, without trusting the body."""
    try:
        return str(orjson.loads(body)["request"]["uid"])
    except Exception:
        return None


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _client_certificate_verified(scope: Scope) -> bool:
    """Set by ``webhook.server.protocol`` from the TLS session; absent means no certificate was checked."""
    return bool(scope.get("extensions", {}).get("tls", {}).get("client_certificate_verified"))


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def loggable_reason(reason: str) -> str:
    """The reason without the values it quotes from the body (a kind, a repeated key): ``"…"``."""
    return _QUOTED.sub('"…"', reason)


def _count_refusal(state: AppState, status: int, reason: str, body: bytes) -> None:
    """Count a refused request and log it at info: status, the one-line reason the client got (less
    what it quotes of the body) and the request uid when the body has one. Never the body: the Pod
    may carry secrets in its env."""
    state.metrics.bad_requests.labels(str(status)).inc()
    uid = _request_uid(body) if body else None
    fields = {"status": status, "reason": loggable_reason(reason), "uid": uid}
    log.info("refused a request", extra={"fields": fields})


async def _undecided(state: AppState, send: Send, exc: UndecidableError, body: bytes) -> None:
    """502 with the reason: the API server then applies the webhook's ``failurePolicy`` (Fail:
    the Pod is refused and its controller retries; Ignore: created unplaced), as when we are down.
    502, not 503: what failed is our upstream, the API server, and kube-apiserver passes the body
    of a 5xx on to the client (k8s.io/apimachinery ``NewGenericServerResponse``) except for 503
    and 504, whose text it replaces with a generic sentence: the user would not learn why."""
    state.metrics.undecided.inc()
    fields: dict[str, Any] = {"uid": _request_uid(body)}
    if isinstance(exc, NamespaceLabelsUnknownError):
        fields.update(namespace=exc.namespace, policy=exc.policy)
        log.warning("namespace labels unknown; no answer", extra={"fields": fields})
    else:
        fields.update(error=str(exc))
        log.warning("a deciding fact is unknown; no answer", extra={"fields": fields})
    await _respond_errored(send, errored(502, f"{exc}; not deciding"))


async def _respond_errored(send: Send, response: Response) -> None:
    """An errored response: its HTTP status and message as text, no AdmissionReview."""
    await _respond(send, response.code, f"{response.message}\n".encode(), TEXT_HEADERS)


class AdmissionEndpoint:
    """``POST`` to one handler's path as a bare ASGI handler: raw body, orjson, no response-model
    validation; the same protocol guard, limits, client-certificate rule, error planes, metrics
    and log line for every handler."""

    def __init__(self, handler: Handler[LoadedPolicies], state: AppState) -> None:
        self.handler, self.state = handler, state
        state.metrics.add_handler(handler)

    async def decide(self, data: Any) -> tuple[AdmissionRequest, Response]:
        """Parse; when the handler may need the namespace's labels, look them up (the cache, else
        a direct GET); then let the handler decide, purely, on one generation of the policies."""
        loaded, namespaces, handler = self.state.policies.loaded, self.state.namespaces, self.handler
        request = parse_admission_review(data)
        labels = None
        if namespaces is not None and handler.wants_namespace_labels(request, loaded):
            labels = await namespaces.labels(request.pod_namespace())
        taints = None
        node = handler.wants_node(request, loaded)
        if node is not None and self.state.nodes is not None:
            taints = await self.state.nodes.labels(node)
        return request, handler.handle(request, loaded, labels, taints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state, metrics = self.state, self.state.metrics
        if scope["method"] != "POST":
            metrics.bad_requests.labels("405").inc()
            await _respond(send, 405, b"method not allowed: use POST\n", [*TEXT_HEADERS, (b"allow", b"POST")])
            return
        if state.require_client_certificate and not _client_certificate_verified(scope):
            refusal = "a client certificate signed by the configured client CA is required"
            _count_refusal(state, 403, refusal, b"")
            await _respond(send, 403, f"{refusal}\n".encode(), [*TEXT_HEADERS, (b"connection", b"close")])
            return
        started = time.perf_counter()
        body = b""
        try:
            body = await read_body(scope, receive, limit=state.max_body_bytes, timeout=state.body_timeout)
            request, response = await self.decide(parse_json(body))
        except HttpError as exc:
            _count_refusal(state, exc.status, exc.message, body)
            # after a 408 or 413 the rest of the body is junk: close instead of reading it
            headers = [*TEXT_HEADERS, (b"connection", b"close")] if exc.status in (408, 413) else TEXT_HEADERS
            await _respond(send, exc.status, f"{exc.message}\n".encode(), headers)
            return
        except InputError as exc:
            _count_refusal(state, 400, str(exc), body)
            await _respond_errored(send, errored(400, str(exc)))
            return
        except UndecidableError as exc:
            # not the Pod's fault and not a bug: we cannot decide, so failurePolicy must
            await _undecided(state, send, exc, body)
            return
        except Exception:
            metrics.errors.inc()
            log.exception(
                "internal error while deciding an admission", extra={"fields": {"uid": _request_uid(body)}}
            )
            await _respond(send, 500, b"internal error; see the webhook's log\n", TEXT_HEADERS)
            return
        seconds = time.perf_counter() - started
        if response.errored:  # the handler cannot answer this request: no AdmissionReview at all
            if response.code < 500:
                _count_refusal(state, response.code, str(response.message), body)
            await _respond_errored(send, response)
            return
        metrics.count(self.handler, response, seconds)
        if state.admission_log is not None:
            state.admission_log.write(log_fields(self.handler, request, response, seconds))
        await _respond(send, 200, orjson.dumps(response.review(request.uid)), JSON_HEADERS)


#: the webhooks served, by path: a new webhook is a handler (``webhook.admission.handler``) here
ROUTES: dict[str, Handler[LoadedPolicies]] = {"/mutate": Mutator(), "/validate": Guard()}
#: every path served, as a 404 names them
SERVED_PATHS = (*(f"POST {path}" for path in ROUTES), "GET /healthz", "GET /readyz", "GET /metrics")


def _operational_app(state: AppState) -> Starlette:
    """Health, readiness and metrics: everything but the hot path, as a plain Starlette app
    (FastAPI's routing and OpenAPI models cost a quarter of a second at start-up for three GETs)."""
    metrics = state.metrics

    async def healthz(_: Request) -> HttpResponse:
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> HttpResponse:
        """Ready or not, the same figures: what is in force and why the last reload failed."""
        store = state.policies
        problems = []
        if state.certificates is not None and not state.certificates.info.valid_now():
            problems.append("serving certificate is not valid now")
        if store.policies.uses_namespace_selector:
            lookup = state.namespaces
            problem = "namespace cache not configured" if lookup is None else lookup.readiness_problem()
            if problem is not None:
                problems.append(problem)
        body: dict[str, Any] = {"ready": not problems}
        if problems:
            body["problems"] = problems
        native = state.native
        if native is not None:
            body["nativeGuard"] = {
                "name": native.name,
                "placement": native.placement,
                "inStep": native.problem is None,
                "problem": native.problem,
            }
        body.update(
            policies=len(store.policies),
            reservations=len(store.policies.reservations),
            generation=store.generation,
            lastReloadError=store.last_error,
        )
        return JSONResponse(body, status_code=503 if problems else 200)

    async def prometheus(_: Request) -> HttpResponse:
        return HttpResponse(metrics.render(), media_type=CONTENT_TYPE)

    async def refused(_: Request, exc: Exception) -> HttpResponse:
        """Starlette's 404 and 405, counted as every other refusal and worded as ours (its Allow
        header lists a set, in no fixed order: every operational path is GET, so it is written here)."""
        assert isinstance(exc, HTTPException)
        metrics.bad_requests.labels(str(exc.status_code)).inc()
        if exc.status_code == 405:
            return PlainTextResponse("method not allowed: use GET\n", 405, headers={"Allow": "GET, HEAD"})
        return PlainTextResponse(
            f"not found: this server serves {', '.join(SERVED_PATHS)}\n", exc.status_code
        )

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ],
        exception_handlers={404: refused, 405: refused},
    )


def create_app(state: AppState) -> ASGIApp:
    """The ASGI app: each handler's path straight to its endpoint, every other path to Starlette."""
    endpoints = {path: AdmissionEndpoint(handler, state) for path, handler in ROUTES.items()}
    operational = _operational_app(state)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = endpoints.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is not None:
            await endpoint(scope, receive, send)
        else:
            await operational(scope, receive, send)

    return app
