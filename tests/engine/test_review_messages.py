"""What a review says: plans described, conflicts named, shapes named by their JSON type, and the
audit policies listed after the enforce one."""

from __future__ import annotations

import datetime
from typing import Any

from tests.helpers import minimal_pod, one_policy, policies
from webhook.engine.matching import explain_selection
from webhook.engine.mutation import review_pod
from webhook.kube.objects import read_pod_facts

TWO_TERMS = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "a", "operator": "Exists"}]},
                {"matchExpressions": [{"key": "b", "operator": "Exists"}]},
            ]
        }
    }
}


def test_describe_a_new_term_and_a_preferred_term() -> None:
    placement = (
        "{nodeAffinity: {required: [{key: zone, operator: In, values: [a, b]}],"
        " preferred: [{weight: 3, matchExpressions: [{key: acc, operator: In, values: [x]},"
        " {key: gen, operator: Exists}]}]}}"
    )
    result = review_pod(minimal_pod(), namespace="ns", policies=one_policy(placement))
    assert result.plan is not None
    assert result.plan.describe() == ["required zone In [a, b]", "preferred weight 3: acc In [x], gen Exists"]


def test_describe_additions_to_the_pods_own_terms() -> None:
    placement = "{nodeAffinity: {required: [{key: zone, operator: In, values: [a, b]}]}}"
    result = review_pod(minimal_pod(affinity=TWO_TERMS), namespace="ns", policies=one_policy(placement))
    assert result.plan is not None
    assert result.plan.describe() == ["required zone In [a, b] (in 2 term(s))"]


def test_a_conflict_on_two_keys_names_both() -> None:
    pod = minimal_pod(nodeSelector={"pool": "cpu", "zone": "a"})
    policy = one_policy("{nodeSelector: {pool: gpu, zone: b}}", extra="onConflict: deny")
    result = review_pod(pod, namespace="ns", policies=policy)
    assert result.denial == "placement-webhook: policy p conflicts with the Pod's own placement on pool, zone"


def test_a_yaml_date_where_an_object_belongs_is_named_by_its_type() -> None:
    pod: dict[str, Any] = minimal_pod(nodeSelector=datetime.date(2024, 1, 1))
    result = review_pod(pod, namespace="ns", policies=one_policy("{nodeSelector: {pool: gpu}}"))
    assert result.warnings == [
        "placement-webhook: Pod not placed by p: spec.nodeSelector is a date, expected an object"
    ]


def test_explain_selection_lists_audit_policies_after_the_enforce_policy_that_applies() -> None:
    policy_set = policies("""
        version: 1
        policies:
        - name: first
          match: {}
          placement: {nodeSelector: {pool: gpu}}
        - name: later-enforce
          match: {}
          placement: {nodeSelector: {pool: b}}
        - name: later-audit-skip
          mode: audit
          match: {namespaces: [other]}
          placement: {nodeSelector: {pool: c}}
        - name: later-audit
          mode: audit
          match: {}
          placement: {nodeSelector: {pool: d}}
        """)
    explained = explain_selection(policy_set, read_pod_facts(minimal_pod(), namespace="ns"))
    assert explained == [("first", "match", None), ("later-audit", "audit", None)]
