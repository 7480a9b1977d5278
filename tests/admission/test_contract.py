"""The admission contract: the outcome constructors, their wire encoding, the request envelope."""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from tests.helpers import admission_review, minimal_pod
from webhook.admission.handler import Handler, answer_review
from webhook.admission.request import (
    AdmissionReviewRequest,
    _describe_validation_error,
    parse_admission_review,
)
from webhook.admission.response import (
    MAX_WARNING_CHARS,
    MAX_WARNINGS,
    WARNING_PREFIX,
    Response,
    allowed,
    denied,
    encode_patch,
    errored,
    patched,
    short_warnings,
)
from webhook.engine.handlers import Guard, Mutator
from webhook.engine.memo import LoadedPolicies
from webhook.errors import InputError
from webhook.policy.loading import load_policies_text
from webhook.server.app import ROUTES

OPS = [{"op": "add", "path": "/a", "value": 1}]


def test_allowed_is_the_bare_answer() -> None:
    assert allowed().review("u-0") == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "u-0", "allowed": True},
    }


def test_denied_carries_code_message_and_warnings_in_the_api_servers_order() -> None:
    answer = denied(403, "m").with_warnings(["w"]).review("u-1")["response"]
    assert answer == {
        "uid": "u-1",
        "allowed": False,
        "warnings": ["w"],
        "status": {"code": 403, "message": "m"},
    }
    assert list(answer) == ["uid", "allowed", "warnings", "status"]
    assert denied(400, "m").review("u-1")["response"] == {
        "uid": "u-1",
        "allowed": False,
        "status": {"code": 400, "message": "m"},
    }


def test_patched_encodes_ops_as_base64_json_and_no_ops_is_allowed() -> None:
    answer = patched(OPS).review("u-2")["response"]
    assert answer == {
        "uid": "u-2",
        "allowed": True,
        "patchType": "JSONPatch",
        "patch": "W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6MX1d",
    }
    assert json.loads(base64.b64decode(answer["patch"])) == OPS
    assert patched(encode_patch(OPS)).review("u-2") == patched(OPS).review("u-2")  # already encoded
    assert patched([]).with_warnings(["w"]).review("u-2")["response"] == {
        "uid": "u-2",
        "allowed": True,
        "warnings": ["w"],
    }
    assert patched(None) == allowed()


def test_audit_annotations_accumulate_and_come_last() -> None:
    response = patched(OPS).with_audit_annotations({"policy": "p"}).with_audit_annotations({"outcome": "o"})
    answer = response.with_warnings(["w"]).review("u")["response"]
    assert answer["auditAnnotations"] == {"policy": "p", "outcome": "o"}
    assert list(answer) == ["uid", "allowed", "warnings", "patchType", "patch", "auditAnnotations"]


def test_errored_has_an_http_status_and_no_admission_review() -> None:
    response = errored(502, "cannot decide")
    assert (response.errored, response.code, response.message, response.allowed) == (
        True,
        502,
        "cannot decide",
        False,
    )
    with pytest.raises(AssertionError):
        response.review("u")


def test_with_telemetry_sets_what_the_server_logs_and_counts() -> None:
    response = allowed().with_telemetry("x", {"a": 1}, (("p", "x"),))
    assert (response.outcome, response.details, response.counts) == ("x", {"a": 1}, (("p", "x"),))
    assert response.review("u")["response"] == {"uid": "u", "allowed": True}  # not on the wire


def test_short_warnings_keep_at_most_ten_lines_of_256_characters_prefixed() -> None:
    lines = short_warnings([f"line {i} " + "x" * 400 for i in range(12)])
    assert len(lines) == MAX_WARNINGS
    assert all(line.startswith(WARNING_PREFIX) and len(line) <= MAX_WARNING_CHARS for line in lines)
    assert lines[-1] == WARNING_PREFIX + "3 more warnings not shown"
    assert short_warnings(["a\nb\x07c"]) == [WARNING_PREFIX + "a b?c"]


