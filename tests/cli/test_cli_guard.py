"""The offline tools and the reservation guard: ``review`` shows the verdict, ``test`` cases expect
it, ``validate --nodes`` checks the reservations against the nodes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import CASES, FIXTURES, ROOT, admission_review, fixture
from webhook.cli.main import main

RESERVED = str(ROOT / "examples" / "reserved-gpu-pool.yaml")
STOWAWAY = str(CASES / "guard-refuses-a-stowaway" / "pod.yaml")
ACCESS = (
    "to run on the GPU pool, deploy a Seldon Server that requests nvidia.com/gpu, or ask the platform team"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_review_shows_the_guard_refusing_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "review", STOWAWAY, "--policies", RESERVED)
    assert (code, err) == (1, "")
    assert out.splitlines()[-4:] == [
        "  outcome: unchanged",
        "  guard: denied",
        "  reserved: seldon-gpu-srv:NoSchedule (toleration *): refused",
        "  denied: placement-webhook: Pod team-a/batch-1 tolerates the reserved taint seldon-gpu-srv:NoSchedule"
        " (toleration *), but no enforce policy places it there and no allow rule admits it; " + ACCESS,
    ]


def test_review_judges_the_gpu_server_after_its_mutation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "review", str(FIXTURES / "triton-gpu-0.yaml"), "--policies", RESERVED)
    assert code == 0
    assert out.splitlines()[-2:] == [
        "  guard: allowed",
        "  reserved: seldon-gpu-srv:NoSchedule (toleration seldon-gpu-srv=true:NoSchedule): policy gpu-servers",
    ]


def test_review_of_updates_and_of_an_untouched_pod(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    old = yaml.safe_load(Path(STOWAWAY).read_text())
    old["spec"]["tolerations"] = []
    new = yaml.safe_load(Path(STOWAWAY).read_text())
    reviews = [
        admission_review(new, operation="UPDATE", oldObject=old, namespace="team-a"),
        admission_review(new, operation="UPDATE", oldObject=new, namespace="team-a"),
        admission_review(new, operation="UPDATE", namespace="team-a"),  # no oldObject: the server's 400
        admission_review(fixture("mlserver-0")),
    ]
    path = tmp_path / "reviews.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": reviews}))
    code, out, _ = run(capsys, "review", str(path), "--policies", RESERVED)
    assert code == 1
    guard = [line for line in out.splitlines() if line.startswith(("  guard", "  reserved"))]
    assert guard == [
        "  guard: denied",
        "  reserved: seldon-gpu-srv:NoSchedule (toleration *): refused",
        "  guard: allowed",
        "  reserved: seldon-gpu-srv:NoSchedule (toleration *): the update adds no toleration of it",
        "  guard: malformed request (400: request.oldObject: a Pod UPDATE must carry the old Pod object)",
        "  guard: untouched (tolerates no reserved taint)",
    ]
    assert "placement-webhook: Pod team-a/batch-1 is updated to tolerate the reserved taint" in out


def test_without_reservations_review_says_nothing_of_the_guard(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "review", STOWAWAY)
    assert code == 0 and "guard" not in out and "reserved" not in out


def test_a_test_case_that_expects_the_wrong_guard_outcome_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    case = tmp_path / "case"
    shutil.copytree(CASES / "guard-refuses-a-stowaway", case)
    case_file = case / "placement-test.yaml"
    spec = yaml.safe_load(case_file.read_text())
    spec["policies"] = RESERVED
    spec["expect"].update(guard="allowed")
    spec["expect"].pop("guardDenied")
    case_file.write_text(yaml.safe_dump(spec))
    code, out, _ = run(capsys, "test", str(tmp_path))
    assert code == 1
    lines = out.splitlines()
    assert lines[1] == (
        "     guard: expected allowed, got denied (placement-webhook: Pod team-a/batch-1 tolerates the reserved"
        " taint seldon-gpu-srv:NoSchedule (toleration *), but no enforce policy places it there and no allow"
        " rule admits it; " + ACCESS + ")"
    )
    spec["expect"].update(guard="denied", guardDenied="no such text")
    case_file.write_text(yaml.safe_dump(spec))
    code, out, _ = run(capsys, "test", str(tmp_path))
    assert code == 1
    assert out.splitlines()[1].startswith(
        '     expected a guard denial containing "no such text", got "placement-webhook: Pod'
    )
    spec["expect"]["guard"] = "maybe"
    case_file.write_text(yaml.safe_dump(spec))
    code, out, _ = run(capsys, "test", str(tmp_path))
    assert code == 1 and "expect.guard: must be allowed, denied, audit or untouched (got maybe)" in out


def test_validate_counts_the_reservations(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "validate", RESERVED)
    assert (code, out) == (
        0,
        f"{RESERVED}: 1 policy valid (1 enforce, 0 audit); 1 reservation (1 enforce, 0 audit)\n",
    )
    two = tmp_path / "two.yaml"
    two.write_text(
        Path(RESERVED).read_text() + "- taint: {key: tpu}\n  mode: audit\n  allow: [{namespaces: [ml]}]\n"
    )
    code, out, _ = run(capsys, "validate", str(two), "-o", "json")
    assert code == 0 and json.loads(out)["reservations"] == {"count": 2, "enforce": 1, "audit": 1}
    code, out, _ = run(capsys, "validate", str(ROOT / "policies.yaml"), "-o", "json")
    assert code == 0 and json.loads(out)["reservations"] == {"count": 0, "enforce": 0, "audit": 0}


def test_validate_nodes_warns_about_the_reservations(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = (
        Path(RESERVED)
        .read_text()
        .replace("{key: seldon-gpu-srv, effect: NoSchedule}", "{key: seldon-gpu, effect: NoSchedule}")
    )
    policies = tmp_path / "policies.yaml"
    policies.write_text(text)
    nodes = str(ROOT / "tests" / "nodes" / "gpu-pools.yaml")
    code, out, _ = run(capsys, "validate", "--policies", str(policies), "--nodes", nodes, "--strict")
    assert code == 1
    assert (
        "  warning: reservation seldon-gpu:NoSchedule: no node carries this taint, so it reserves nothing (check its key, value and effect)"
        in out.splitlines()
    )


def test_review_names_why_the_guard_skips_a_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The guard's own reason (it judges Pod CREATE and UPDATE), not /mutate's (CREATE only)."""
    pod = yaml.safe_load(Path(STOWAWAY).read_text())
    reviews = [
        admission_review(pod, operation="UPDATE", oldObject=pod, namespace="team-a", subResource="status"),
        admission_review(None, operation="DELETE", oldObject=pod, namespace="team-a"),
    ]
    path = tmp_path / "reviews.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": reviews}))
    code, out, _ = run(capsys, "review", str(path), "--policies", RESERVED)
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("  guard")] == [
        "  guard: skipped (not a Pod CREATE or UPDATE: subresource status)",
        "  guard: skipped (not a Pod CREATE or UPDATE: operation DELETE)",
    ]


