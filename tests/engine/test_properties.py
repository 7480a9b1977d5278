"""Invariants of the engine over generated Pods and policies (hypothesis)."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
from hypothesis import HealthCheck, given, reject, settings

from tests.helpers import assert_only_placement_added, get_path, validate_pod
from tests.strategies import pods, policy_documents
from webhook import POLICY_ANNOTATION
from webhook.engine.mutation import review_pod
from webhook.engine.placement import TERMS
from webhook.errors import PolicyError
from webhook.kube.tolerations import tolerates_superset
from webhook.policy.compiled import PolicySet
from webhook.policy.loading import load_policies_text

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load(document: str) -> PolicySet:
    try:
        return load_policies_text(document)
    except PolicyError:
        reject()


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
    assert_only_placement_added(pod, result.pod)


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
    for term in get_path(result.pod, TERMS) or []:
        if term.get("matchExpressions") or term.get("matchFields"):
            for expr in policy.required:
                assert expr in term["matchExpressions"]
    assert result.pod["metadata"]["annotations"][POLICY_ANNOTATION] == policy.name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod=pods(), document=policy_documents())
def test_mutated_pods_are_valid_kubernetes_pods(pod: dict[str, Any], document: str) -> None:
    result = review_pod(pod, namespace="seldon-mesh", policies=load(document))
    validate_pod(result.pod)
