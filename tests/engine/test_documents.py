"""Reading AdmissionReviews for the offline commands, and ``review`` answering exactly as the server.

``review`` is in webhook/cli/review.py; its answers are pinned here against ``decide``, the
function the server calls, for requests the webhook does not mutate (issue 17).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers import BUNDLED_POLICIES, admission_review, bundled_policies, fixture, minimal_pod, mutate
from webhook.cli.files import read_subjects, read_text
from webhook.cli.main import main
from webhook.engine.documents import (
    Subject,
    inputs_from,
    is_namespace,
    locate_documents,
    namespace_labels_of,
    parse_documents,
    subject_from_document,
)
from webhook.errors import InputError

UID = "705ab4f5-6393-11e8-b7cc-42010a800002"

NOT_POD_CREATE = [
    pytest.param({"operation": "UPDATE", "oldObject": "pod"}, "operation UPDATE", id="update"),
    pytest.param(
        {"operation": "DELETE", "object": None, "oldObject": "pod"}, "operation DELETE", id="delete"
    ),
    pytest.param({"operation": "CONNECT", "subResource": "exec"}, "operation CONNECT", id="connect"),
    pytest.param(
        {"kind": {"group": "apps", "version": "v1", "kind": "Deployment"}},
        "kind apps/v1 Deployment",
        id="another kind",
    ),
    pytest.param({"subResource": "ephemeralcontainers"}, "subresource ephemeralcontainers", id="subresource"),
    pytest.param(
        {"kind": {"group": "", "version": "v1", "kind": "Binding"}, "subResource": "binding"},
        "kind v1 Binding",
        id="binding",
    ),
]


def review_file(tmp_path: Path, request: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    pod = fixture("triton-gpu-0")
    overrides = {k: (pod if v == "pod" else v) for k, v in request.items()}
    body = admission_review(pod, **overrides)
    path = tmp_path / "review.json"
    path.write_text(json.dumps(body))
    return path, body


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main([*argv, "--policies", str(BUNDLED_POLICIES)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(("request_override", "why"), NOT_POD_CREATE)
def test_review_answers_a_request_that_is_not_a_pod_create_as_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], request_override: dict[str, Any], why: str
) -> None:
    path, body = review_file(tmp_path, request_override)
    server = mutate(body, policies=bundled_policies()).answer
    assert server["response"] == {"uid": UID, "allowed": True}

    code, out = run(capsys, "review", str(path), "-o", "review")
    assert code == 0 and out == orjson.dumps(server, option=orjson.OPT_INDENT_2).decode() + "\n"
    assert run(capsys, "review", str(path), "-o", "patch") == (0, "[]\n")
    assert json.loads(run(capsys, "review", str(path), "-o", "request")[1]) == body

    code, out = run(capsys, "review", str(path))
    kind = body["request"]["kind"]["kind"]
    policies_line, *lines = out.splitlines()
    assert policies_line.startswith("policies: ") and policies_line.endswith(", 3 policies")
    assert code == 0 and lines == [
        f"{kind} seldon-mesh/triton-gpu-0",
        f"  outcome: skipped (not a Pod CREATE: {why}; the webhook only mutates Pod CREATE)",
    ]


def test_review_of_a_pod_create_review_is_the_servers_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, body = review_file(tmp_path, {"uid": "abc", "userInfo": {"username": "someone"}})
    server = mutate(body, policies=bundled_policies()).answer
    code, out = run(capsys, "review", str(path), "-o", "review")
    assert code == 0 and out == orjson.dumps(server, option=orjson.OPT_INDENT_2).decode() + "\n"
    assert server["response"]["uid"] == "abc" and server["response"]["patchType"] == "JSONPatch"
    assert json.loads(run(capsys, "review", str(path), "-o", "request")[1]) == body


def test_a_delete_review_is_read_with_its_old_object(tmp_path: Path) -> None:
    path, body = review_file(tmp_path, {"operation": "DELETE", "object": None, "oldObject": "pod"})
    (subject,) = read_subjects(str(path))
    assert subject.pod == fixture("triton-gpu-0") and subject.namespace == "seldon-mesh"
    assert subject.admission_review() == body


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


def test_lists_are_flattened_and_typed_list_items_get_the_lists_kind_and_version() -> None:
    text = """
