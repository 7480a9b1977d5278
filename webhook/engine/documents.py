"""Pods and AdmissionReviews from parsed documents, for the offline commands (review, test, simulate).

A file holds any number of YAML or JSON documents (JSON is YAML); a ``kind: List`` is flattened.
Each becomes a ``Subject``: a Pod plus the namespace it is admitted into, and the AdmissionReview
request when that is what the file held, so dry-runs answer exactly as the server would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from webhook.admission.request import AdmissionRequest, parse_admission_review
from webhook.errors import InputError, shown
from webhook.kube.objects import RawObject, as_dict, pod_display_name, string_labels
from webhook.policy.plain_yaml import PieceMap
from webhook.policy.source import load_yaml_documents


@dataclass(frozen=True)
class Subject:
    """One Pod to review: where it came from, its namespace, and its AdmissionReview if any.

    For an AdmissionReview, ``document`` is the review exactly as read, so that dry-runs decide on
    what the server would receive; ``pod`` is its object (or ``oldObject``, e.g. for a DELETE).
    ``origin`` names the workload whose controller creates the Pod (``Deployment ns/name``), empty
    for a Pod or AdmissionReview given as such."""

    pod: RawObject
    namespace: str
    source: str
    request: AdmissionRequest | None = None
    document: RawObject | None = None
    origin: str = ""

    @property
    def display_name(self) -> str:
        return pod_display_name(self.pod, namespace=self.namespace)

    def admission_review(self) -> dict[str, Any]:
        """The AdmissionReview the API server would send for this Pod (its own, if it came as one)."""
        request = self.request
        if self.document is not None and request is not None and request.object is self.pod:
            return self.document
        if self.document is not None and request is not None and not request.targets_pod_creation():
            return self.document
        if self.request is not None and self.request.object is self.pod:
            uid = self.request.uid
        else:
            uid = str(
                uuid.uuid5(uuid.NAMESPACE_URL, orjson.dumps(self.pod, option=orjson.OPT_SORT_KEYS).hex())
            )
        metadata = as_dict(self.pod.get("metadata"))
        return {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
                "requestResource": {"group": "", "version": "v1", "resource": "pods"},
                "name": metadata.get("name", ""),
                "namespace": self.namespace,
                "operation": "CREATE",
                "userInfo": {"username": "system:serviceaccount:kube-system:statefulset-controller"},
                "object": self.pod,
                "oldObject": None,
                "dryRun": False,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
            },
        }


#: the kinds the offline commands read whose apiVersion is known: anything else is refused, as the
#: API server refuses a kind it does not serve at that version
CORE_KINDS = frozenset({"Pod", "Node", "Namespace"})


def _is_list(doc: Any) -> bool:
    """``kind: List`` or a typed list (``PodList``, ``NodeList``) with its ``items``."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list)


def _typed(item: Any, list_doc: RawObject) -> Any:
    """An item of a typed list as the object it is: the API server sends ``PodList`` items without
    kind and apiVersion, which are the list's element kind and version (``kind: List`` items carry
    their own, as ``kubectl get -o yaml`` writes them)."""
    kind = str(list_doc["kind"]).removesuffix("List")
    if not kind or not isinstance(item, dict) or "kind" in item:
        return item
    return {"apiVersion": list_doc.get("apiVersion"), "kind": kind, **item}


def _manifest_problem(doc: Any) -> str | None:
    """Why a document is no Kubernetes object the API server would take, or None."""
    if not isinstance(doc, dict):
        return "not a mapping (a Kubernetes object)"
    for field in ("apiVersion", "kind"):
        if not isinstance(doc.get(field), str) or not doc[field]:
            return (
                f"{field}: required (every object states its apiVersion and kind, as kubectl apply requires)"
            )
    kind, version = doc["kind"], doc["apiVersion"]
    if kind in CORE_KINDS and version != "v1":
        return f"apiVersion: must be v1 for kind {kind} (got {version})"
    return None


