"""The AdmissionReview v1 contract: decoding, the two error planes, and the encoded answer."""

from __future__ import annotations

import base64
import json
from typing import Any

import jsonpatch
import pytest

from tests.helpers import admission_review, bundled_policies, fixture, mutate, one_policy
from webhook.admission.request import parse_admission_review
from webhook.engine.handlers import Mutator
from webhook.engine.review import Review
from webhook.errors import InputError


def decoded_patch(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(base64.b64decode(answer["response"]["patch"]))  # type: ignore[no-any-return]


def test_gpu_pod_create_is_patched() -> None:
    pod = fixture("triton-gpu-0")
    decision = mutate(admission_review(pod), policies=bundled_policies())
    answer = decision.answer
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
    assert response["allowed"] is True and response["patchType"] == "JSONPatch"
    assert response["auditAnnotations"] == {"policy": "gpu-servers", "outcome": "patched"}
    assert "warnings" not in response and "status" not in response
    assert jsonpatch.apply_patch(pod, decoded_patch(answer)) == decision.review.pod  # type: ignore[union-attr]


def test_no_patch_means_no_patch_fields() -> None:
    answer = mutate(admission_review(fixture("mlserver-0")), policies=bundled_policies()).answer
    assert answer["response"] == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


def test_dry_run_gets_exactly_the_same_answer() -> None:
    pod = fixture("triton-gpu-0")
    wet = mutate(admission_review(pod), policies=bundled_policies()).answer
    dry = mutate(admission_review(pod, dryRun=True), policies=bundled_policies()).answer
    assert dry == wet


def test_request_namespace_is_authoritative() -> None:
    pod = fixture("triton-gpu-0")
    del pod["metadata"]["namespace"], pod["metadata"]["name"]  # a Deployment-made Pod
    policy = one_policy("{nodeSelector: {pool: x}}", match="{namespaces: [prod]}")
    assert mutate(admission_review(pod, namespace="prod"), policies=policy).outcome == "patched"
    pod["metadata"]["namespace"] = "prod"
    assert mutate(admission_review(pod, namespace="dev"), policies=policy).outcome == "unchanged"


def test_denial_has_status_code_and_message() -> None:
    pod = fixture("triton-gpu-0")
    pod["spec"]["nodeSelector"] = {"pool": "cpu"}
    answer = mutate(
        admission_review(pod), policies=one_policy("{nodeSelector: {pool: gpu}}", extra="onConflict: deny")
    ).answer
    response = answer["response"]
    assert response["allowed"] is False and "patch" not in response
    assert response["status"] == {
        "code": 403,
        "message": "placement-webhook: policy p conflicts with the Pod's own placement on pool",
    }
    assert response["auditAnnotations"] == {"policy": "p", "outcome": "denied"}


def test_conflict_warning_is_carried() -> None:
    pod = fixture("triton-gpu-0")
    pod["spec"]["nodeSelector"] = {"pool": "cpu"}
    response = mutate(admission_review(pod), policies=one_policy("{nodeSelector: {pool: gpu}}")).answer[
        "response"
    ]
    assert response["allowed"] is True and response["warnings"][0].startswith(
        "placement-webhook: policy p conflicts"
    )


@pytest.mark.parametrize(
    "request_override",
    [
        {"operation": "UPDATE"},
        {"operation": "DELETE", "object": None},
        {"kind": {"group": "apps", "version": "v1", "kind": "Deployment"}},
        {"subResource": "ephemeralcontainers"},
        {"kind": {"group": "", "version": "v1", "kind": "Binding"}, "subResource": "binding"},
    ],
)
def test_anything_but_pod_create_is_allowed_without_patch(request_override: dict[str, Any]) -> None:
    decision = mutate(
        admission_review(fixture("triton-gpu-0"), **request_override), policies=bundled_policies()
    )
    assert decision.outcome == "skipped"
    assert decision.answer["response"] == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "body is not a JSON object"),
        ({"kind": "Pod"}, 'kind must be AdmissionReview, got "Pod"'),
        (
            {**admission_review({}), "apiVersion": "admission.k8s.io/v1beta1"},
            "apiVersion must be admission.k8s.io/v1",
        ),
        (_without(admission_review({}), "request"), "request: field required"),
        (_without(admission_review({}), "request", "uid"), "request.uid: field required"),
        (admission_review({}, uid=""), "request.uid: string should have at least 1 character"),
        (admission_review({}, uid=5), "request.uid: input should be a valid string"),
        (
            _without(admission_review({}), "request", "object"),
            "request.object: a Pod CREATE must carry the Pod object",
        ),
        (admission_review("pod"), "request.object: a Pod CREATE must carry the Pod object"),
        (admission_review({}, kind="Pod"), "request.kind: input should be a valid dictionary"),
    ],
)
def test_malformed_requests_raise_one_line_input_errors(body: Any, message: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_admission_review(body)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_audit_annotations_list_every_audit_policy() -> None:
    review = Review(outcome="patched", pod={}, policy="p", audits=("a", "b"))
    assert Mutator().respond(review).review("u") == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": "u",
            "allowed": True,
            "auditAnnotations": {"policy": "p", "outcome": "patched", "audit": "a,b"},
        },
    }
    no_policy = Mutator().respond(Review(outcome="unchanged", pod={})).review("u")
    assert no_policy["response"] == {"uid": "u", "allowed": True}
