"""The policy file's ``reservations``: every rule names file line, reservation (by taint key) and field."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from tests.helpers import ROOT, bundled_policies
from webhook.errors import PolicyError
from webhook.policy.loading import load_policies_text

POLICY = """\
version: 1
policies:
- {name: gpu-servers, match: {namespaces: [seldon-mesh]},
   placement: {tolerations: [{key: seldon-gpu-srv, operator: Exists}]}}
reservations:
"""


def problems_of(reservations: str) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_policies_text(POLICY + textwrap.dedent(reservations).lstrip("\n"), source="policies.yaml")
    return raised.value.problems


@pytest.mark.parametrize(
    ("reservations", "problem"),
    [
        (
            "- {taint: {key: seldon-gpu-srv, effect: NoSchedul}}",
            "policies.yaml:6: reservations[0] (seldon-gpu-srv).taint.effect: must be NoSchedule, PreferNoSchedule or NoExecute",
        ),
        (
            "- {taint: {key: 'bad key'}}",
            "policies.yaml:6: reservations[0] (bad key).taint.key: \"bad key\": name part must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        ),
        (
            "- {taint: {effect: NoSchedule}}",
            "policies.yaml:6: reservations[0].taint.key: required field is missing",
        ),
        (
            "- {taint: {key: seldon-gpu-srv, value: true}}",
            'policies.yaml:6: reservations[0] (seldon-gpu-srv).taint.value: must be a string (quote YAML values such as "true" or "1")',
        ),
        (
            "- {taint: {key: seldon-gpu-srv, value: 'a b'}}",
            "policies.yaml:6: reservations[0] (seldon-gpu-srv).taint.value: must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        ),
        (
            "- {taint: {key: seldon-gpu-srv}, mode: warn}",
            "policies.yaml:6: reservations[0] (seldon-gpu-srv).mode: must be enforce or audit",
        ),
        (
            "- {taint: {key: seldon-gpu-srv}, allow: [{}]}",
            "policies.yaml:6: reservations[0] (seldon-gpu-srv).allow[0]: must set namespaces, podSelector or daemonSets (an empty rule would allow every Pod)",
        ),
        (
            "- {taint: {key: seldon-gpu-srv}, allow: [{daemonSets: false}]}",
            "policies.yaml:6: reservations[0] (seldon-gpu-srv).allow[0].daemonSets: must be true",
        ),
        (
            "- {taint: {key: seldon-gpu-srv}, allow: [{namespaces: []}]}",
            "policies.yaml:6: reservations[0] (seldon-gpu-srv).allow[0].namespaces: must not be empty; omit the field to match every Pod",
        ),
        (
            "- {taint: {key: seldon-gpu-srv}, allow: [{podSelector: {matchLabels: {app: 'a b'}}}]}",
            "policies.yaml:6: reservations[0] (seldon-gpu-srv).allow[0].podSelector.matchLabels.app: \"a b\": must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        ),
        (
            "- {taint: {key: seldon-gpu-srv}, allow: [{namespace: [a]}]}",
            "policies.yaml:6: reservations[0] (seldon-gpu-srv).allow[0].namespace: unknown field; did you mean namespaces? (see `placement-webhook schema`)",
        ),
        (
            "- {taint: {key: seldon-gpu-srv}, message: [a]}",
            'policies.yaml:6: reservations[0] (seldon-gpu-srv).message: must be a string (quote YAML values such as "true" or "1")',
        ),
    ],
)
def test_each_rule_names_line_reservation_and_field(reservations: str, problem: str) -> None:
    assert problems_of(reservations) == [problem]


def test_duplicates_are_refused_and_every_problem_is_listed_on_its_line() -> None:
    problems = problems_of("""
        - taint: {key: seldon-gpu-srv, effect: NoSchedule}
        - taint: {key: seldon-gpu-srv, effect: NoExecute}
        - taint: {key: seldon-gpu-srv, effect: NoSchedule}
          allow:
          - {namespaces: [gpu-operator]}
          - {}
        """)
    assert problems == [
        "policies.yaml:8: reservations[2] (seldon-gpu-srv).taint: duplicate of reservations[0]",
        "policies.yaml:11: reservations[2] (seldon-gpu-srv).allow[1]: must set namespaces, podSelector or daemonSets (an empty rule would allow every Pod)",
    ]


def test_reservations_are_compiled_onto_the_policy_set() -> None:
    policies = load_policies_text(
        POLICY
        + textwrap.dedent("""
        - taint: {key: seldon-gpu-srv, effect: NoSchedule}
          mode: audit
          allow: [{namespaces: [gpu-operator], daemonSets: true}, {podSelector: {matchLabels: {app: x}}}]
          message: 'ask in #ml-platform'
        - taint: {key: other, value: "true"}
        """).lstrip("\n")
    )
    first, second = policies.reservations
    assert (first.index, first.key, first.value, first.effect, first.mode) == (
        0,
        "seldon-gpu-srv",
        None,
        "NoSchedule",
        "audit",
    )
    assert first.taint == "seldon-gpu-srv:NoSchedule"
    assert [r.description for r in first.allow] == [
        "allow[0] (namespaces [gpu-operator], DaemonSet Pods)",
        "allow[1] (podSelector)",
    ]
    assert first.reservation.message == "ask in #ml-platform"
    assert (second.taint, second.mode, second.allow) == ("other=true", "enforce", ())


def test_the_bundled_policies_reserve_nothing() -> None:
    """Reserving is the platform team's decision (examples/reserved-gpu-pool.yaml shows how)."""
    assert bundled_policies().reservations == ()


