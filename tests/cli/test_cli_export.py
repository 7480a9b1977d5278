"""``export`` prints native mode whole, or refuses a file with a policy that cannot run natively."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import ROOT
from webhook.cli.main import main

RESERVED = ROOT / "examples" / "reserved-gpu-pool.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_it_prints_placement_conflicts_and_guard_as_one_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "export", "--policies", str(RESERVED), "--exclude-namespace", "pw")
    assert (code, err) == (0, "")
    listed = yaml.safe_load(out)
    assert listed["kind"] == "List"
    assert [(o["kind"], o["metadata"]["name"]) for o in listed["items"]] == [
        ("MutatingAdmissionPolicy", "placement-webhook"),
        ("MutatingAdmissionPolicyBinding", "placement-webhook"),
        ("ValidatingAdmissionPolicy", "placement-webhook-warn"),
        ("ValidatingAdmissionPolicyBinding", "placement-webhook-warn"),
        ("ValidatingAdmissionPolicy", "placement-webhook-guard"),
        ("ValidatingAdmissionPolicyBinding", "placement-webhook-guard"),
    ]
    for binding in listed["items"][1::2]:
        assert binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0]["values"] == [
            "kube-system",
            "pw",
        ]


def test_json_output_and_another_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "export", "--policies", str(RESERVED), "-o", "json", "--name", "np")
    names = [o["metadata"]["name"] for o in json.loads(out)["items"]]
    assert code == 0 and names[0] == "np" and "np-guard" in names


def test_a_file_with_an_audit_policy_is_refused_with_the_policy_and_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "export", "--policies", str(ROOT / "policies.yaml"))
    assert code == 1 and out == ""
    assert err.startswith(
        f"error: {ROOT / 'policies.yaml'}: policy mig-servers cannot run natively: audit mode"
    )


def test_validate_says_which_policies_can_run_natively(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "--native", str(ROOT / "policies.yaml"))
    assert code == 0 and "note: native mode: policy mig-servers cannot run natively: audit mode" in out
    code, out, _ = run(capsys, "validate", "--native", str(RESERVED))
    assert "note: native mode: every policy can run natively (placement-webhook export)" in out
    code, out, _ = run(capsys, "validate", "--native", str(ROOT / "policies.yaml"), "-o", "json")
    assert json.loads(out)["native"]["supported"] is False


def test_without_audit_leaves_the_audit_policies_out_and_names_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "export", "--policies", str(ROOT / "policies.yaml"), "--without-audit")
    assert code == 0
    assert err.startswith(
        f"note: {ROOT / 'policies.yaml'}: policy mig-servers cannot run natively: audit mode"
    )
    mutating = yaml.safe_load(out)["items"][0]
    assert mutating["kind"] == "MutatingAdmissionPolicy" and "mig" not in json.dumps(mutating)
    assert "gpu-servers" in json.dumps(mutating)
