"""``simulate``'s own notes and its node table (``webhook/simulation/simulate.py``): a policy
toleration the Pod already has is said, not silently dropped; ORed affinity failures are
summarised and cut to the table's width."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import minimal_pod, one_policy, policies
from webhook.engine.documents import Subject
from webhook.errors import NamespaceLabelsUnknownError
from webhook.simulation.simulate import render_simulation, simulate_subject

TOLERATING = one_policy(
    "{nodeSelector: {pool: gpu}, tolerations: [{key: new, operator: Exists},"
    " {key: gpu, operator: Exists, effect: NoSchedule}, {key: other, operator: Equal, value: x, effect: NoExecute}]}"
)


def node(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {},
        "status": {"allocatable": {"cpu": "4"}},
    }


def simulated(pod: dict[str, Any], nodes: list[dict[str, Any]], policy_set: Any = TOLERATING) -> Any:
    return simulate_subject(Subject(pod, "ns", "p.yaml"), nodes=nodes, policies=policy_set)


def test_a_policy_toleration_the_pod_already_has_is_a_note_naming_what_covers_it() -> None:
    pod = minimal_pod(
        tolerations=[
            {"operator": "Exists", "effect": "NoSchedule"},
            {
                "key": "gpu",
                "operator": "Equal",
                "value": "true",
                "effect": "NoSchedule",
            },  # covers only "true"
            {"key": "gpu", "operator": "Exists"},
            {"key": "other", "operator": "Exists"},
        ]
    )
    result = simulated(pod, [node("n1", pool="gpu")])
    assert result.review.outcome == "patched" and result.review.plan.tolerations == [
        {"key": "new", "operator": "Exists"}
    ]
    assert result.notes == [
        "policy p: toleration gpu:NoSchedule not added: the Pod already tolerates it (toleration *:NoSchedule, gpu)",
        "policy p: toleration other=x:NoExecute not added: the Pod already tolerates it (toleration other)",
    ]
    assert render_simulation(result)[-2:] == [f"  note: {note}" for note in result.notes]


def test_no_note_when_every_toleration_is_added_nothing_matched_or_the_plan_conflicts() -> None:
    assert simulated(minimal_pod(), [node("n1", pool="gpu")]).notes == []
    unmatched = one_policy("{tolerations: [{key: gpu, operator: Exists}]}", match="{servers: [nobody]}")
    assert simulated(minimal_pod(tolerations=[{"operator": "Exists"}]), [node("n1")], unmatched).notes == []
    conflicting = minimal_pod(nodeSelector={"pool": "cpu"}, tolerations=[{"operator": "Exists"}])
    result = simulated(conflicting, [node("n1", pool="gpu")])
    assert result.review.plan is not None and result.review.plan.has_conflict
    assert not [n for n in result.notes if "not added" in n]


def _failing_terms(count: int) -> dict[str, Any]:
    terms = [
        {"matchExpressions": [{"key": f"zone-{i}", "operator": "In", "values": [f"value-{i}"]}]}
        for i in range(count)
    ]
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}


NOBODY = one_policy("{nodeSelector: {pool: gpu}}", match="{servers: [nobody]}")


def test_ored_affinity_failures_are_counted_and_cut_to_the_tables_width() -> None:
    nodes = [node("a-very-long-node-name-indeed", pool="cpu"), node("n2", **{"zone-0": "value-0"})]
    lines = render_simulation(simulated(minimal_pod(affinity=_failing_terms(3)), nodes, NOBODY))
    cell = "affinity: 3 terms fail: zone-0 In [value-0…"  # (120 - 2 - 28 - 4) // 2 = 43 characters
    assert len(cell) == 43
    assert lines[2:5] == [
        "  NODE                          BEFORE" + " " * 39 + "AFTER",
        f"  a-very-long-node-name-indeed  {cell}  {cell}",
        "  n2                            fits" + " " * 41 + "fits",
    ]


def test_a_narrow_node_column_leaves_wider_cells() -> None:
    lines = render_simulation(simulated(minimal_pod(affinity=_failing_terms(2)), [node("n1")], NOBODY))
    cell = "affinity: 2 terms fail: zone-0 In [value-0] (no zone-0…"  # (120 - 2 - len("NODE") - 4) // 2
    assert len(cell) == 55
    assert lines[3] == f"  n1    {cell}  {cell}"
    assert lines[-1] == "  problem: fits no node"


def test_a_short_failure_is_kept_whole() -> None:
    lines = render_simulation(simulated(minimal_pod(nodeSelector={"zone": "a"}), [node("n1")], NOBODY))
    assert lines[2:4] == [
        "  NODE  BEFORE                               AFTER",
        "  n1    nodeSelector zone=a (no zone label)  nodeSelector zone=a (no zone label)",
    ]


BY_TEAM = policies("""
    version: 1
    policies:
    - name: nlp
      match: {namespaceSelector: {matchLabels: {team: nlp}}}
      placement: {nodeSelector: {pool: gpu}}
    """)


def test_the_namespace_labels_decide_the_policy_and_unknown_ones_give_no_answer() -> None:
    subject = Subject(minimal_pod(), "team-a", "p.yaml")
    nodes = [node("n1", pool="gpu")]
    placed = simulate_subject(subject, nodes=nodes, policies=BY_TEAM, namespace_labels={"team": "nlp"})
    assert (placed.review.policy, placed.review.outcome, placed.problems) == ("nlp", "patched", [])
    other = simulate_subject(subject, nodes=nodes, policies=BY_TEAM, namespace_labels={"team": "cv"})
    assert (other.review.policy, other.review.outcome) == (None, "unchanged")
    with pytest.raises(NamespaceLabelsUnknownError):
        simulate_subject(subject, nodes=nodes, policies=BY_TEAM)


def test_a_denied_pod_is_simulated_before_only() -> None:
    subject = Subject(minimal_pod(nodeSelector={"pool": "cpu"}), "ns", "p.yaml")
    deny = one_policy("{nodeSelector: {pool: gpu}}", extra="onConflict: deny")
    result = simulate_subject(subject, nodes=[node("n1", pool="cpu")], policies=deny)
    assert (result.subject, result.review.outcome, result.after) == (subject, "denied", None)
    assert [f.node for f in result.before] == ["n1"] and result.before[0].fits
    assert result.problems == [
        "denied: placement-webhook: policy p conflicts with the Pod's own placement on pool"
    ]


def test_an_audit_reservation_is_a_guard_note_without_the_prefix() -> None:
    audit = policies("""
        version: 1
        policies: []
        reservations:
        - taint: {key: gpu, effect: NoSchedule}
          mode: audit
        """)
    subject = Subject(minimal_pod(tolerations=[{"key": "gpu", "operator": "Exists"}]), "ns", "p.yaml")
    result = simulate_subject(subject, nodes=[node("n1")], policies=audit)
    assert len(result.notes) == 1 and result.notes[0].startswith(
        "guard: audit: Pod ns/srv-0 tolerates the reserved"
    )
