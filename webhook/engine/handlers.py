"""The two webhooks of this project as handlers of the admission contract (``webhook.admission``).

``Mutator`` (``POST /mutate``) places a Pod being created: ``review_pod`` with the generation's
plan memo, answered as ``patched``, ``allowed`` or ``denied``. ``Guard`` (``POST /validate``) keeps
the reserved taints for the Pods entitled to them: ``guard_pod`` on Pod CREATE and UPDATE. Each
also says what the server logs and counts about its answer. The server and the CLI (``review``,
``test``, ``audit``) call the same two; ``decide`` is each one's judgement without the wire, for
callers that show more than the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from webhook.admission.handler import CounterSpec
from webhook.admission.request import AdmissionRequest, GroupVersionKind
from webhook.admission.response import Response, allowed, denied, patched
from webhook.engine.guard import GuardVerdict, bound_node, guard_pod, tolerates_a_reserved_taint
from webhook.engine.memo import LoadedPolicies
from webhook.engine.mutation import review_pod
from webhook.engine.review import Review
from webhook.errors import InputError
from webhook.kube.objects import RawObject

#: what the guard judges: tolerations can be added to a running Pod, so UPDATE as well as CREATE
GUARDED_OPERATIONS = ("CREATE", "UPDATE")
_POD = GroupVersionKind(version="v1", kind="Pod")


def pod_request(
    pod: RawObject, *, namespace: str, operation: str = "CREATE", old_pod: RawObject | None = None
) -> AdmissionRequest:
    """The request the API server would send for ``pod``, for offline callers that start from a
    Pod rather than an AdmissionReview (``test``, ``audit``)."""
    return AdmissionRequest(
        uid="offline", kind=_POD, operation=operation, namespace=namespace, object=pod, old_object=old_pod
    )


def after_mutation(request: AdmissionRequest, review: Review | None) -> AdmissionRequest:
    """The request ``/validate`` gets for ``request`` once ``/mutate`` answered with ``review``:
    validating webhooks run after every mutation, so its object is the Pod as mutated."""
    if review is None or review.pod is request.object:
        return request
    return request.model_copy(update={"object": review.pod})


class Mutator:
    """``POST /mutate``: the first matching enforce policy's placement, as a JSON Patch."""

    name = "mutate"
    log_message = "admission"
    counter = CounterSpec(
        "placement_webhook_admissions",
        "Admission reviews answered, by policy and outcome.",
        ("policy", "outcome"),
    )

    def wants_namespace_labels(self, request: AdmissionRequest, context: LoadedPolicies) -> bool:
        return context.policies.uses_namespace_selector and request.targets_pod_creation()

    def wants_node(self, request: AdmissionRequest, context: LoadedPolicies) -> str | None:
        return None  # where a Pod is bound does not change what it is given

    def decide(
        self, request: AdmissionRequest, context: LoadedPolicies, namespace_labels: Mapping[str, str] | None
    ) -> Review | None:
        """The engine's review of the Pod; None when the request is not a Pod CREATE."""
        if not request.targets_pod_creation():
            return None
        return review_pod(
            request.object,
            namespace=request.pod_namespace(),
            policies=context.policies,
            namespace_labels=namespace_labels,
            memo=context.memo,
        )

    def respond(self, review: Review | None) -> Response:
        """The answer for ``decide``'s review."""
        if review is None:
            return allowed().with_telemetry(
                "skipped", {"policy": None, "outcome": "skipped", "patch_ops": 0}, (("", "skipped"),)
            )
        if review.denial is not None:
            response = denied(403, review.denial)
        else:
            response = patched(review.encoded_patch())
        response.with_warnings(review.warnings)
        if review.policy is not None:
            annotations = {"policy": review.policy, "outcome": review.outcome}
            if review.audits:
                annotations["audit"] = ",".join(review.audits)
            response.with_audit_annotations(annotations)
        details = {"policy": review.policy, "outcome": review.outcome, "patch_ops": review.patch_ops}
        return response.with_telemetry(review.outcome, details, ((review.policy or "", review.outcome),))

    def handle(
        self,
        request: AdmissionRequest,
        context: LoadedPolicies,
        namespace_labels: Mapping[str, str] | None,
        node_taints: Sequence[Mapping[str, Any]] | None = None,
    ) -> Response:
        return self.respond(self.decide(request, context, namespace_labels))


