"""The compiled policy set (``webhook/policy/compiled.py``): the candidates a Pod may match by
namespace and server name, remembered per pair and kept with the set's source and reservations."""

from __future__ import annotations

import pytest

from webhook.engine.matching import mismatch_reason
from webhook.errors import PolicyError
from webhook.kube.objects import read_pod_facts
from webhook.policy import compiled
from webhook.policy.loading import load_policies_text

TEXT = """\
version: 1
policies:
- {name: mesh, match: {namespaces: [seldon-mesh]}, placement: {nodeSelector: {pool: a}}}
- {name: triton, match: {servers: [triton-*]}, placement: {nodeSelector: {pool: b}}}
- {name: all, placement: {nodeSelector: {pool: c}}}
reservations:
- taint: {key: gpu, effect: NoSchedule}
"""


def test_candidates_keep_the_order_the_source_and_the_reservations() -> None:
    policies = load_policies_text(TEXT, source="p.yaml")
    found = policies.candidates("seldon-mesh", "triton-gpu")
    assert [p.name for p in found.policies] == ["mesh", "triton", "all"]
    assert (found.source, found.reservations) == ("p.yaml", policies.reservations) and found.reservations
    assert [p.name for p in policies.candidates("team-a", None).policies] == ["all"]
    assert [p.name for p in policies.candidates("team-a", "triton-x").policies] == ["triton", "all"]


def test_candidates_are_remembered_per_pair_and_forgotten_all_at_once_when_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policies = load_policies_text(TEXT, source="p.yaml")
    first = policies.candidates("seldon-mesh", None)
    assert policies.candidates("seldon-mesh", None) is first
    assert policies.candidates("seldon-mesh", "x") is not first
    monkeypatch.setattr(compiled, "MEMO_ENTRIES", 3)
    policies.candidates("a", None)  # the third entry: the memo is full now
    assert policies.candidates("seldon-mesh", None) is first
    policies.candidates("b", None)  # a fourth pair clears it first
    assert policies.candidates("seldon-mesh", None) is not first


def test_the_set_knows_its_source_and_each_policy_its_index() -> None:
    policies = load_policies_text(TEXT, source="p.yaml")
    assert policies.source == "p.yaml"
    assert [(p.index, p.name) for p in policies.policies] == [(0, "mesh"), (1, "triton"), (2, "all")]


def test_a_pod_without_server_label_matches_no_server_pattern() -> None:
    policies = load_policies_text(
        "version: 1\npolicies:\n- name: p\n  match: {servers: [X*, '*']}\n  placement: {nodeSelector: {pool: gpu}}\n"
    )
    unlabelled = read_pod_facts({"metadata": {"name": "web"}, "spec": {}}, namespace="ns")
    assert unlabelled.server_name is None
    assert (
        mismatch_reason(policies.policies[0], unlabelled)
        == "not a Seldon server Pod (no seldon-server-name label)"  # that criterion comes first
    )


def test_a_value_in_a_message_is_quoted_as_json_without_escaping_unicode() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policies_text("version: 1\npolicies:\n- name: p\n  placement: {nodeSelector: {pool: gpü}}\n")
    assert 'nodeSelector.pool: "gpü": must be' in str(caught.value)
