"""``native-guard`` prints what the server applies: the compiled policies and bindings as one List."""

from __future__ import annotations

import pytest
import yaml

from tests.helpers import ROOT
from webhook.cli.main import main
from webhook.native import compile_guard_policy
from webhook.policy.loading import load_policies

RESERVED = ROOT / "examples" / "reserved-gpu-pool.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_it_prints_the_compiled_objects_as_one_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "native-guard", "--policies", str(RESERVED), "--exclude-namespace", "pw")
    assert (code, err) == (0, "")
    printed = yaml.safe_load(out)
    expected = compile_guard_policy(load_policies(RESERVED), excluded_namespaces=["kube-system", "pw"])
    assert printed == {"apiVersion": "v1", "kind": "List", "items": expected}
    code, out, _ = run(capsys, "native-guard", "--policies", str(RESERVED), "-o", "json", "--name", "g")
    assert [o["metadata"]["name"] for o in yaml.safe_load(out)["items"]] == ["g", "g"]


def test_without_reservations_an_empty_list_and_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "native-guard", "--policies", str(ROOT / "policies.yaml"))
    assert code == 0 and yaml.safe_load(out)["items"] == []
    assert err == f"note: {ROOT / 'policies.yaml'}: no reservations: no native guard to install\n"


def test_bad_input_is_refused_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "native-guard", "--policies", "/nonexistent/policies.yaml")
    assert code == 2 and err.startswith("error: /nonexistent/policies.yaml: cannot read")
    with pytest.raises(SystemExit) as usage:
        run(capsys, "native-guard", "--exclude-namespace", "Not_A_Name")
    assert usage.value.code == 2
    assert 'invalid namespace "Not_A_Name"' in capsys.readouterr().err
