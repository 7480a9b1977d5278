"""``simulate`` models the reservation guard (issue 23): a Pod ``/validate`` would refuse is never
created, so it fits no node after the policies, whatever the scheduler would have done with it."""

from __future__ import annotations

from tests.helpers import CASES, FIXTURES, NODES, ROOT
from webhook.cli.files import read_nodes, read_subjects
from webhook.policy.loading import load_policies
from webhook.simulation.simulate import render_simulation, simulate_subject, simulation_json

RESERVED = load_policies(ROOT / "examples" / "reserved-gpu-pool.yaml")
GPU_POOLS = read_nodes(str(NODES / "gpu-pools.yaml"))[0]


def test_a_stowaway_the_guard_refuses_fits_no_node() -> None:
    [stowaway] = read_subjects(str(CASES / "guard-refuses-a-stowaway" / "pod.yaml"))
    result = simulate_subject(stowaway, nodes=GPU_POOLS, policies=RESERVED)
    assert result.after is None and result.guard_refusal is not None
    assert "tolerates the reserved taint seldon-gpu-srv:NoSchedule" in result.guard_refusal
    assert result.problems == [f"refused by the guard: {result.guard_refusal}"]
    assert all(f.fits for f in result.before)  # the scheduler alone would have let it in anywhere
    lines = render_simulation(result)
    assert "fits: 7 of 7 nodes before, - after" in lines[-2]
    assert all(line.rstrip().endswith("not created (refused by the guard)") for line in lines[3:10])
    assert simulation_json(result)["guardRefusal"] == result.guard_refusal


def test_a_server_the_guard_admits_is_simulated_as_before() -> None:
    [server] = read_subjects(str(FIXTURES / "triton-gpu-0.yaml"))
    result = simulate_subject(server, nodes=GPU_POOLS, policies=RESERVED)
    assert result.guard_refusal is None and result.after is not None
    assert sum(f.fits for f in result.after) == 3 and result.problems == []
    assert simulation_json(result)["guardRefusal"] is None
