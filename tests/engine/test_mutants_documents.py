"""Reading Pods and AdmissionReviews, and the review the CLI builds: cases mutation testing found unpinned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import admission_review, minimal_pod
from webhook.admission.request import parse_admission_review
from webhook.cli.files import read_subjects, read_text
from webhook.engine.documents import Subject, subject_from_document
from webhook.engine.handlers import Mutator
from webhook.engine.review import Review
from webhook.errors import InputError


def test_the_review_built_for_a_bare_pod_is_what_the_api_server_sends() -> None:
    pod = minimal_pod()
    review = Subject(pod, "ns", "f.yaml").admission_review()
    assert review == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "428c0a2a-37a6-5a38-898f-9525d3acc6cb",  # uuid5 of the Pod: the same Pod, the same uid
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "srv-0",
            "namespace": "ns",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:statefulset-controller"},
            "object": pod,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }
    assert review["request"]["object"] is pod
    other = Subject(minimal_pod(nodeSelector={"a": "b"}), "ns", "f.yaml").admission_review()
    assert other["request"]["uid"] != review["request"]["uid"]


def test_a_nameless_pod_gets_an_empty_request_name() -> None:
    pod = minimal_pod()
    del pod["metadata"]["name"]
    assert Subject(pod, "ns", "f.yaml").admission_review()["request"]["name"] == ""


def test_a_review_read_from_a_file_is_sent_as_read() -> None:
    document = admission_review(minimal_pod(), uid="u-1")
    subject = subject_from_document(document, source="r.json", namespace=None)
    assert subject.admission_review() is document
    # the same request with another Pod (the CLI's re-review of a patched Pod) keeps the uid only
    patched = Subject(minimal_pod(nodeSelector={"a": "b"}), "ns", "r.json", subject.request, None)
    assert patched.admission_review()["request"]["uid"] != "u-1"
    again = Subject(subject.pod, "ns", "r.json", subject.request, None)
    assert again.admission_review()["request"]["uid"] == "u-1"


def test_a_delete_review_is_read_from_its_old_object() -> None:
    old = minimal_pod()
    document = admission_review(None, operation="DELETE", oldObject=old)
    subject = subject_from_document(document, source="r.json", namespace="x")
    assert (subject.pod, subject.namespace, subject.source) == (old, "seldon-mesh", "r.json")
    assert subject.admission_review() is document


@pytest.mark.parametrize(
    ("doc", "namespace", "chosen"),
    [
        ({"kind": "Pod", "metadata": {"namespace": "own"}}, "flag", "own"),
        ({"kind": "Pod", "metadata": {"namespace": ""}}, "flag", "flag"),
        ({"kind": "Pod", "metadata": {"namespace": 5}}, "flag", "flag"),
        ({"kind": "Pod"}, None, "default"),
    ],
)
def test_the_namespace_of_a_bare_pod(doc: dict[str, Any], namespace: str | None, chosen: str) -> None:
    subject = subject_from_document(doc, source="p.yaml", namespace=namespace)
    assert (subject.pod, subject.namespace, subject.request) == (doc, chosen, None)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "p.yaml: a document is not a mapping"),
        ({"kind": "Deployment"}, 'p.yaml: expected a Pod or an AdmissionReview, got kind "Deployment"'),
        ({"spec": {"containers": "x"}}, "p.yaml: expected a Pod or an AdmissionReview, got kind null"),
    ],
)
def test_documents_that_are_no_pod(doc: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        subject_from_document(doc, source="p.yaml", namespace=None)
    assert str(caught.value) == message


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


def test_read_text_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_text(str(tmp_path / "missing.yaml"))
    assert str(caught.value) == f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"kind: Pod # \xe9\n")
    with pytest.raises(InputError) as caught:
        read_text(str(latin))
    assert str(caught.value) == f"{latin}: not UTF-8 text"
    good = tmp_path / "good.yaml"
    good.write_text("kind: Pod\n", encoding="utf-8")
    assert read_text(str(good)) == ("kind: Pod\n", str(good))


def test_read_subjects_uses_the_namespace_for_bare_pods(tmp_path: Path) -> None:
    path = tmp_path / "pods.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: own}\n"
    )
    subjects = read_subjects(str(path), namespace="flag")
    assert [(s.display_name, s.source) for s in subjects] == [("flag/a", str(path)), ("own/b", str(path))]
