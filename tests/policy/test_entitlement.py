"""Issue 23: only facts a tenant cannot forge entitle a Pod to a reserved taint. A policy (or an
allow rule) that grants one on labels, env, requests or ownerReferences alone is refused at load,
naming the policy, the taint and the forgeable fields, unless it says why (``acceptForgeable``)."""

from __future__ import annotations

import textwrap

import pytest

from tests.helpers import ROOT, admission_review, fixture, mutate
from webhook.engine.guard import guard_pod
from webhook.errors import PolicyError
from webhook.policy.loading import load_policies, load_policies_text

GPU = "{key: seldon-gpu-srv, operator: Equal, value: 'true', effect: NoSchedule}"


def policy_file(match: str, *, extra: str = "", reservation: str = "{taint: {key: seldon-gpu-srv}}") -> str:
    return textwrap.dedent(f"""\
        version: 1
        policies:
        - name: gpu-servers
          match: {match}
          placement: {{tolerations: [{GPU}]}}
        {extra}
        reservations:
        - {reservation}
        """)


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_policies_text(text, source="policies.yaml")
    return raised.value.problems


def test_a_policy_granting_a_reserved_taint_on_forgeable_fields_is_refused_in_one_line() -> None:
    assert problems(policy_file("{servers: ['*'], resources: [nvidia.com/gpu]}")) == [
        "policies.yaml:4: policies[0] (gpu-servers).match: grants the reserved taint seldon-gpu-srv"
        " (toleration seldon-gpu-srv=true:NoSchedule) in every namespace and matches on the"
        " seldon-server-name label and resource requests, which any tenant can write: add namespaces"
        " or namespaceSelector, or set acceptForgeable to the reason"
    ]


@pytest.mark.parametrize(
    ("match", "words"),
    [
        ("{}", "matches every Pod"),
        ("{namespaces: ['*']}", "matches every Pod"),
        ("{namespaces: ['**', seldon-mesh]}", "matches every Pod"),
        ("{namespaceSelector: {}}", "matches every Pod"),
        ("{serverTypes: [triton]}", "matches on the agent's SELDON_SERVER_TYPE env"),
        ("{capabilities: [gpu]}", "matches on the agent's SELDON_SERVER_CAPABILITIES env"),
        ("{podSelector: {matchLabels: {app: x}}}", "matches on Pod labels"),
    ],
)
def test_every_match_any_tenant_can_satisfy_is_refused(match: str, words: str) -> None:
    [problem] = problems(policy_file(match))
    assert f"in every namespace and {words}, which any tenant can write" in problem


@pytest.mark.parametrize(
    "match",
    [
        "{namespaces: [seldon-mesh], servers: ['*']}",
        "{namespaces: ['seldon-*']}",
        "{namespaceSelector: {matchLabels: {team: ml}}}",
        "{namespaceSelector: {matchExpressions: [{key: team, operator: Exists}]}}",
    ],
)
def test_a_match_bound_to_namespaces_may_grant_the_taint(match: str) -> None:
    assert len(load_policies_text(policy_file(match)).policies) == 1


def test_the_risk_can_be_accepted_with_a_reason_but_not_an_empty_one() -> None:
    accepted = policy_file("{servers: ['*']}").replace(
        "  placement:", "  acceptForgeable: single-tenant cluster\n  placement:"
    )
    assert load_policies_text(accepted).policies[0].policy.accept_forgeable == "single-tenant cluster"
    [problem] = problems(accepted.replace("single-tenant cluster", "''"))
    assert "acceptForgeable" in problem and "at least 1 character" in problem


@pytest.mark.parametrize(
    ("text"),
    [
        policy_file("{servers: ['*']}").replace("  placement:", "  mode: audit\n  placement:"),
        policy_file("{servers: ['*']}", reservation="{taint: {key: seldon-gpu-srv}, mode: audit}"),
        policy_file("{servers: ['*']}", reservation="{taint: {key: other-pool}}"),
    ],
    ids=["audit-policy", "audit-reservation", "another-taint"],
)
def test_what_grants_no_enforced_reserved_taint_is_not_refused(text: str) -> None:
    assert load_policies_text(text).policies


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("{podSelector: {matchLabels: {app: dcgm}}}", "by Pod labels"),
        ("{daemonSets: true}", "by DaemonSet ownerReferences"),
        ("{namespaces: ['*'], daemonSets: true}", "by DaemonSet ownerReferences"),
    ],
)
def test_an_allow_rule_any_tenant_can_satisfy_is_refused(rule: str, words: str) -> None:
    text = policy_file(
        "{namespaces: [seldon-mesh]}", reservation=f"{{taint: {{key: seldon-gpu-srv}}, allow: [{rule}]}}"
    )
    assert problems(text) == [
        f"policies.yaml:8: reservations[0] (seldon-gpu-srv).allow[0]: admits Pods to the reserved taint"
        f" seldon-gpu-srv in every namespace {words}, which any tenant can write: add namespaces, or set"
        " acceptForgeable to the reason"
    ]
    accepted = text.replace(rule, rule[:-1] + ", acceptForgeable: reviewed}")
    assert load_policies_text(accepted).reservations[0].allow


def test_the_shipped_example_binds_its_grant_to_a_namespace() -> None:
    load_policies(ROOT / "examples" / "reserved-gpu-pool.yaml")  # loads: nothing forgeable


def test_a_tenants_imitation_of_a_seldon_server_is_refused_by_the_shipped_example() -> None:
    """The issue's first attack: a training Pod in team-a labelled like a Seldon server, asking for
    8 GPUs and tolerating everything, is not placed and the guard refuses it."""
    policies = load_policies(ROOT / "examples" / "reserved-gpu-pool.yaml")
    pod = fixture("triton-gpu-0")
    pod["metadata"] = {
        "name": "train-0",
        "namespace": "team-a",
        "labels": {"seldon-server-name": "not-really"},
    }
    pod["spec"]["containers"][0].setdefault("resources", {})["limits"] = {"nvidia.com/gpu": "8"}
    pod["spec"]["tolerations"] = [{"operator": "Exists"}]
    review = mutate(admission_review(pod, namespace="team-a"), policies=policies).review
    assert review is not None and review.outcome == "unchanged"
    verdict = guard_pod(review.pod, namespace="team-a", policies=policies)
    assert verdict.outcome == "denied"
