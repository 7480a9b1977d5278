"""One response type for every handler, built by outcome constructors and encoded for the wire.

``allowed()``, ``denied(code, message)``, ``patched(ops)`` and ``errored(code, message)`` as in
controller-runtime's ``admission`` package, then ``with_warnings`` and ``with_audit_annotations``.
``errored`` is the other error plane: no AdmissionReview at all, the HTTP status ``code`` with
``message`` as text, so that the API server's ``failurePolicy`` decides (400: a malformed request;
502: we cannot decide now). Besides the wire fields a response carries what the server logs and
counts about it (``outcome``, ``details``, ``counts``), filled in by the handler that made it.

The ``with_*`` methods change the response they are called on and return it: a response is built
once per admission on the hot path, and a copy per step would cost more than the step.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from webhook.admission.request import API_VERSION

PatchOp = dict[str, Any]
WARNING_PREFIX = "placement-webhook: "
# kube-apiserver (k8s.io/apiserver pkg/endpoints/filters/warning.go) cuts every warning to its first
# 256 runes once a response's warnings exceed 4096 runes, then drops the rest, and drops any warning
# with a control character (apimachinery util/net NewWarningHeader). We stay under both limits:
# at most 10 warnings of at most 256 characters, control characters replaced, long ones shortened
# in the middle so that who (the policy) and what (the key, the consequence) both survive.
MAX_WARNING_CHARS = 256
MAX_WARNINGS = 10
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Go's unicode.IsControl


def short_warning(text: str) -> str:
    """One line of at most ``MAX_WARNING_CHARS`` characters, prefixed with our name; a longer one
    keeps its first two thirds and its end, joined by an ellipsis."""
    line = _CONTROL.sub("?", " ".join((WARNING_PREFIX + text).split()))
    if len(line) <= MAX_WARNING_CHARS:
        return line
    head = (MAX_WARNING_CHARS - 1) * 2 // 3
    tail = MAX_WARNING_CHARS - 1 - head
    return line[:head] + "…" + line[-tail:]


def short_warnings(lines: list[str]) -> list[str]:
    """At most ``MAX_WARNINGS`` short warnings; the last one counts those not shown."""
    if len(lines) > MAX_WARNINGS:
        hidden = len(lines) - MAX_WARNINGS + 1
        lines = [*lines[: MAX_WARNINGS - 1], f"{hidden} more warnings not shown"]
    return [short_warning(line) for line in lines]


def encode_patch(ops: list[PatchOp]) -> str:
    """JSON Patch ops as an AdmissionReview response carries them: base64 of their JSON."""
    return base64.b64encode(orjson.dumps(ops)).decode("ascii")


@dataclass(slots=True)
class Response:
    """What a handler answers for one admission request; see the module for the constructors."""

    allowed: bool = True
    #: a denial's ``status.code``; for an errored response the HTTP status
    code: int = 200
    message: str | None = None
    #: the JSON Patch as the wire carries it (base64 of its JSON), None when nothing changes
    patch: str | None = None
    warnings: list[str] = field(default_factory=list)
    audit_annotations: dict[str, str] | None = None
    #: no AdmissionReview: the server answers HTTP ``code`` with ``message``
    errored: bool = False
    #: for the server's log line and counter: the outcome, the handler's own log fields (in the
    #: order they are logged) and the label values of the handler's counter, one tuple per count
    outcome: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    counts: tuple[tuple[str, ...], ...] = ()

    def with_warnings(self, warnings: Iterable[str]) -> Response:
        """Add warnings, already short (``short_warnings``); they reach the user through kubectl."""
        self.warnings.extend(warnings)
        return self

    def with_audit_annotations(self, annotations: dict[str, str]) -> Response:
        """Add annotations to the API server's audit event for this request."""
        self.audit_annotations = {**(self.audit_annotations or {}), **annotations}
        return self

    def with_telemetry(
        self, outcome: str, details: dict[str, Any], counts: tuple[tuple[str, ...], ...]
    ) -> Response:
        """Say what the server logs and counts about this response."""
        self.outcome, self.details, self.counts = outcome, details, counts
        return self

    def review(self, uid: str) -> dict[str, Any]:
        """The complete AdmissionReview v1 answer to the request ``uid``."""
        assert not self.errored, "an errored response has no AdmissionReview"
        response: dict[str, Any] = {"uid": uid, "allowed": self.allowed}
        if self.warnings:
            response["warnings"] = self.warnings
        if not self.allowed:
            response["status"] = {"code": self.code, "message": self.message}
        if self.patch is not None:
            response["patchType"] = "JSONPatch"
            response["patch"] = self.patch
        if self.audit_annotations is not None:
            response["auditAnnotations"] = self.audit_annotations
        return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def allowed() -> Response:
    """Admit the object unchanged."""
    return Response()


def denied(code: int, message: str) -> Response:
    """Refuse the object: the API server answers its client ``code`` with ``message``."""
    return Response(allowed=False, code=code, message=message)


def patched(ops: list[PatchOp] | str | None) -> Response:
    """Admit the object changed by the JSON Patch ``ops`` (or ops already encoded for the wire);
    no ops is ``allowed()``."""
    if not ops:
        return Response()
    return Response(patch=ops if isinstance(ops, str) else encode_patch(ops))


def errored(code: int, message: str) -> Response:
    """No answer to the request: HTTP ``code`` (4xx: the request is malformed; 5xx: we cannot
    decide now) with ``message``, and the API server's ``failurePolicy`` decides."""
    return Response(allowed=False, code=code, message=message, errored=True)
