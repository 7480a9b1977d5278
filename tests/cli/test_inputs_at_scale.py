"""Inputs sized for whole-cluster exports: the input limit, and JSON and YAML exports read alike.

A ``kubectl get pods -A -o json`` export is read as JSON, its YAML twin as YAML; the audit of
either says the same. The limit on manifest inputs (not the policy file's) has room for a
10,000-Pod export; a larger input is refused with a message naming the limit and how to raise it.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import BUNDLED_POLICIES, fixture
from webhook.cli.files import LIMIT_VARIABLE, MAX_INPUT_BYTES
from webhook.cli.main import main

POLICIES = ["--policies", str(BUNDLED_POLICIES)]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def export(count: int) -> dict[str, Any]:
    """A ``kubectl get pods -A -o json``-shaped List of Seldon server Pods."""
    items, templates = [], [fixture("triton-gpu-0"), fixture("mlserver-0")]
    for i in range(count):
        pod = copy.deepcopy(templates[i % 2])
        pod["metadata"].update(name=f"srv-{i // 4}-{i % 4}", namespace=f"team-{i % 7}", uid=f"uid-{i}")
        pod["metadata"]["labels"]["seldon-server-name"] = f"srv-{i // 4}"
        items.append(pod)
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def test_a_json_export_and_its_yaml_twin_audit_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = export(150)
    as_json, as_yaml = tmp_path / "pods.json", tmp_path / "pods.yaml"
    as_json.write_text(json.dumps(listing, indent=4))
    as_yaml.write_text(yaml.safe_dump(listing))
    results = [run(capsys, "audit", str(path), *POLICIES, "-o", "json") for path in (as_json, as_yaml)]
    (code_json, out_json, _), (code_yaml, out_yaml, _) = results
    assert code_json == code_yaml == 1
    first, second = json.loads(out_json), json.loads(out_yaml)
    assert first.pop("source") == str(as_json) and second.pop("source") == str(as_yaml)
    assert first == second and first["audited"] == 150


def test_the_input_limit_names_itself_and_how_to_raise_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert MAX_INPUT_BYTES >= 200 * 1024 * 1024  # a 10,000-Pod export (~75 MB) and its YAML twin
    pods = tmp_path / "pods.json"
    pods.write_text(json.dumps(export(2)))
    monkeypatch.setenv(LIMIT_VARIABLE, "1000")
    message = f"over the 1000 byte input limit (set {LIMIT_VARIABLE} to a larger number of bytes)"
    code, _, err = run(capsys, "review", str(pods), *POLICIES)
    assert code == 2 and f"{pods}: {message}" in err
    monkeypatch.setattr("sys.stdin", io.StringIO(pods.read_text()))
    code, _, err = run(capsys, "review", "-", *POLICIES)
    assert code == 2 and f"<stdin>: {message}" in err
    monkeypatch.setenv(LIMIT_VARIABLE, str(pods.stat().st_size))
    code, out, _ = run(capsys, "review", str(pods), *POLICIES)
    assert code == 0 and out.count("Pod team-") == 2


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_a_limit_that_is_no_byte_count_is_refused(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pods = tmp_path / "pods.json"
    pods.write_text(json.dumps(export(1)))
    monkeypatch.setenv(LIMIT_VARIABLE, value)
    code, _, err = run(capsys, "review", str(pods), *POLICIES)
    assert code == 2 and f"{LIMIT_VARIABLE}={value}: must be a positive number of bytes" in err
