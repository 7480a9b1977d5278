"""Decode an AdmissionReview, decide with the placement engine, encode the answer.

Two error planes, as in kopf and controller-runtime: a malformed *request* raises ``InputError``
(the HTTP edge answers 400 and the API server's ``failurePolicy`` decides); a *Pod* we reject is a
normal answer, ``allowed: false`` with ``status.code``/``message``. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from webhook.engine.matching import matching_policies
from webhook.engine.placement import PlacementPlan, apply_plan, placement_key, plan_placement
from webhook.errors import InputError, PodShapeError
from webhook.kube.objects import RawObject, as_dict, read_pod_facts
from webhook.kube.patches import PatchOp, RecordedAdds, apply_recorded
from webhook.policy.compiled import MEMO_ENTRIES, MEMO_KEY_BYTES, CompiledPolicy, PolicySet

API_VERSION = "admission.k8s.io/v1"
WARNING_PREFIX = "placement-webhook: "
# kube-apiserver (k8s.io/apiserver pkg/endpoints/filters/warning.go) cuts every warning to its first
# 256 runes once a response's warnings exceed 4096 runes, then drops the rest, and drops any warning
# with a control character (apimachinery util/net NewWarningHeader). We stay under both limits:
# at most 10 warnings of at most 256 characters, control characters replaced, long ones shortened
# in the middle so that who (the policy) and what (the key, the consequence) both survive.
MAX_WARNING_CHARS = 256
MAX_WARNINGS = 10
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Go's unicode.IsControl

Outcome = Literal["patched", "unchanged", "audit", "conflict", "denied", "skipped", "malformed"]


# --- the engine's answer for one Pod ---------------------------------------------------------------


class Review:
    """What the engine decided for one Pod, before any wire encoding; read-only by convention.

    ``policy`` is the enforce policy that applied or, when none did, the first audit policy that
    had something to say; ``audits`` names every matching audit policy (they only warn).

    A review answered from the plan memo builds its ``patch`` and its mutated ``pod`` when they
    are first read, from the recorded ops and the Pod it was given: the admission server reads
    neither (it sends the memo's encoded patch), the CLI both. Do not modify the given Pod before
    reading ``pod``. A plain slotted class rather than a dataclass for those lazy fields;
    equality and repr are a dataclass's."""

    __slots__ = ("_encoded", "_patch", "_pending", "_pod", "audits", "denial", "outcome", "plan", "policy",
                 "warnings")  # fmt: skip

    def __init__(
        self,
        outcome: Outcome,
        pod: RawObject,
        policy: str | None = None,
        patch: list[PatchOp] | None = None,
        warnings: list[str] | None = None,
        denial: str | None = None,
        plan: PlacementPlan | None = None,
        audits: tuple[str, ...] = (),
    ) -> None:
        self.outcome = outcome
        self._pod = pod
        self._patch: list[PatchOp] | None = [] if patch is None else patch
        # from the memo: the ops not yet built (``_patch`` None) or not yet applied to ``_pod``
        self._pending: RecordedAdds | None = None
        self._encoded: str | None = None  # from the memo: ``_patch`` as the wire's base64 JSON
        self.policy = policy
        self.warnings: list[str] = [] if warnings is None else warnings
        self.denial = denial
        self.plan = plan
        self.audits = audits

    @classmethod
    def recorded(cls, outcome: Outcome, pod: RawObject, policy: str, adds: RecordedAdds, encoded: str,
                 plan: PlacementPlan | None) -> Review:  # fmt: skip
        """A patching review whose ops (``adds``, on the wire ``encoded``) are built when read."""
        review = cls(outcome, pod, policy, plan=plan)
        review._patch, review._pending, review._encoded = None, adds, encoded
        return review

    @property
    def patch(self) -> list[PatchOp]:
        """The JSON Patch ops that turn the given Pod into ``pod``."""
        if self._patch is None:
            assert self._pending is not None
            self._patch = self._pending.ops()
        return self._patch

    @patch.setter
    def patch(self, ops: list[PatchOp]) -> None:
        """Replace the ops; a pending mutated Pod is built from the recorded ones first."""
        if self._pending is not None:
            self._pod, self._pending = apply_recorded(self._pod, self._pending, self.patch), None
        self._patch, self._encoded = ops, None

    @property
    def pod(self) -> RawObject:
        """The Pod after the review: the one given when nothing changed, else a mutated copy."""
        if self._pending is not None:
            self._pod, self._pending = apply_recorded(self._pod, self._pending, self.patch), None
        return self._pod

    @pod.setter
    def pod(self, pod: RawObject) -> None:
        self._pod, self._pending = pod, None

    @property
    def patch_ops(self) -> int:
        """How many ops ``patch`` has, without building them."""
        if self._patch is None and self._pending is not None:
            return len(self._pending.steps)
        return len(self.patch)

    def encoded_patch(self) -> str | None:
        """The patch as the AdmissionReview carries it (base64 of its JSON), None without ops."""
        if self._encoded is None and self.patch:
            self._encoded = encode_patch(self.patch)
        return self._encoded

    @property
    def allowed(self) -> bool:
        return self.denial is None

    def _fields(self) -> tuple[Any, ...]:
        return (self.outcome, self.pod, self.policy, self.patch, self.warnings, self.denial, self.plan,
                self.audits)  # fmt: skip

    def __eq__(self, other: object) -> bool:
        return self._fields() == other._fields() if isinstance(other, Review) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq

    def __repr__(self) -> str:
        names = ("outcome", "pod", "policy", "patch", "warnings", "denial", "plan", "audits")
        return f"Review({', '.join(f'{n}={v!r}' for n, v in zip(names, self._fields(), strict=True))})"


def encode_patch(ops: list[PatchOp]) -> str:
    """JSON Patch ops as an AdmissionReview response carries them: base64 of their JSON."""
    return base64.b64encode(orjson.dumps(ops)).decode("ascii")


def short_warning(text: str) -> str:
    """One line of at most ``MAX_WARNING_CHARS`` characters, prefixed with our name; a longer one
    keeps its first two thirds and its end, joined by an ellipsis."""
    line = _CONTROL.sub("?", " ".join((WARNING_PREFIX + text).split()))
    if len(line) <= MAX_WARNING_CHARS:
        return line
    head = (MAX_WARNING_CHARS - 1) * 2 // 3
    tail = MAX_WARNING_CHARS - 1 - head
    return line[:head] + "…" + line[-tail:]


def _warnings(lines: list[str]) -> list[str]:
    if len(lines) > MAX_WARNINGS:
        hidden = len(lines) - MAX_WARNINGS + 1
        lines = [*lines[: MAX_WARNINGS - 1], f"{hidden} more warnings not shown"]
    return [short_warning(line) for line in lines]


def conflict_message(name: str, plan: PlacementPlan) -> str:
    """Why ``plan`` was not applied, naming the policy and the keys (or the unschedulable affinity)."""
    if plan.unschedulable:
        return f"policy {name} conflicts with the Pod's own placement: {plan.unschedulable}"
    return f"policy {name} conflicts with the Pod's own placement on {', '.join(plan.conflicts)}"


def _policy_review(pod: RawObject, policy: CompiledPolicy) -> Review:
    """What one policy alone does to ``pod`` (warnings unshortened); audit policies never mutate."""
    name, settings = policy.name, policy.policy
    audit = settings.mode == "audit"
    try:
        plan = plan_placement(pod, policy)
    except PodShapeError as exc:
        line = f"{'audit: ' * audit}Pod not placed by {name}: {exc}"
        return Review("malformed", pod, name, warnings=[line])
    if plan.has_conflict:
        message = conflict_message(name, plan)
        if audit:
            return Review("audit", pod, name, warnings=[f"audit: {message}"], plan=plan)
        if settings.on_conflict == "deny":
            return Review("denied", pod, name, denial=WARNING_PREFIX + message, plan=plan)
        return Review("conflict", pod, name, warnings=[f"{message}; not applied"], plan=plan)
    if plan.is_empty:
        return Review("unchanged", pod, name, plan=plan)
    if audit:
        lines = [f"audit: policy {name} would add {what}" for what in plan.describe()]
        return Review("audit", pod, name, warnings=lines, plan=plan)
    mutated, ops = apply_plan(pod, plan)
    return Review("patched", mutated, name, patch=ops, plan=plan)


@dataclass(slots=True)
class _Remembered:
    """What one policy did to a Pod, kept to answer every later Pod with the same placement key
    (``placement_key``): the review less the Pod, and the ops as steps to replay on the next one."""

    outcome: Outcome
    warnings: tuple[str, ...]
    denial: str | None
    plan: PlacementPlan | None
    adds: RecordedAdds | None
    encoded: str = ""  # the ops as the AdmissionReview carries them

    def review(self, pod: RawObject, name: str) -> Review:
        if self.adds is None:
            return Review(self.outcome, pod, name, [], list(self.warnings), self.denial, self.plan)
        return Review.recorded(self.outcome, pod, name, self.adds, self.encoded, self.plan)


def _remembered_review(
    pod: RawObject, key: bytes | None, policy: CompiledPolicy, memo: dict[Any, Any]
) -> Review:
    """``_policy_review``, answered from ``memo`` (the policy file's) when a Pod with the same
    placement key was reviewed by this policy before. The results are equal (a property test
    compares them over generated Pods): the plan and the ops depend on nothing but the fields in
    the key. Keys over ``MEMO_KEY_BYTES`` are not remembered, so the memo's size stays bounded."""
    if key is None or len(key) > MEMO_KEY_BYTES:
        return _policy_review(pod, policy)
    remembered: _Remembered | None = memo.get((policy.index, key))
    if remembered is not None:
        return remembered.review(pod, policy.name)
    review = _policy_review(pod, policy)
    if len(memo) >= MEMO_ENTRIES:
        memo.clear()
    if review.patch:
        adds, encoded = RecordedAdds.of(review.patch, review.pod), encode_patch(review.patch)
        remembered = _Remembered(review.outcome, (), review.denial, review.plan, adds, encoded)
    else:
        remembered = _Remembered(review.outcome, tuple(review.warnings), review.denial, review.plan, None)
    memo[(policy.index, key)] = remembered
    return review


def review_pod(
    pod: RawObject,
    *,
    namespace: str,
    policies: PolicySet,
    namespace_labels: Mapping[str, str] | None = None,
) -> Review:
    """Apply the first matching enforce policy to ``pod`` (never modified) and say what happened.

    Every matching audit policy, wherever it stands in the file, adds its warnings (in file
    order) and never keeps an enforce policy from applying. ``namespace_labels`` are the labels
    of the Pod's Namespace, None when unknown: then an enforce policy whose namespaceSelector
    decides raises ``NamespaceLabelsUnknownError`` (no answer), an audit one is skipped with a warning."""
    facts = read_pod_facts(pod, namespace=namespace, namespace_labels=namespace_labels)
    unevaluated: list[CompiledPolicy] = []
    candidates = policies.candidates(namespace, facts.server_name)
    matched = matching_policies(candidates, facts, unevaluated=unevaluated)
    key = placement_key(pod) if matched else None
    memo = policies.placements
    results = [(p, _remembered_review(pod, key, p, memo)) for p in matched]
    return _combine(pod, results, unevaluated, namespace=namespace)


def reference_review_pod(
    pod: RawObject,
    *,
    namespace: str,
    policies: PolicySet,
    namespace_labels: Mapping[str, str] | None = None,
) -> Review:
    """``review_pod`` the long way, every policy tried and every plan computed afresh: what the
    fast path must always equal (tests compare the two)."""
    facts = read_pod_facts(pod, namespace=namespace, namespace_labels=namespace_labels)
    unevaluated: list[CompiledPolicy] = []
    matched = matching_policies(policies, facts, unevaluated=unevaluated)
    return _combine(pod, [(p, _policy_review(pod, p)) for p in matched], unevaluated, namespace=namespace)


def _combine(
    pod: RawObject,
    results: list[tuple[CompiledPolicy, Review]],
    unevaluated: list[CompiledPolicy],
    *,
    namespace: str,
) -> Review:
    """One review from those of the matching policies (in file order, at most one enforce) and
    the audit policies that could not be evaluated (their warnings join the others in file order)."""
    applied: Review | None = None
    audits: list[Review] = []
    lines: list[str] = []
    steps: list[tuple[CompiledPolicy, Review | None]] = list(results)
    if unevaluated:  # rare
        steps = sorted([*steps, *((p, None) for p in unevaluated)], key=lambda step: step[0].index)
    for policy, result in steps:
        if result is None:
            lines.append(
                f"audit: policy {policy.name} not evaluated: labels of namespace {namespace!r} unknown"
            )
            continue
        lines += result.warnings
        if policy.policy.mode == "audit":
            audits.append(result)
        else:
            applied = result
    names = tuple(a.policy for a in audits if a.policy)
    if applied is None:
        if not audits:
            return Review("unchanged", pod, warnings=_warnings(lines)) if lines else Review("unchanged", pod)
        applied = next((a for a in audits if a.outcome != "unchanged"), audits[0])
    applied.warnings, applied.audits = _warnings(lines), names  # a Review of our own, just made
    return applied


# --- the AdmissionReview v1 envelope -----------------------------------------------------------------


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
        """Why a webhook that judges ``operations`` of Pods leaves this request alone, or None
        (``/mutate`` only mutates Pod CREATE; the guard judges CREATE and UPDATE)."""
        kind = self.kind
        if self.operation not in operations:
            return f"operation {self.operation}"
        if (kind.group, kind.version, kind.kind) != ("", "v1", "Pod"):
            return f"kind {'/'.join(filter(None, (kind.group, kind.version)))} {kind.kind}"
        if self.sub_resource:
            return f"subresource {self.sub_resource}"
        return None

    def pod_namespace(self) -> str:
        """``request.namespace`` is authoritative: Deployment-made Pods often lack metadata.namespace."""
        if self.namespace:
            return self.namespace
        metadata = as_dict(self.object.get("metadata")) if isinstance(self.object, dict) else {}
        namespace = metadata.get("namespace")
        return namespace if isinstance(namespace, str) else ""


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
        raise InputError(f"kind must be AdmissionReview, got {str(data.get('kind'))[:60]!r}")
    if data.get("apiVersion") != API_VERSION:
        raise InputError(f"apiVersion must be {API_VERSION}, got {str(data.get('apiVersion'))[:60]!r}")
    try:
        review = AdmissionReviewRequest.model_validate(data)
    except ValidationError as exc:
        raise InputError(_describe_validation_error(exc)) from exc
    request = review.request
    if request.targets_pod_creation() and not isinstance(request.object, dict):
        raise InputError("request.object: a Pod CREATE must carry the Pod object")
    return request


# --- responses (controller-runtime style constructors) ----------------------------------------------


def allowed(uid: str, *, warnings: list[str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": True}
    if warnings:
        response["warnings"] = warnings
    return response


def denied(uid: str, *, code: int, message: str, warnings: list[str] | None = None) -> dict[str, Any]:
    response = allowed(uid, warnings=warnings)
    response["allowed"] = False
    response["status"] = {"code": code, "message": message}
    return response


def patched(uid: str, ops: list[PatchOp], *, warnings: list[str] | None = None) -> dict[str, Any]:
    response = allowed(uid, warnings=warnings)
    if ops:
        response["patchType"] = "JSONPatch"
        response["patch"] = encode_patch(ops)
    return response


def review_response(response: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def encode_review(uid: str, review: Review) -> dict[str, Any]:
    """The complete AdmissionReview v1 answer for an engine review."""
    if review.denial is not None:
        response = denied(uid, code=403, message=review.denial, warnings=review.warnings)
    else:
        response = allowed(uid, warnings=review.warnings)
        encoded = review.encoded_patch()
        if encoded is not None:
            response["patchType"] = "JSONPatch"
            response["patch"] = encoded
    if review.policy is not None:
        response["auditAnnotations"] = {"policy": review.policy, "outcome": review.outcome}
        if review.audits:
            response["auditAnnotations"]["audit"] = ",".join(review.audits)
    return review_response(response)


@dataclass(slots=True)
class Decision:
    """One admission, decided: the request, the engine's review, and the answer to send."""

    request: AdmissionRequest
    review: Review | None
    answer: dict[str, Any]

    @property
    def outcome(self) -> Outcome:
        return self.review.outcome if self.review else "skipped"


def decide(data: Any, *, policies: PolicySet, namespace_labels: Mapping[str, str] | None = None) -> Decision:
    """AdmissionReview in, AdmissionReview out; ``dryRun`` changes nothing (no side effects).

    ``namespace_labels``: the labels of the request's namespace, None when unknown (see
    ``review_pod``; ``NamespaceLabelsUnknownError`` when an enforce policy needs them)."""
    return decide_request(parse_admission_review(data), policies=policies, namespace_labels=namespace_labels)


def decide_request(
    request: AdmissionRequest, *, policies: PolicySet, namespace_labels: Mapping[str, str] | None = None
) -> Decision:
    """``decide`` on a request already parsed: the server reads its namespace first, to look up
    the namespace's labels, and then decides without parsing twice."""
    if not request.targets_pod_creation():
        return Decision(request, None, review_response(allowed(request.uid)))
    labels, namespace = namespace_labels, request.pod_namespace()
    review = review_pod(request.object, namespace=namespace, policies=policies, namespace_labels=labels)
    return Decision(request, review, encode_review(request.uid, review))
