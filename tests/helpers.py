"""Shared test helpers: fixture Pods, inline policy files, and real Kubernetes schema validation."""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from webhook import POLICY_ANNOTATION
from webhook.admission.request import AdmissionRequest, parse_admission_review
from webhook.admission.response import Response
from webhook.cli.files import read_sourced_documents
from webhook.engine.documents import Subject
from webhook.engine.guard import GuardVerdict
from webhook.engine.handlers import Guard, Mutator
from webhook.engine.memo import LoadedPolicies
from webhook.engine.placement import TERMS
from webhook.engine.review import Review
from webhook.policy.compiled import PolicySet
from webhook.policy.loading import load_policies, load_policies_text
from webhook.simulation.seldon import read_manifests

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
CASES = TESTS / "cases"
NODES = TESTS / "nodes"
SELDON = TESTS / "seldon"
#: the realistic Seldon Pods shared between projects, beside the checkout (absent on CI clones)
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
BUNDLED_POLICIES = ROOT / "policies.yaml"
KUBERNETES_VERSION = "1.31"

#: what the API server's DefaultTolerationSeconds plugin adds to every Pod (the fixtures have them)
DEFAULT_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]

#: policy nlp grants the reserved seldon-gpu-srv taint only to namespaces labelled team=nlp
GUARDED_BY_NAMESPACE = """
version: 1
policies:
- name: nlp
  match: {namespaceSelector: {matchLabels: {team: nlp}}}
  placement:
    tolerations: [{key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}]
reservations:
- taint: {key: seldon-gpu-srv, effect: NoSchedule}
"""


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of a fixture document (tests may mutate it)."""
    return copy.deepcopy(yaml.safe_load((FIXTURES / f"{name}.yaml").read_text()))


def bundled_policies() -> PolicySet:
    return load_policies(BUNDLED_POLICIES)


def policies(text: str) -> PolicySet:
    """A policy set from an inline YAML snippet (dedented)."""
    return load_policies_text(textwrap.dedent(text), source="test.yaml")


def one_policy(placement: str, *, match: str = "{}", extra: str = "") -> PolicySet:
    """A file with one policy named ``p`` whose placement (and match) are given as YAML flow text."""
    return policies(f"""
        version: 1
        policies:
        - name: p
          match: {match}
          placement: {placement}
          {extra}
        """)


def validate_pod(pod: dict[str, Any]) -> None:
    """Raise unless ``pod`` is a valid Pod under the real Kubernetes OpenAPI schema, strict mode."""
    try:
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:  # the full message is pages long
        raise AssertionError(str(exc).splitlines()[0]) from None


def minimal_pod(**spec: Any) -> dict[str, Any]:
    """A small valid Seldon server Pod with ``spec`` fields added."""
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "srv-0",
            "namespace": "seldon-mesh",
            "labels": {"app.kubernetes.io/name": "seldon-server", "seldon-server-name": "srv"},
        },
        "spec": {"containers": [{"name": "agent", "image": "agent:1"}]},
    }
    pod["spec"].update(spec)
    return pod


def admission_review(pod: dict[str, Any] | None, **request: Any) -> dict[str, Any]:
    """An AdmissionReview v1 request for a Pod CREATE; keyword arguments override request fields."""
    body: dict[str, Any] = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "seldon-mesh",
        "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:statefulset-controller"},
        "object": pod,
        "oldObject": None,
        "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    }
    body.update(request)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body}


def yaml_bomb(levels: int = 9, width: int = 10) -> str:
    """A "billion laughs" document: each anchor lists ``width`` aliases of the previous one."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


PLACEMENT_FIELDS = ("tolerations", "nodeSelector", "affinity")


