"""namespaceSelector as written in the policy file: metav1.LabelSelector semantics over the
Namespace's labels (apimachinery ``pkg/labels`` selector_test.go TestSelectorMatches and
TestRequirementSelectorMatching, written as LabelSelectors), its validation, and the sentence
that explains a miss."""

from __future__ import annotations

import pytest

from tests.helpers import minimal_pod, policies
from webhook.engine.matching import mismatch_reason
from webhook.errors import NamespaceLabelsUnknownError, PolicyError
from webhook.kube.objects import read_pod_facts
from webhook.kube.selectors import label_selector_mismatch
from webhook.policy.compiled import CompiledPolicy
from webhook.policy.loading import load_policies_text


def compiled(selector: str) -> CompiledPolicy:
    (policy,) = policies(f"""
        version: 1
        policies:
        - name: p
          match: {{namespaceSelector: {selector}}}
          placement: {{nodeSelector: {{pool: x}}}}
        """).policies
    return policy


def matches(selector: str, labels: dict[str, str]) -> bool:
    facts = read_pod_facts(minimal_pod(), namespace="ns", namespace_labels=labels)
    return mismatch_reason(compiled(selector), facts) is None


FOO_BAZ = {"foo": "bar", "baz": "blah"}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        # TestSelectorMatches: "" / x=y / x=y,z=w / x!=y,z!=w / x / !x and their misses
        ("{}", {"x": "y"}, True),  # an empty selector selects every namespace
        ("{}", {}, True),
        ("{matchLabels: {}, matchExpressions: []}", {}, True),
        ("{matchLabels: {x: y}}", {"x": "y"}, True),
        ("{matchLabels: {x: y, z: w}}", {"x": "y", "z": "w"}, True),
        (
            "{matchExpressions: [{key: x, operator: NotIn, values: [y]}, {key: z, operator: NotIn, values: [w]}]}",
            {"x": "z", "z": "a"},
            True,
        ),
        ("{matchLabels: {notin: in}}", {"notin": "in"}, True),  # operator words as plain keys/values
        ("{matchExpressions: [{key: x, operator: Exists}]}", {"x": "z"}, True),
        ("{matchExpressions: [{key: x, operator: DoesNotExist}]}", {"y": "z"}, True),
        ("{matchLabels: {x: z}}", {}, False),
        ("{matchLabels: {x: y}}", {"x": "z"}, False),
        ("{matchLabels: {x: y, z: w}}", {"x": "w", "z": "w"}, False),
        (
            "{matchExpressions: [{key: x, operator: NotIn, values: [y]}, {key: z, operator: NotIn, values: [w]}]}",
            {"x": "z", "z": "w"},
            False,
        ),
        ("{matchExpressions: [{key: x, operator: Exists}]}", {"y": "z"}, False),
        ("{matchExpressions: [{key: x, operator: DoesNotExist}]}", {"x": "z"}, False),
        ("{matchLabels: {foo: bar}}", FOO_BAZ, True),
        ("{matchLabels: {foo: bar, baz: blah}}", FOO_BAZ, True),
        ("{matchLabels: {foo: blah}}", FOO_BAZ, False),
        ("{matchLabels: {baz: bar}}", FOO_BAZ, False),
        ("{matchLabels: {foo: bar, foobar: bar, baz: blah}}", FOO_BAZ, False),
        # absent keys, operator by operator (TestRequirementSelectorMatching)
        ("{matchExpressions: [{key: x, operator: In, values: [a]}]}", {}, False),
        ("{matchExpressions: [{key: x, operator: In, values: ['']}]}", {"y": "baz"}, False),
        ("{matchExpressions: [{key: x, operator: In, values: ['']}]}", {"x": ""}, True),
        ("{matchExpressions: [{key: x, operator: NotIn, values: [a]}]}", {}, True),  # absent is "not in"
        (
            "{matchExpressions: [{key: x, operator: NotIn, values: ['']}, {key: y, operator: Exists}]}",
            {"y": ""},
            True,
        ),
        (
            "{matchExpressions: [{key: x, operator: DoesNotExist}, {key: y, operator: Exists}]}",
            {"y": ""},
            True,
        ),
        (
            "{matchExpressions: [{key: x, operator: NotIn, values: ['']}, {key: y, operator: DoesNotExist}]}",
            {"y": ""},
            False,
        ),
        (
            "{matchExpressions: [{key: x, operator: In, values: [foo]}, {key: y, operator: NotIn, values: [alpha]}]}",
            {"x": "foo", "y": "baz"},
            True,
        ),
        (
            "{matchExpressions: [{key: x, operator: In, values: [foo]}, {key: y, operator: In, values: [alpha]}]}",
            {"x": "foo", "y": "baz"},
            False,
        ),
        # matchLabels AND matchExpressions, also on the same key
        (
            "{matchLabels: {team: nlp}, matchExpressions: [{key: env, operator: In, values: [prod, staging]}]}",
            {"team": "nlp", "env": "prod"},
            True,
        ),
        (
            "{matchLabels: {team: nlp}, matchExpressions: [{key: env, operator: In, values: [prod, staging]}]}",
            {"team": "nlp"},
            False,
        ),
        (
            "{matchLabels: {team: nlp}, matchExpressions: [{key: env, operator: In, values: [prod, staging]}]}",
            {"env": "prod"},
            False,
        ),
        (
            "{matchLabels: {team: nlp}, matchExpressions: [{key: team, operator: NotIn, values: [nlp]}]}",
            {"team": "nlp"},
            False,
        ),
        (
            "{matchLabels: {team: nlp}, matchExpressions: [{key: team, operator: Exists}]}",
            {"team": "nlp"},
            True,
        ),
        # the namespace's own name label, set by the API server on every Namespace
        (
            "{matchLabels: {kubernetes.io/metadata.name: team-a}}",
            {"kubernetes.io/metadata.name": "team-a"},
            True,
        ),
    ],
)
def test_namespace_selector_follows_label_selector_semantics(
    selector: str, labels: dict[str, str], expected: bool
) -> None:
    assert matches(selector, labels) is expected


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        (
            "{matchExpressions: [{key: x, operator: Gt, values: ['1']}]}",
            "policies[0] (p).match.namespaceSelector.matchExpressions[0].operator: must be In, NotIn, Exists or DoesNotExist",
        ),
        (
            "{matchExpressions: [{key: x, operator: In}]}",
            "policies[0] (p).match.namespaceSelector.matchExpressions[0].values: must be non-empty when operator is In",
        ),
        (
            "{matchExpressions: [{key: x, operator: Exists, values: [a]}]}",
            "policies[0] (p).match.namespaceSelector.matchExpressions[0].values: must be empty when operator is Exists",
        ),
        (
            "{matchLabels: {team: 'a b'}}",
            "policies[0] (p).match.namespaceSelector.matchLabels.team: \"a b\": must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        ),
        (
            "{matchLabel: {team: nlp}}",
            "policies[0] (p).match.namespaceSelector.matchLabel: unknown field; did you mean matchLabels? (see `placement-webhook schema`)",
        ),
    ],
)
def test_invalid_namespace_selectors_are_refused_at_load(selector: str, problem: str) -> None:
    text = f"version: 1\npolicies:\n- name: p\n  match: {{namespaceSelector: {selector}}}\n  placement: {{nodeSelector: {{pool: x}}}}\n"
    with pytest.raises(PolicyError) as caught:
        load_policies_text(text, source="t.yaml")
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == [problem]