def bound_stowaway(tmp_path: Path, node: str) -> str:
    pod = yaml.safe_load(Path(STOWAWAY).read_text())
    pod["spec"] = {"containers": pod["spec"]["containers"], "nodeName": node}  # no toleration at all
    path = tmp_path / f"bound-{node}.yaml"
    path.write_text(yaml.safe_dump(pod))
    return str(path)


def test_review_judges_a_pod_bound_to_a_node_by_the_nodes_taints(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    nodes = str(FIXTURES / "nodes.yaml")
    code, out, _ = run(
        capsys, "review", bound_stowaway(tmp_path, "gpu-node-1"), "--policies", RESERVED, "--nodes", nodes
    )
    assert code == 1
    assert out.splitlines()[-3:] == [
        "  guard: denied",
        "  reserved: seldon-gpu-srv:NoSchedule (spec.nodeName gpu-node-1): refused",
        "  denied: placement-webhook: Pod team-a/batch-1 names node gpu-node-1 in spec.nodeName, skipping the"
        " scheduler, and that node carries the reserved taint seldon-gpu-srv:NoSchedule, but no enforce policy"
        " places it there and no allow rule admits it; " + ACCESS,
    ]
    code, out, _ = run(
        capsys, "review", bound_stowaway(tmp_path, "cpu-node-1"), "--policies", RESERVED, "--nodes", nodes
    )
    assert code == 0 and out.splitlines()[-1] == "  guard: untouched (tolerates no reserved taint)"


def test_review_of_a_pod_bound_to_an_unknown_node_gives_no_answer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "review", bound_stowaway(tmp_path, "gpu-new"), "--policies", RESERVED)
    assert code == 1
    assert out.splitlines()[-1] == (
        "  guard: no answer (the server answers 502: the taints of node 'gpu-new' (the Pod's spec.nodeName)"
        " are unknown: give them with --nodes FILE or --cluster); the chart's nodeName webhook fails closed,"
        " so the Pod is refused"
    )
    code, _, err = run(
        capsys, "review", bound_stowaway(tmp_path, "gpu-new"), "--policies", RESERVED, "-o", "yaml"
    )
    assert code == 1
    assert err == (
        "error: Pod team-a/batch-1 refused: the reservation guard cannot judge it: the taints of node 'gpu-new'"
        " (the Pod's spec.nodeName) are unknown: give them with --nodes FILE or --cluster\n"
    )


def test_simulate_judges_a_bound_pod_by_its_node(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    def guard_refusal(node: str) -> str:
        pod = bound_stowaway(tmp_path, node)
        _, out, _ = run(
            capsys,
            "simulate",
            pod,
            "--policies",
            RESERVED,
            "--nodes",
            str(FIXTURES / "nodes.yaml"),
            "-o",
            "json",
        )
        (result,) = json.loads(out)["pods"]
        return str(result["guardRefusal"])

    assert "names node gpu-node-1 in spec.nodeName" in guard_refusal("gpu-node-1")
    assert guard_refusal("gpu-new") == (
        "the guard cannot judge it: the taints of node 'gpu-new' (the Pod's spec.nodeName) are unknown"
        " (not among the nodes)"
    )