def test_a_validation_error_without_location_is_its_message() -> None:
    with pytest.raises(ValidationError) as caught:
        AdmissionReviewRequest.model_validate(5)
    assert _describe_validation_error(caught.value).startswith("Input should be a valid dictionary")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "body is not a JSON object"),
        ({"kind": "Pod"}, 'kind must be AdmissionReview, got "Pod"'),
        ({"kind": "AdmissionReview", "apiVersion": "v1"}, 'apiVersion must be admission.k8s.io/v1, got "v1"'),
        (admission_review(None), "request.object: a Pod CREATE must carry the Pod object"),
        (admission_review(minimal_pod(), uid=""), "request.uid: string should have at least 1 character"),
    ],
)
def test_a_malformed_review_is_one_input_error(body: object, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_admission_review(body)
    assert str(caught.value) == message


def test_the_request_names_the_pod_for_log_lines() -> None:
    pod = minimal_pod()
    pod["metadata"] = {"generateName": "srv-", "namespace": "ns-from-pod"}
    request = parse_admission_review(admission_review(pod, namespace=""))
    assert (request.pod_name(), request.pod_namespace()) == ("srv-", "ns-from-pod")
    named = parse_admission_review(admission_review(pod, name="srv-7", namespace="ns"))
    assert (named.pod_name(), named.pod_namespace()) == ("srv-7", "ns")
    pod["metadata"]["name"] = "srv-own"  # the Pod's own name first
    assert parse_admission_review(admission_review(pod, name="srv-7")).pod_name() == "srv-own"


def test_an_errored_response_has_no_admission_review() -> None:
    with pytest.raises(AssertionError) as caught:
        errored(502, "unknown").review("u")
    assert str(caught.value) == "an errored response has no AdmissionReview"


class _Recording:
    """A handler that answers with what it was given."""

    def handle(self, request: Any, context: Any, namespace_labels: Any, node_taints: Any = None) -> Response:
        self.given = (context, namespace_labels, node_taints)
        return allowed()


def test_answer_review_hands_the_cluster_facts_to_the_handler() -> None:
    handler = _Recording()
    taints = [{"key": "gpu", "effect": "NoSchedule"}]
    answer = answer_review(handler, admission_review(minimal_pod(), uid="u-1"), "ctx", {"team": "a"}, taints)  # type: ignore[arg-type]
    assert handler.given == ("ctx", {"team": "a"}, taints)
    assert answer["response"] == {"uid": "u-1", "allowed": True}
    answer_review(handler, admission_review(minimal_pod()), "ctx")  # type: ignore[arg-type]
    assert handler.given == ("ctx", None, None)


def test_every_route_serves_a_handler_with_its_own_counter() -> None:
    handlers: list[Handler[LoadedPolicies]] = list(ROUTES.values())
    assert [type(h) for h in handlers] == [Mutator, Guard]
    assert len({h.name for h in handlers}) == len({h.counter.name for h in handlers}) == len(handlers)


def test_answer_review_is_what_the_handler_answers_on_the_wire() -> None:
    loaded = LoadedPolicies(
        load_policies_text("version: 1\npolicies:\n- name: p\n  placement: {nodeSelector: {a: b}}\n")
    )
    answer = answer_review(Mutator(), admission_review(minimal_pod(), uid="u-9"), loaded)
    assert answer["response"]["uid"] == "u-9" and answer["response"]["patchType"] == "JSONPatch"
    assert orjson.loads(base64.b64decode(answer["response"]["patch"]))[0]["path"] == "/spec/nodeSelector"


def test_a_response_is_one_type_for_every_handler() -> None:
    loaded = LoadedPolicies(load_policies_text("version: 1\npolicies: []\n"))
    request = parse_admission_review(admission_review(minimal_pod()))
    assert all(isinstance(h.handle(request, loaded, None), Response) for h in ROUTES.values())


@pytest.mark.parametrize(
    ("request_namespace", "metadata", "namespace"),
    [
        ("req", {"namespace": "own"}, "req"),
        ("", {"namespace": "own"}, "own"),
        ("", {"namespace": 5}, ""),
        ("", {}, ""),
    ],
)
def test_the_request_namespace_is_authoritative(
    request_namespace: str, metadata: dict[str, Any], namespace: str
) -> None:
    pod = {"kind": "Pod", "metadata": metadata, "spec": {"containers": []}}
    request = parse_admission_review(admission_review(pod, namespace=request_namespace))
    assert request.pod_namespace() == namespace


def test_a_delete_without_object_has_the_request_namespace_or_none() -> None:
    request = parse_admission_review(admission_review(None, operation="DELETE", namespace=""))
    assert request.pod_namespace() == ""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "x" * 100}, 'kind must be AdmissionReview, got "' + "x" * 60 + '"'),
        ({"kind": None}, "kind must be AdmissionReview, got null"),
        (
            {"kind": "AdmissionReview", "apiVersion": "y" * 100},
            'apiVersion must be admission.k8s.io/v1, got "' + "y" * 60 + '"',
        ),
        ({"kind": "AdmissionReview"}, "apiVersion must be admission.k8s.io/v1, got null"),
    ],
)
def test_envelope_errors_quote_at_most_60_characters(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_admission_review(body)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"uid": 5}, "request.uid: input should be a valid string"),
        ({"operation": 7}, "request.operation: input should be a valid string"),
        ({"object": "x"}, "request.object: a Pod CREATE must carry the Pod object"),
    ],
)
def test_request_errors_name_the_field(override: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_admission_review(admission_review(minimal_pod(), **override))
    assert str(caught.value) == message