class Guard:
    """``POST /validate``: refuse a Pod that tolerates a reserved taint it is not entitled to."""

    name = "validate"
    log_message = "validation"
    counter = CounterSpec(
        "placement_webhook_guard_decisions",
        "Reservation guard (/validate) decisions, by outcome and reserved taint.",
        ("outcome", "taint"),
    )

    def wants_namespace_labels(self, request: AdmissionRequest, context: LoadedPolicies) -> bool:
        """Only for a Pod that tolerates a reserved taint: for the others the labels cannot matter,
        and a namespace missing from the cache would cost a direct GET for nothing."""
        pod, policies = request.object, context.policies
        return (
            policies.uses_namespace_selector
            and request.skip_reason(GUARDED_OPERATIONS) is None
            and isinstance(pod, dict)
            and (tolerates_a_reserved_taint(pod, policies) or self.wants_node(request, context) is not None)
        )

    def wants_node(self, request: AdmissionRequest, context: LoadedPolicies) -> str | None:
        """The node a Pod being created names in ``spec.nodeName``, when reservations exist: its
        taints decide whether the Pod goes around the scheduler onto a reserved node."""
        pod = request.object
        if not context.policies.reservations or request.skip_reason(("CREATE",)) is not None:
            return None
        return bound_node(pod) if isinstance(pod, dict) else None

    def decide(
        self,
        request: AdmissionRequest,
        context: LoadedPolicies,
        namespace_labels: Mapping[str, str] | None,
        node_taints: Sequence[Mapping[str, Any]] | None = None,
    ) -> GuardVerdict | None:
        """The guard's verdict on the Pod; None when the request is not a Pod CREATE or UPDATE.
        ``InputError`` when it is one without the Pod (or, for UPDATE, the old Pod)."""
        if request.skip_reason(GUARDED_OPERATIONS) is not None:
            return None
        if not isinstance(request.object, dict):
            raise InputError(f"request.object: a Pod {request.operation} must carry the Pod object")
        old_pod = None
        if request.operation == "UPDATE":
            if not isinstance(request.old_object, dict):
                raise InputError("request.oldObject: a Pod UPDATE must carry the old Pod object")
            old_pod = request.old_object
        return guard_pod(
            request.object,
            namespace=request.pod_namespace(),
            policies=context.policies,
            operation=request.operation,
            old_pod=old_pod,
            namespace_labels=namespace_labels,
            node_taints=node_taints,
        )

    def respond(self, request: AdmissionRequest, verdict: GuardVerdict | None) -> Response:
        """The answer for ``decide``'s verdict on ``request``."""
        if verdict is None:
            response, outcome = allowed(), "skipped"
        else:
            response = allowed() if verdict.message is None else denied(403, verdict.message)
            response.with_warnings(verdict.warnings)
            outcome = verdict.outcome
            if verdict.judgements:
                response.with_audit_annotations({"guard": outcome, "taints": ",".join(verdict.taints)})
        counts: tuple[tuple[str, ...], ...] = ((outcome, ""),)
        if verdict is not None and verdict.judgements:
            counts = tuple(
                ("allowed" if j.granted else "denied" if j.mode == "enforce" else "audit", j.taint)
                for j in verdict.judgements
            )
        details = {
            "operation": request.operation,
            "outcome": outcome,
            "taints": list(verdict.taints) if verdict else [],
            "refused": [j.taint for j in verdict.refused] if verdict else [],
            # which rule decided each taint: "policy gpu-servers", "allow[0] (...)", or "refused"
            "decidedBy": {j.taint: j.granted_by or "refused" for j in verdict.judgements} if verdict else {},
        }
        node = next((j.node for j in verdict.judgements if j.node), None) if verdict else None
        if node is not None:  # the node a Pod being created names, when it carries a reserved taint
            details["node"] = node
        return response.with_telemetry(outcome, details, counts)

    def handle(
        self,
        request: AdmissionRequest,
        context: LoadedPolicies,
        namespace_labels: Mapping[str, str] | None,
        node_taints: Sequence[Mapping[str, Any]] | None = None,
    ) -> Response:
        return self.respond(request, self.decide(request, context, namespace_labels, node_taints))
