"""The AdmissionReview v1 request, decoded: a malformed one raises ``InputError`` with one line.

Two error planes, as in kopf and controller-runtime: a malformed *request* is the caller's fault
and gets no AdmissionReview (the HTTP edge answers 400 and the API server's ``failurePolicy``
decides); a *Pod* a handler refuses is a normal answer (``webhook.admission.response``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from webhook.errors import InputError, shown

API_VERSION = "admission.k8s.io/v1"


class _Envelope(BaseModel):
    # The API server adds fields over time (userInfo, options, requestKind...): ignore, don't fail.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class GroupVersionKind(_Envelope):
    group: str = ""
    version: str
    kind: str


class AdmissionRequest(_Envelope):
    uid: str = Field(min_length=1)
    kind: GroupVersionKind
    sub_resource: str = ""
    operation: str
    namespace: str = ""
    name: str = ""
    object: Any = None
    old_object: Any = None  # UPDATE: the Pod before it (the guard judges what an update adds)
    dry_run: bool = False

    def targets_pod_creation(self) -> bool:
        return self.skip_reason() is None

    def skip_reason(self, operations: tuple[str, ...] = ("CREATE",)) -> str | None:
        """Why a handler that judges ``operations`` of Pods leaves this request alone, or None
        (the mutator only mutates Pod CREATE; the guard judges CREATE and UPDATE)."""
        kind = self.kind
        if self.operation not in operations:
            return f"operation {self.operation}"
        if (kind.group, kind.version, kind.kind) != ("", "v1", "Pod"):
            return f"kind {'/'.join(filter(None, (kind.group, kind.version)))} {kind.kind}"
        if self.sub_resource:
            return f"subresource {self.sub_resource}"
        return None

    def _metadata(self) -> dict[str, Any]:
        pod = self.object
        metadata = pod.get("metadata") if isinstance(pod, dict) else None
        return metadata if isinstance(metadata, dict) else {}

    def pod_namespace(self) -> str:
        """``request.namespace`` is authoritative: Deployment-made Pods often lack metadata.namespace."""
        if self.namespace:
            return self.namespace
        namespace = self._metadata().get("namespace")
        return namespace if isinstance(namespace, str) else ""

    def pod_name(self) -> Any:
        """The Pod's name for a log line; a Pod created from a template has only its generateName."""
        metadata = self._metadata()
        return metadata.get("name") or self.name or metadata.get("generateName")


class AdmissionReviewRequest(_Envelope):
    api_version: str
    kind: str
    request: AdmissionRequest


def _describe_validation_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg'][0].lower()}{first['msg'][1:]}" if where else first["msg"]


def parse_admission_review(data: Any) -> AdmissionRequest:
    """The request of an AdmissionReview v1 document, or ``InputError`` with a one-line reason."""
    if not isinstance(data, dict):
        raise InputError("body is not a JSON object")
    if data.get("kind") != "AdmissionReview":
        raise InputError(f"kind must be AdmissionReview, got {shown(data.get('kind'), limit=60)}")
    if data.get("apiVersion") != API_VERSION:
        raise InputError(f"apiVersion must be {API_VERSION}, got {shown(data.get('apiVersion'), limit=60)}")
    try:
        review = AdmissionReviewRequest.model_validate(data)
    except ValidationError as exc:
        raise InputError(_describe_validation_error(exc)) from exc
    request = review.request
    if request.targets_pod_creation() and not isinstance(request.object, dict):
        raise InputError("request.object: a Pod CREATE must carry the Pod object")
    return request