@pytest.mark.parametrize(
    ("selector", "labels", "sentence"),
    [
        ({"matchLabels": {"team": "nlp"}}, {}, "team=nlp (team absent)"),
        ({"matchLabels": {"team": "nlp"}}, {"team": "cv"}, "team=nlp (team=cv)"),
        (
            {"matchLabels": {"team": "nlp", "env": "prod"}},
            {"team": "nlp", "env": "dev"},
            "env=prod (env=dev)",
        ),
        (
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "staging"]}]},
            {},
            "env In [prod, staging] (env absent)",
        ),
        (
            {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]},
            {"env": "prod"},
            "env NotIn [prod] (env=prod)",
        ),
        (
            {"matchExpressions": [{"key": "gpu", "operator": "Exists", "values": None}]},
            {},
            "gpu Exists (gpu absent)",
        ),
        (
            {"matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]},
            {"legacy": ""},
            "legacy DoesNotExist (legacy=)",
        ),
        # the first failing requirement in evaluation order: matchLabels before matchExpressions
        (
            {"matchLabels": {"team": "nlp"}, "matchExpressions": [{"key": "env", "operator": "Exists"}]},
            {},
            "team=nlp (team absent)",
        ),
        ({"matchLabels": {"team": "nlp"}}, {"team": "nlp"}, None),
        ({}, {}, None),
    ],
)
def test_mismatch_names_the_first_failing_requirement(
    selector: dict[str, object], labels: dict[str, str], sentence: str | None
) -> None:
    assert label_selector_mismatch(selector, labels) == sentence


def test_the_namespace_selector_is_asked_last_so_cheaper_criteria_decide_first() -> None:
    (policy,) = policies("""
        version: 1
        policies:
        - name: p
          match: {namespaces: [prod-*], namespaceSelector: {matchLabels: {team: nlp}}, podSelector: {}}
          placement: {nodeSelector: {pool: x}}
        """).policies
    facts = read_pod_facts(minimal_pod(), namespace="dev", namespace_labels=None)
    assert mismatch_reason(policy, facts) == 'namespace "dev" not in [prod-*]'
    holds, _ = policy.criteria[-1]
    with pytest.raises(NamespaceLabelsUnknownError):
        holds(facts)


def test_the_namespace_criterion_names_the_namespace_and_the_first_miss() -> None:
    holds, explain = compiled("{matchLabels: {team: nlp}}").criteria[-1]
    matching = read_pod_facts(minimal_pod(), namespace="team-a", namespace_labels={"team": "nlp"})
    missing = read_pod_facts(minimal_pod(), namespace="team-b", namespace_labels={"team": "cv"})
    assert holds(matching) and not holds(missing)
    assert explain(missing) == 'namespace "team-b" labels do not match namespaceSelector: team=nlp (team=cv)'
    unknown = read_pod_facts(minimal_pod(), namespace="team-c", namespace_labels=None)
    assert explain(unknown) == 'labels of namespace "team-c" unknown (namespaceSelector not evaluated)'
    with pytest.raises(NamespaceLabelsUnknownError) as caught:
        holds(unknown)
    assert (caught.value.namespace, caught.value.policy) == ("team-c", "")
