"""The policy file's ``reservations``: every rule names file line, reservation (by taint key) and field."""

from __future__ import annotations

import textwrap

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