def test_the_documented_reference_loads_with_its_reservation() -> None:
    """The policy-file reference in docs/policies.md, reservations included, is a valid file."""
    page = (ROOT / "docs" / "policies.md").read_text()
    reference = page.split("# The policy file\n")[1].split("```yaml\n")[1].split("```")[0]
    (reservation,) = load_policies_text(reference, source="docs/policies.md").reservations
    assert (reservation.taint, reservation.mode, reservation.reservation.message) == (
        "seldon-gpu-srv:NoSchedule",
        "enforce",
        "ask in #ml-platform",
    )
    assert [rule.description for rule in reservation.allow] == [
        "allow[0] (namespaces [gpu-operator], DaemonSet Pods)",
        "allow[1] (namespaces [monitoring], podSelector)",
    ]


def _allow_rules(allow: str) -> Any:
    policies = load_policies_text(POLICY + f"- taint: {{key: gpu, effect: NoSchedule}}\n  allow: {allow}\n")
    return policies.reservations[0].allow


def _pod(labels: dict[str, str] | None = None, owner: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "p", "labels": labels or {}}
    if owner:
        metadata["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": owner, "name": "o", "uid": "u", "controller": True}
        ]
    return {"metadata": metadata, "spec": {}}


def test_an_allow_rule_holds_when_every_one_of_its_conditions_does() -> None:
    (both,) = _allow_rules(
        "[{namespaces: [gpu-*, ops], podSelector: {matchExpressions: [{key: app, operator: In, values: [dcgm]}]}}]"
    )
    assert both.description == "allow[0] (namespaces [gpu-*, ops], podSelector)"
    assert both.holds(_pod({"app": "dcgm"}), "gpu-operator") and both.holds(_pod({"app": "dcgm"}), "ops")
    assert not both.holds(_pod({"app": "web"}), "gpu-operator")  # the selector fails
    assert not both.holds(_pod({"app": "dcgm"}), "team-a")  # the namespace fails
    assert not both.holds(_pod(), "ops")


def test_a_pod_selector_reads_the_pods_string_labels() -> None:
    (rule,) = _allow_rules("[{podSelector: {matchLabels: {app: dcgm}}, acceptForgeable: a test}]")
    assert rule.holds(_pod({"app": "dcgm", "tier": "x"}), "any")
    assert not rule.holds(_pod({"app": "web"}), "any") and not rule.holds(_pod(), "any")


def test_a_daemonsets_rule_holds_for_pods_a_daemonset_controls() -> None:
    (rule,) = _allow_rules("[{daemonSets: true, acceptForgeable: a test}]")
    assert rule.description == "allow[0] (DaemonSet Pods)"
    assert rule.holds(_pod(owner="DaemonSet"), "any")
    assert not rule.holds(_pod(owner="ReplicaSet"), "any") and not rule.holds(_pod(), "any")
    (scoped,) = _allow_rules("[{daemonSets: true, namespaces: [ops]}]")
    assert scoped.description == "allow[0] (namespaces [ops], DaemonSet Pods)"
    assert scoped.holds(_pod(owner="DaemonSet"), "ops") and not scoped.holds(_pod(owner="DaemonSet"), "web")