apiVersion: v1
kind: PodList
items:
- metadata: {name: a}
- {apiVersion: v1, kind: Pod, metadata: {name: b}}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: ns}}
---
apiVersion: v1
kind: Pod
metadata: {name: c}
"""
    assert locate_documents(text, source="f.yaml") == [
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}, "document 1 items[0]"),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}}, "document 1 items[1]"),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}, "document 2 items[0]"),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c"}}, "document 3"),
    ]
    assert parse_documents(text, source="f.yaml")[0] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "a"},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "f.yaml: no documents"),
        ("apiVersion: v1\nkind: List\nitems: []\n", "f.yaml: no objects: its List has no items"),
        ("- a\n", "f.yaml: document 1: not a mapping (a Kubernetes object)"),
        (
            "kind: Pod\nmetadata: {name: p}\n",
            "f.yaml: document 1 (Pod p): apiVersion: required (every object states its apiVersion and kind,"
            " as kubectl apply requires)",
        ),
        (
            "apiVersion: v1\nkind: ''\n",
            "f.yaml: document 1: kind: required (every object states its apiVersion and kind, as kubectl"
            " apply requires)",
        ),
        (
            "apiVersion: apps/v1\nkind: Pod\nmetadata: {generateName: web-}\n",
            "f.yaml: document 1 (Pod web-): apiVersion: must be v1 for kind Pod (got apps/v1)",
        ),
        (
            "apiVersion: v2\nkind: Node\nmetadata: {name: ''}\n---\napiVersion: x/v1\nkind: Namespace\n"
            "metadata: {name: 5}\n",
            "f.yaml: document 1: apiVersion: must be v1 for kind Node (got v2)\n"
            "f.yaml: document 2: apiVersion: must be v1 for kind Namespace (got x/v1)",
        ),
        (
            "apiVersion: v1\nkind: PodList\nitems: [{metadata: {name: a}, kind: 5}]\n",  # kept as it is
            "f.yaml: document 1 items[0]: apiVersion: required (every object states its apiVersion and kind,"
            " as kubectl apply requires)",
        ),
    ],
)
def test_documents_that_are_no_kubernetes_object(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        locate_documents(text, source="f.yaml")
    assert str(caught.value) == message


def test_other_kinds_and_versions_are_taken_as_they_are() -> None:
    text = "apiVersion: apps/v1\nkind: Deployment\n---\napiVersion: v1\nkind: NotAList\nitems: 5\n"
    assert [where for _, where in locate_documents(text, source="f.yaml")] == ["document 1", "document 2"]


NAMESPACE_A = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": {"team": "nlp"}}}


def test_namespace_manifests_give_their_labels_and_are_no_subjects() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}}
    documents = [
        (NAMESPACE_A, "n.yaml"),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}, "n.yaml"),
        ({"apiVersion": "v2", "kind": "Namespace", "metadata": {"name": "c"}}, "n.yaml"),  # no v1 Namespace
        (pod, "p.yaml"),
    ]
    assert namespace_labels_of(documents) == {"a": {"team": "nlp"}, "b": {}}
    inputs = inputs_from(documents[:2] + documents[3:], namespace="flag")
    assert inputs.namespaces == {"a": {"team": "nlp"}, "b": {}}
    assert [(s.pod, s.namespace, s.source) for s in inputs.subjects] == [(pod, "a", "p.yaml")]
    assert [s.namespace for s in inputs_from([({"kind": "Pod"}, "p.yaml")], namespace="flag").subjects] == [
        "flag"
    ]
    assert [is_namespace(d) for d in (NAMESPACE_A, {**NAMESPACE_A, "kind": "Pod"}, "Namespace", None)] == [
        True,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({}, "n.yaml: Namespace without metadata.name"),
        ({"name": ""}, "n.yaml: Namespace without metadata.name"),
        ({"name": 5}, "n.yaml: Namespace without metadata.name"),
        (
            {"name": "a", "labels": {"ok": "x", "gpu": True}},
            "n.yaml: Namespace a: label gpu must be a string (quote it)",
        ),
        (
            {"name": "a", "labels": {"n": 1, "gpu": True}},
            "n.yaml: Namespace a: label n must be a string (quote it)",
        ),
    ],
)
def test_unusable_namespace_manifests(metadata: dict[str, Any], message: str) -> None:
    doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
    with pytest.raises(InputError) as caught:
        namespace_labels_of([(NAMESPACE_A, "a.yaml"), (doc, "n.yaml")])
    assert str(caught.value) == message