def get_path(obj: Any, path: tuple[Any, ...]) -> Any:
    """The value at ``path`` in nested dicts, or None."""
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _without_placement(pod: dict[str, Any]) -> dict[str, Any]:
    pod = copy.deepcopy(pod)
    for field in PLACEMENT_FIELDS:
        pod["spec"].pop(field, None)
    pod["metadata"].get("annotations", {}).pop(POLICY_ANNOTATION, None)
    if pod["metadata"].get("annotations") == {}:
        del pod["metadata"]["annotations"]
    return pod


def assert_only_placement_added(pod: dict[str, Any], mutated: dict[str, Any]) -> None:
    """Existing tolerations, nodeSelector entries and terms survive in order; nothing but the
    placement fields and our one annotation differs."""
    before, after = pod["spec"], mutated["spec"]
    old_tolerations = before.get("tolerations") or []
    assert (after.get("tolerations") or [])[: len(old_tolerations)] == old_tolerations
    for key, value in (before.get("nodeSelector") or {}).items():
        assert after["nodeSelector"][key] == value
    old_terms = get_path(pod, TERMS) or []
    new_terms = get_path(mutated, TERMS) or []
    if old_terms:
        assert len(new_terms) == len(old_terms)
        for old, new in zip(old_terms, new_terms, strict=True):
            old_expressions = old.get("matchExpressions") or []
            assert (new.get("matchExpressions") or [])[: len(old_expressions)] == old_expressions
            assert new.get("matchFields") == old.get("matchFields")
            assert bool(old.get("matchExpressions") or old.get("matchFields")) == bool(
                new.get("matchExpressions") or new.get("matchFields")
            ), "an empty term must stay empty"
    assert _without_placement(mutated) == _without_placement(pod)


@dataclass(frozen=True)
class Handled:
    """One admission request answered by a handler, as the server answers it, with the handler's
    judgement beside the wire answer (``review`` for the mutator, ``verdict`` for the guard)."""

    request: AdmissionRequest
    response: Response
    review: Review | None = None
    verdict: GuardVerdict | None = None

    @property
    def answer(self) -> dict[str, Any]:
        return self.response.review(self.request.uid)

    @property
    def outcome(self) -> str:
        return self.response.outcome


def mutate(data: Any, *, policies: PolicySet, namespace_labels: Mapping[str, str] | None = None) -> Handled:
    """``POST /mutate`` without HTTP: parse, ``Mutator.decide``, ``Mutator.respond``."""
    request, mutator = parse_admission_review(data), Mutator()
    review = mutator.decide(request, LoadedPolicies(policies), namespace_labels)
    return Handled(request, mutator.respond(review), review=review)


def validate(
    data: Any,
    *,
    policies: PolicySet,
    namespace_labels: Mapping[str, str] | None = None,
    node_taints: list[dict[str, Any]] | None = None,
) -> Handled:
    """``POST /validate`` without HTTP: parse, ``Guard.decide``, ``Guard.respond``."""
    request, guard = parse_admission_review(data), Guard()
    verdict = guard.decide(request, LoadedPolicies(policies), namespace_labels, node_taints)
    return Handled(request, guard.respond(request, verdict), verdict=verdict)


def read_manifest_files(paths: list[str], *, namespace: str | None) -> list[Subject]:
    """The Subjects (Pods, and the Pods of Seldon Servers) of manifest files, as ``simulate`` reads them."""
    return read_manifests(read_sourced_documents(paths), namespace=namespace)


def trusting(text: str) -> str:
    """A policy file whose policies and allow rules accept a forgeable match
    (``acceptForgeable``): for tests of other rules, on files that grant a reserved taint by
    labels, env or requests alone, which loading refuses otherwise (``policy.entitlement``)."""
    data = yaml.safe_load(text)
    for policy in data.get("policies") or []:
        policy.setdefault("acceptForgeable", "a test of another rule")
    for reservation in data.get("reservations") or []:
        for rule in reservation.get("allow") or []:
            if isinstance(rule, dict) and rule:
                rule.setdefault("acceptForgeable", "a test of another rule")
    return str(yaml.safe_dump(data, sort_keys=False))
