"""Invariants of the engine over generated Pods and policies (hypothesis)."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
from hypothesis import HealthCheck, given, reject, settings

from tests.helpers import validate_pod
from tests.strategies import pods, policy_documents
from webhook import POLICY_ANNOTATION
from webhook.admission import review_pod
from webhook.errors import PolicyError
from webhook.placement import TERMS
from webhook.policies import PolicySet, load_policies_text
from webhook.tolerations import tolerates_superset

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PLACEMENT_FIELDS = ("tolerations", "nodeSelector", "affinity")


def load(document: str) -> PolicySet:
    try:
        return load_policies_text(document)
    except PolicyError:
        reject()


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
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


@SETTINGS
@given(pod=pods(), document=policy_documents())
def test_patch_reproduces_mutation_and_review_is_idempotent(pod: dict[str, Any], document: str) -> None:
    policies = load(document)
    original = copy.deepcopy(pod)
    result = review_pod(pod, namespace="seldon-mesh", policies=policies)
    assert pod == original
    assert jsonpatch.apply_patch(original, result.patch) == result.pod
    assert review_pod(result.pod, namespace="seldon-mesh", policies=policies).patch == []
    if result.outcome != "patched":
        assert result.patch == [] and result.pod is pod


@SETTINGS
@given(pod=pods(), document=policy_documents())
def test_existing_placement_survives_and_nothing_else_changes(pod: dict[str, Any], document: str) -> None:
    result = review_pod(pod, namespace="seldon-mesh", policies=load(document))
    before, after = pod["spec"], result.pod["spec"]
    old_tolerations = before.get("tolerations") or []
    assert (after.get("tolerations") or [])[: len(old_tolerations)] == old_tolerations
    for key, value in (before.get("nodeSelector") or {}).items():
        assert after["nodeSelector"][key] == value
    old_terms = _get(pod, TERMS) or []
    new_terms = _get(result.pod, TERMS) or []
    if old_terms:
        assert len(new_terms) == len(old_terms)
        for old, new in zip(old_terms, new_terms, strict=True):
            old_expressions = old.get("matchExpressions") or []
            assert (new.get("matchExpressions") or [])[: len(old_expressions)] == old_expressions
            assert new.get("matchFields") == old.get("matchFields")
            assert bool(old.get("matchExpressions") or old.get("matchFields")) == bool(
                new.get("matchExpressions") or new.get("matchFields")
            ), "an empty term must stay empty"
    assert _without_placement(result.pod) == _without_placement(pod)


@SETTINGS
@given(pod=pods(), document=policy_documents())
def test_a_patched_pod_carries_the_whole_policy(pod: dict[str, Any], document: str) -> None:
    policies = load(document)
    result = review_pod(pod, namespace="seldon-mesh", policies=policies)
    if result.outcome != "patched":
        return
    (policy,) = [p for p in policies.policies if p.name == result.policy]
    spec = result.pod["spec"]
    for wanted in policy.tolerations:
        assert any(tolerates_superset(have, wanted) for have in spec["tolerations"])
    for key, value in policy.node_selector.items():
        assert spec["nodeSelector"][key] == value
    for term in _get(result.pod, TERMS) or []:
        if term.get("matchExpressions") or term.get("matchFields"):
            for expr in policy.required:
                assert expr in term["matchExpressions"]
    assert result.pod["metadata"]["annotations"][POLICY_ANNOTATION] == policy.name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod=pods(), document=policy_documents())
def test_mutated_pods_are_valid_kubernetes_pods(pod: dict[str, Any], document: str) -> None:
    result = review_pod(pod, namespace="seldon-mesh", policies=load(document))
    validate_pod(result.pod)
