"""match.namespaceSelector: the Namespace's labels, ANDed with the other criteria, and what unknown
labels mean (an enforce policy that needs them gets no answer; an audit policy is skipped)."""

from __future__ import annotations

import pytest

from tests.helpers import admission_review, minimal_pod, mutate, policies
from webhook.engine.matching import explain_selection
from webhook.engine.mutation import review_pod
from webhook.errors import NamespaceLabelsUnknownError
from webhook.kube.objects import read_pod_facts
from webhook.policy.compiled import PolicySet

TEAMS = policies("""
    version: 1
    policies:
    - name: plain
      match: {namespaces: [other]}
      placement: {nodeSelector: {pool: other}}
    - name: nlp
      match: {podSelector: {matchLabels: {app: srv}}, namespaceSelector: {matchLabels: {team: nlp}}}
      placement: {nodeSelector: {pool: nlp}}
    - name: fallback
      placement: {nodeSelector: {pool: general}}
    """)

AUDIT_FIRST = policies("""
    version: 1
    policies:
    - name: watch
      mode: audit
      match: {namespaceSelector: {matchExpressions: [{key: env, operator: In, values: [prod]}]}}
      placement: {nodeSelector: {pool: prod}}
    - name: everyone
      placement: {nodeSelector: {pool: general}}
    """)


def labelled_pod(**labels: str) -> dict[str, object]:
    pod = minimal_pod()
    pod["metadata"]["labels"] = labels
    return pod


def pool_of(policy_set: PolicySet, namespace_labels: dict[str, str] | None, **labels: str) -> str | None:
    result = review_pod(
        labelled_pod(**labels), namespace="team-a", policies=policy_set, namespace_labels=namespace_labels
    )
    return result.policy


@pytest.mark.parametrize(
    ("namespace_labels", "pod_labels", "expected"),
    [
        ({"team": "nlp"}, {"app": "srv"}, "nlp"),
        ({"team": "nlp", "other": "x"}, {"app": "srv"}, "nlp"),
        ({"team": "cv"}, {"app": "srv"}, "fallback"),  # the namespace does not match
        ({}, {"app": "srv"}, "fallback"),
        ({"team": "nlp"}, {"app": "other"}, "fallback"),  # ANDed: the Pod's own labels must match too
        ({"team": "nlp"}, {}, "fallback"),
    ],
)
def test_namespace_selector_is_anded_with_the_other_criteria(
    namespace_labels: dict[str, str], pod_labels: dict[str, str], expected: str
) -> None:
    assert pool_of(TEAMS, namespace_labels, **pod_labels) == expected


def test_unknown_labels_give_no_answer_when_an_enforce_policy_needs_them() -> None:
    with pytest.raises(NamespaceLabelsUnknownError) as caught:
        pool_of(TEAMS, None, app="srv")
    assert str(caught.value) == (
        "labels of namespace 'team-a' are unknown and policy nlp matches on namespaceSelector"
    )
    assert (caught.value.namespace, caught.value.policy) == ("team-a", "nlp")


def test_unknown_labels_do_not_matter_when_other_criteria_already_decide() -> None:
    # the Pod's labels fail podSelector, so the namespaceSelector is never asked
    assert pool_of(TEAMS, None, app="other") == "fallback"
    # an earlier enforce policy applies, so the later namespaceSelector is never asked
    result = review_pod(labelled_pod(app="srv"), namespace="other", policies=TEAMS, namespace_labels=None)
    assert result.policy == "plain"


def test_an_audit_policy_with_unknown_labels_is_skipped_with_a_warning() -> None:
    result = review_pod(minimal_pod(), namespace="team-a", policies=AUDIT_FIRST, namespace_labels=None)
    assert (result.policy, result.outcome) == ("everyone", "patched")
    assert result.warnings == [
        "placement-webhook: audit: policy watch not evaluated: labels of namespace 'team-a' unknown"
    ]
    assert result.audits == ()


def test_an_unevaluated_audit_policy_warns_even_when_nothing_else_matches() -> None:
    only_audit = policies("""
        version: 1
        policies:
        - name: watch
          mode: audit
          match: {namespaceSelector: {}}
          placement: {nodeSelector: {pool: prod}}
        """)
    result = review_pod(minimal_pod(), namespace="ns", policies=only_audit, namespace_labels=None)
    assert (result.policy, result.outcome) == (None, "unchanged")
    assert result.warnings == [
        "placement-webhook: audit: policy watch not evaluated: labels of namespace 'ns' unknown"
    ]


def test_an_audit_policy_with_known_labels_warns_as_usual() -> None:
    result = review_pod(minimal_pod(), namespace="p", policies=AUDIT_FIRST, namespace_labels={"env": "prod"})
    assert result.audits == ("watch",)
    assert result.warnings == ["placement-webhook: audit: policy watch would add nodeSelector pool=prod"]


def test_decide_passes_the_labels_to_the_engine() -> None:
    review = admission_review(labelled_pod(app="srv"), namespace="team-a")
    assert mutate(review, policies=TEAMS, namespace_labels={"team": "nlp"}).review.policy == "nlp"  # type: ignore[union-attr]
    with pytest.raises(NamespaceLabelsUnknownError):
        mutate(review, policies=TEAMS)
    # not a Pod CREATE: nothing is decided, so unknown labels do not matter
    update = admission_review(labelled_pod(app="srv"), namespace="team-a", operation="UPDATE")
    assert mutate(update, policies=TEAMS).outcome == "skipped"


def test_policy_sets_say_whether_they_need_namespace_labels() -> None:
    assert TEAMS.uses_namespace_selector
    assert AUDIT_FIRST.uses_namespace_selector
    plain = policies("""
        version: 1
        policies:
        - name: p
          match: {podSelector: {matchLabels: {team: nlp}}}
          placement: {nodeSelector: {pool: x}}
        """)
    assert not plain.uses_namespace_selector
    assert not PolicySet(()).uses_namespace_selector


def test_explanations_name_the_failing_namespace_requirement() -> None:
    facts = read_pod_facts(labelled_pod(app="srv"), namespace="team-a", namespace_labels={"team": "cv"})
    assert explain_selection(TEAMS, facts) == [
        ("plain", "skip", 'namespace "team-a" not in [other]'),
        ("nlp", "skip", 'namespace "team-a" labels do not match namespaceSelector: team=nlp (team=cv)'),
        ("fallback", "match", None),
    ]
    unknown = read_pod_facts(labelled_pod(app="srv"), namespace="team-a")
    assert explain_selection(TEAMS, unknown)[1] == (
        "nlp",
        "skip",
        'labels of namespace "team-a" unknown (namespaceSelector not evaluated)',
    )
