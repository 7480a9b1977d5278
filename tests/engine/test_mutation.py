"""``review_pod`` and its reference (``webhook/engine/mutation.py``) with Namespace labels: an audit
policy whose namespaceSelector cannot be evaluated warns in file order, and both answer the same."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.helpers import minimal_pod, policies
from webhook.engine.mutation import reference_review_pod, review_pod

MIXED = policies("""
    version: 1
    policies:
    - name: audit-nlp
      mode: audit
      match: {namespaceSelector: {matchLabels: {team: nlp}}}
      placement: {nodeSelector: {pool: nlp}}
    - name: audit-all
      mode: audit
      placement: {nodeSelector: {zone: a}}
    - name: enforce-nlp
      match: {namespaces: [team-*], namespaceSelector: {matchLabels: {team: nlp}}}
      placement: {nodeSelector: {pool: gpu}}
    """)


@pytest.mark.parametrize("review", [review_pod, reference_review_pod])
@pytest.mark.parametrize(
    ("namespace", "labels", "policy", "audits"),
    [
        ("team-a", {"team": "nlp"}, "enforce-nlp", ("audit-nlp", "audit-all")),
        ("team-a", {"team": "cv"}, "audit-all", ("audit-all",)),
        ("other", {"team": "nlp"}, "audit-nlp", ("audit-nlp", "audit-all")),
    ],
)
def test_the_labels_decide_which_policies_apply(
    review: object, namespace: str, labels: Mapping[str, str], policy: str, audits: tuple[str, ...]
) -> None:
    result = review(minimal_pod(), namespace=namespace, policies=MIXED, namespace_labels=labels)  # type: ignore[operator]
    assert (result.policy, result.audits) == (policy, audits)


@pytest.mark.parametrize("review", [review_pod, reference_review_pod])
def test_an_audit_policy_not_evaluated_warns_in_file_order(review: object) -> None:
    result = review(minimal_pod(), namespace="other", policies=MIXED)  # type: ignore[operator]
    assert (result.policy, result.outcome, result.audits) == ("audit-all", "audit", ("audit-all",))
    assert result.warnings == [
        "placement-webhook: audit: policy audit-nlp not evaluated: labels of namespace 'other' unknown",
        "placement-webhook: audit: policy audit-all would add nodeSelector zone=a",
    ]