def locate_documents(text: str, *, source: str, read_pieces: PieceMap | None = None) -> list[tuple[Any, str]]:
    """Every object of ``text`` with where it is (``document 2``, ``document 1 items[3]``), lists
    flattened; ``InputError`` naming file, document and field when one is no Kubernetes object
    (``kind`` and ``apiVersion`` are required, v1 for Pods, Nodes and Namespaces), and when there
    is no object at all (kubectl's "no objects passed")."""
    documents = load_yaml_documents(text, source=source, read_pieces=read_pieces)
    located: list[tuple[Any, str]] = []
    for number, doc in enumerate(documents, start=1):
        if _is_list(doc):
            located += [
                (_typed(item, doc), f"document {number} items[{i}]") for i, item in enumerate(doc["items"])
            ]
        else:
            located.append((doc, f"document {number}"))
    problems = [
        f"{source}: {where}{_named(doc)}: {problem}"
        for doc, where in located
        if (problem := _manifest_problem(doc)) is not None
    ]
    if problems:
        raise InputError("\n".join(problems))
    if not located:
        raise InputError(
            f"{source}: " + ("no objects: its List has no items" if documents else "no documents")
        )
    return located


def _named(doc: Any) -> str:
    """`` (Pod name)`` for messages when the document states its kind and name."""
    metadata = as_dict(as_dict(doc).get("metadata"))
    kind, name = as_dict(doc).get("kind"), metadata.get("name") or metadata.get("generateName")
    return f" ({kind} {name})" if isinstance(kind, str) and isinstance(name, str) and name else ""


def parse_documents(text: str, *, source: str) -> list[Any]:
    """Every object of ``text``, lists flattened (see ``locate_documents``)."""
    return [doc for doc, _ in locate_documents(text, source=source)]


def subject_from_document(doc: Any, *, source: str, namespace: str | None) -> Subject:
    """A Subject from one parsed document; ``namespace`` is the fallback for bare Pods."""
    if not isinstance(doc, dict):
        raise InputError(f"{source}: a document is not a mapping")
    kind = doc.get("kind")
    if kind == "AdmissionReview":
        request = parse_admission_review(doc)
        pod = request.object if isinstance(request.object, dict) else as_dict(doc["request"].get("oldObject"))
        return Subject(pod, request.pod_namespace(), source, request, doc)
    if kind == "Pod":
        own = as_dict(doc.get("metadata")).get("namespace")
        chosen = own if isinstance(own, str) and own else (namespace or "default")
        return Subject(doc, chosen, source)
    raise InputError(f"{source}: expected a Pod or an AdmissionReview, got kind {shown(kind)}")


def is_namespace(doc: Any) -> bool:
    """A ``v1`` Namespace manifest: among the inputs, it gives its labels to namespaceSelector."""
    return isinstance(doc, dict) and doc.get("kind") == "Namespace" and doc.get("apiVersion") == "v1"


def namespace_labels_of(documents: list[tuple[Any, str]]) -> dict[str, dict[str, str]]:
    """name -> labels of the Namespace manifests among ``(document, source)`` pairs; a label value
    that is not a string is an input error (the API server would refuse such a Namespace)."""
    found: dict[str, dict[str, str]] = {}
    for doc, source in documents:
        if not is_namespace(doc):
            continue
        name = as_dict(doc.get("metadata")).get("name")
        if not isinstance(name, str) or not name:
            raise InputError(f"{source}: Namespace without metadata.name")
        labels = as_dict(as_dict(doc.get("metadata")).get("labels"))
        odd = next((k for k, v in labels.items() if not isinstance(v, str)), None)
        if odd is not None:
            raise InputError(f"{source}: Namespace {name}: label {odd} must be a string (quote it)")
        found[name] = string_labels(doc)
    return found


@dataclass(frozen=True)
class Inputs:
    """What the offline commands read: the Pods to review and the labels of the Namespaces given."""

    subjects: list[Subject]
    namespaces: dict[str, dict[str, str]]


def inputs_from(documents: list[tuple[Any, str]], *, namespace: str | None = None) -> Inputs:
    """Every Pod, AdmissionReview and Namespace among ``(document, source)`` pairs."""
    subjects = [
        subject_from_document(doc, source=source, namespace=namespace)
        for doc, source in documents
        if not is_namespace(doc)
    ]
    return Inputs(subjects, namespace_labels_of(documents))
