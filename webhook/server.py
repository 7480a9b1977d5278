"""The HTTP edge: decode the request, call the pure ``decide``, encode the answer. Nothing else.

Two error planes: a malformed request gets a 4xx with a one-line message (the API server's
``failurePolicy`` then decides); a Pod we reject is a normal 200 AdmissionReview with
``allowed: false``. An unexpected error is a 500 with the traceback and request uid logged.
``/mutate`` reads the raw body and answers with orjson bytes: no pydantic body parameter and no
response-model validation on the hot path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from webhook.admission import Decision, decide
from webhook.errors import InputError
from webhook.jsonkeys import key_problem
from webhook.logs import ADMISSION_LOGGER, LOGGER
from webhook.metrics import CONTENT_TYPE, Metrics
from webhook.objects import as_dict
from webhook.reloading import CertificateStore, PolicyStore

admission_log = logging.getLogger(ADMISSION_LOGGER)
log = logging.getLogger(LOGGER)


@dataclass
class AppState:
    policies: PolicyStore
    certificates: CertificateStore | None
    metrics: Metrics
    max_body_bytes: int
    body_timeout: float


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message
        super().__init__(message)


async def read_body(request: Request, *, limit: int, timeout: float) -> bytes:
    """The request body; over ``limit`` bytes is a 413, a client slower than ``timeout`` a 408."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"request body of {declared} bytes is over the {limit} byte limit")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HttpError(413, f"request body is over the {limit} byte limit")
                chunks.append(chunk)
    except TimeoutError:
        raise HttpError(408, f"request body not received within {timeout:g} s") from None
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


def _log_admission(decision: Decision, seconds: float, ops: int) -> None:
    request = decision.request
    metadata = as_dict(request.object.get("metadata")) if isinstance(request.object, dict) else {}
    admission_log.info(
        "admission",
        extra={
            "fields": {
                "uid": request.uid,
                "namespace": request.namespace,
                "pod": metadata.get("name") or request.name or metadata.get("generateName"),
                "policy": decision.review.policy if decision.review else None,
                "outcome": decision.outcome,
                "patch_ops": ops,
                "dry_run": request.dry_run,
                "duration_ms": round(seconds * 1000, 3),
            }
        },
    )


def _request_uid(body: bytes) -> str | None:
    """Best-effort uid for an error log line, without trusting the body."""
    try:
        return str(orjson.loads(body)["request"]["uid"])
    except Exception:
        return None


def create_app(state: AppState) -> FastAPI:
    """The ASGI app; ``state`` carries the live policies, certificates and metrics."""
    app = FastAPI(title="placement-webhook", docs_url=None, redoc_url=None, openapi_url=None)
    metrics = state.metrics

    @app.post("/mutate")
    async def mutate(request: Request) -> Response:
        started = time.perf_counter()
        body = b""
        try:
            body = await read_body(request, limit=state.max_body_bytes, timeout=state.body_timeout)
            decision = decide(parse_json(body), policies=state.policies.policies)
        except HttpError as exc:
            metrics.bad_requests.labels(str(exc.status)).inc()
            # after a 408 or 413 the rest of the body is junk: close instead of reading it
            close = {"connection": "close"} if exc.status in (408, 413) else None
            return PlainTextResponse(exc.message + "\n", status_code=exc.status, headers=close)
        except InputError as exc:
            metrics.bad_requests.labels("400").inc()
            return PlainTextResponse(f"{exc}\n", status_code=400)
        except Exception:
            metrics.errors.inc()
            log.exception(
                "internal error while deciding an admission", extra={"fields": {"uid": _request_uid(body)}}
            )
            return PlainTextResponse("internal error; see the webhook's log\n", status_code=500)
        seconds = time.perf_counter() - started
        ops = len(decision.review.patch) if decision.review else 0
        metrics.admissions.labels(
            decision.review.policy or "" if decision.review else "", decision.outcome
        ).inc()
        metrics.latency.observe(seconds)
        _log_admission(decision, seconds, ops)
        return Response(orjson.dumps(decision.answer), media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return PlainTextResponse("ok\n")

    @app.get("/readyz")
    async def readyz() -> Response:
        problems = []
        if state.certificates is not None and not state.certificates.info.valid_now():
            problems.append("serving certificate is not valid now")
        if problems:
            return JSONResponse({"ready": False, "problems": problems}, status_code=503)
        store = state.policies
        return JSONResponse(
            {
                "ready": True,
                "policies": len(store.policies),
                "generation": store.generation,
                "lastReloadError": store.last_error,
            }
        )

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return app
