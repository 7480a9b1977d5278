"""``validate --nodes`` and the reservations: a reserved taint on no node, a policy that tolerates
a reserved taint it does not own (its Pods fit no node carrying it)."""

from __future__ import annotations

import yaml

from tests.helpers import NODES, policies, trusting
from webhook.simulation.reachability import check_policies

GPU_POOLS = [n for n in yaml.safe_load((NODES / "gpu-pools.yaml").read_text())["items"]]
POLICIES = """
version: 1
policies:
- name: cpu-batch
  match: {namespaces: [batch]}
  placement: {tolerations: [{operator: Exists}], nodeSelector: {pool: general}}
- name: gpu-servers
  match: {servers: ["*"]}
  placement: {tolerations: [{key: seldon-gpu-srv, operator: Exists}], nodeSelector: {pool: infer-srv}}
- name: audit-wide
  match: {namespaces: [lab]}
  placement: {tolerations: [{operator: Exists}], nodeSelector: {pool: general}}
  mode: audit
reservations:
"""


def reservation_findings(reservations: str) -> list[str]:
    findings = check_policies(policies(trusting(POLICIES + reservations)), GPU_POOLS)
    return [f"{f.severity}: {f.message}" for f in findings if "reserv" in f.message]


def test_an_enforce_policy_that_tolerates_a_reserved_taint_it_does_not_own() -> None:
    assert reservation_findings("- taint: {key: seldon-gpu-srv, effect: NoSchedule}\n") == [
        "warning: cpu-batch: tolerates the reserved taint seldon-gpu-srv:NoSchedule (*) but its Pods fit no"
        " node carrying it (a100-40-1, a100-80-1, l4-1 and 1 more): the toleration only lets them past"
        " the guard; narrow it to the taints of the nodes the policy places its Pods on"
    ]  # gpu-servers owns it (its Pods land there); audit-wide only warns, so it grants nothing


def test_a_reserved_taint_on_no_node_reserves_nothing() -> None:
    assert reservation_findings(
        "- taint: {key: seldon-gpu-srv, value: 'yes'}\n"
        "- taint: {key: seldon-gpu-srv, effect: NoExecute}\n"
        "- taint: {key: seldon-gpu}\n"
    ) == [
        f"warning: reservation {taint}: no node carries this taint, so it reserves nothing (check its key, value and effect)"
        for taint in ("seldon-gpu-srv=yes", "seldon-gpu-srv:NoExecute", "seldon-gpu")
    ]


def test_an_open_value_or_effect_matches_the_nodes_taint_and_an_owned_one_says_nothing() -> None:
    owned = (
        "- taint: {key: seldon-gpu-srv}\n- taint: {key: seldon-gpu-srv, value: 'true', effect: NoSchedule}\n"
    )
    assert all(f.startswith("warning: cpu-batch:") for f in reservation_findings(owned))
    assert len(reservation_findings(owned)) == 2
    control_plane = "- taint: {key: node-role.kubernetes.io/control-plane}\n"
    assert reservation_findings(control_plane) == [
        "warning: cpu-batch: tolerates the reserved taint node-role.kubernetes.io/control-plane (*) but its"
        " Pods fit no node carrying it (control-plane-1): the toleration only lets them past the guard;"
        " narrow it to the taints of the nodes the policy places its Pods on"
    ]
