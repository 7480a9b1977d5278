"""The two references the benchmark measures beside placement-webhook, on the same server stack.

- ``floor``: the *parsing floor*: a bare ASGI app that reads the body, parses it whole with
  ``orjson.loads`` and answers ``allowed`` with the request's uid: the most any webhook that looks
  at the review (on uvicorn + TLS, in Python) could do on this machine. The benchmark's reference.
- ``floor-bare``: the same without parsing: reads the body and returns a constant answer, the cost
  of HTTP + TLS + ASGI alone (the second reference).
- ``naive``: the straightforward FastAPI webhook: the body parsed into pydantic models, the Pod
  deep-copied and mutated, the patch computed with ``jsonpatch.make_patch`` over the whole Pod.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import jsonpatch
import orjson
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from webhook.engine.mutation import review_pod
from webhook.policy.loading import load_policies

FIXED_ANSWER = (
    b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",'
    b'"response":{"uid":"0df28fbd-5f5f-11e8-b7cc-42010a800002","allowed":true}}'
)


async def _read_body(receive: Any) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _answer(send: Any, body: bytes, status: int = 200) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def floor(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the whole body, ``orjson.loads`` it, answer ``allowed`` with its uid: the parsing floor."""
    if scope["type"] != "http":
        return
    if scope["method"] != "POST":  # the benchmark's readiness probe
        await _answer(send, b"use POST\n", 405)
        return
    review = orjson.loads(await _read_body(receive))
    answer = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": review["request"]["uid"], "allowed": True},
    }
    await _answer(send, orjson.dumps(answer))


async def floor_bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the whole body, answer a constant: the cost of HTTP + TLS + ASGI alone."""
    if scope["type"] != "http":
        return
    await _read_body(receive)
    await _answer(send, FIXED_ANSWER)


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Kind(Model):
    group: str
    version: str
    kind: str


class Request(Model):
    uid: str
    kind: Kind
    operation: str
    namespace: str = ""
    object: dict[str, Any]


class Review(Model):
    apiVersion: str  # noqa: N815 - the wire name
    kind: str
    request: Request


class Response(Model):
    uid: str
    allowed: bool
    patchType: str | None = None  # noqa: N815
    patch: str | None = None


class ReviewResponse(Model):
    apiVersion: str  # noqa: N815
    kind: str
    response: Response


def naive_app(policies_path: str) -> FastAPI:
    policies = load_policies(policies_path)
    app = FastAPI()

    @app.post("/mutate", response_model=ReviewResponse)
    def mutate(review: Review) -> ReviewResponse:
        original = review.request.object
        mutated = copy.deepcopy(
            review_pod(copy.deepcopy(original), namespace=review.request.namespace, policies=policies).pod
        )
        patch = jsonpatch.make_patch(original, mutated).patch
        response = Response(uid=review.request.uid, allowed=True)
        if patch:
            response.patchType = "JSONPatch"
            response.patch = base64.b64encode(jsonpatch.JsonPatch(patch).to_string().encode()).decode()
        return ReviewResponse(apiVersion="admission.k8s.io/v1", kind="AdmissionReview", response=response)

    return app
