"""The test case file (``placement-test.yaml``): strict, every problem at once with file, line and
field; a JSON Schema shipped and current; a Pod mismatch shown with both values (issue 28)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.helpers import CASES, ROOT
from webhook.cli.main import main
from webhook.cli.policytests import run_case
from webhook.cli.testcase import case_file_schema

CASE = CASES / "gpu-server-patched"


def write_case(tmp_path: Path, text: str) -> Path:
    """A case file beside copies of gpu-server-patched's inputs (its policies: the bundled ones)."""
    folder = tmp_path / "case"
    shutil.copytree(CASE, folder)
    shutil.copy(ROOT / "policies.yaml", folder / "policies.yaml")
    path = folder / "placement-test.yaml"
    path.write_text(text)
    return path


def failures(tmp_path: Path, text: str) -> list[str]:
    path = write_case(tmp_path, text)
    return [f.replace(f"{path}", "F") for f in run_case(path).failures]


HEAD = "name: c\ninput: pod.yaml\n"


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        (
            "expect:\n  outcome: pached\n",
            [
                "F:4: expect.outcome: must be patched, unchanged, audit, conflict, denied or malformed"
                " (got pached)"
            ],
        ),
        (
            "expect: {}\n",
            ["F:3: expect: give at least one of outcome, policy, pod, warnings, denied, guard, guardDenied"],
        ),
        ("expect:\n  outcom: patched\n", ["F:4: expect.outcom: unknown field (did you mean outcome?)"]),
        (
            "expect:\n  guard_denied: x\n",
            ["F:4: expect.guard_denied: unknown field (did you mean guardDenied?)"],
        ),
        (
            "nameSpace: x\nexpect: {outcome: patched}\n",
            ["F:3: nameSpace: unknown field (did you mean namespace?)"],
        ),
        (
            "colour: x\nexpect: {outcome: patched}\n",
            ["F:3: colour: unknown field (see `placement-webhook schema --test-case`)"],
        ),
        (
            "expect:\n  outcome: null\n",
            ["F:4: expect.outcome: must not be null (leave the field out instead)"],
        ),
        ("expect:\n  denied: ''\n", ["F:4: expect.denied: must not be empty"]),
        (
            "expect:\n  warnings: [1]\n",
            ['F:4: expect.warnings[0]: must be a string (got 1; quote YAML values such as "true" or "1")'],
        ),
        (
            "expect:\n  outcome: patched\n  denied: conflicts\n",
            ["F:5: expect.denied: a denial is expected, but outcome is patched"],
        ),
        (
            "expect:\n  guard: allowed\n  guardDenied: reserved\n",
            ["F:5: expect.guardDenied: a guard denial is expected, but guard is allowed"],
        ),
        (
            "namespace: Other_NS\nexpect: {outcome: patched}\n",
            ["F:3: namespace: must be a lowercase RFC 1123 label: a-z, 0-9 and '-', at most 63 characters"],
        ),
        (
            "namespaceLabels: {team: 5}\nexpect: {outcome: patched}\n",
            ['F:3: namespaceLabels.team: must be a string (got 5; quote YAML values such as "true" or "1")'],
        ),
        (
            "namespaceLabels: {'a b': x}\nexpect: {outcome: patched}\n",
            [
                "F:3: namespaceLabels.a b: key name part must be at most 63 characters of alphanumerics,"
                " '-', '_' or '.', starting and ending with an alphanumeric"
            ],
        ),
    ],
)
def test_a_case_is_checked_strictly_with_file_line_and_field(
    tmp_path: Path, body: str, problems: list[str]
) -> None:
    assert failures(tmp_path, HEAD + body) == problems


def test_every_problem_of_a_case_at_once_in_file_order(tmp_path: Path) -> None:
    text = "name: 5\ninput: pod.yaml\nextra: 1\nexpect:\n  outcome: pached\n  guard: maybe\n  wishes: [x]\n"
    assert failures(tmp_path, text) == [
        'F:1: name: must be a string (got 5; quote YAML values such as "true" or "1")',
        "F:3: extra: unknown field (see `placement-webhook schema --test-case`)",
        "F:5: expect.outcome: must be patched, unchanged, audit, conflict, denied or malformed (got pached)",
        "F:6: expect.guard: must be allowed, denied, audit or untouched (got maybe)",
        "F:7: expect.wishes: unknown field (see `placement-webhook schema --test-case`)",
    ]


def test_a_missing_field_is_named_at_its_parent(tmp_path: Path) -> None:
    assert failures(tmp_path, "name: c\n") == [
        "F:1: input: required field is missing",
        "F:1: expect: required field is missing",
    ]


def test_a_pod_mismatch_shows_expected_and_actual_values(tmp_path: Path) -> None:
    """The expected Pod is the input: the differences are what the policy added, with values."""
    annotation, toleration, affinity = failures(tmp_path, HEAD + "expect: {pod: pod.yaml}\n")
    assert annotation == (
        'pod differs from pod.yaml at /metadata/annotations/placement-webhook.io~1policy: expected (absent), got "gpu-servers"'
    )
    assert toleration == (
        "pod differs from pod.yaml at /spec/tolerations/2: expected (absent), got"
        ' {"key":"seldon-gpu-srv","operator":"Equal","value":"true","effect":"NoSchedule"}'
    )
    assert affinity.startswith("pod differs from pod.yaml at /spec/affinity: expected (absent), got {")
    assert affinity.endswith("…") and len(affinity.split("got ", 1)[1]) == 120  # long values are cut


def test_a_pod_mismatch_in_type_only_is_one(tmp_path: Path) -> None:
    """JSON compares ``1`` and ``true`` as different (Python's ``==`` does not)."""
    path = write_case(tmp_path, HEAD + "expect: {pod: expected.yaml}\n")
    expected = yaml.safe_load((path.parent / "expected.yaml").read_text())
    assert run_case(path).failures == []
    expected["spec"]["tolerations"][0]["tolerationSeconds"] = True
    mutated = yaml.safe_load((path.parent / "expected.yaml").read_text())
    mutated["spec"]["tolerations"][0]["tolerationSeconds"] = 1
    (path.parent / "input.yaml").write_text(yaml.safe_dump(mutated))
    (path.parent / "expected.yaml").write_text(yaml.safe_dump(expected))
    path.write_text(HEAD.replace("pod.yaml", "input.yaml") + "expect: {pod: expected.yaml}\n")
    [failure] = run_case(path).failures
    assert (
        failure
        == "pod differs from expected.yaml at /spec/tolerations/0/tolerationSeconds: expected true, got 1"
    )


def test_an_empty_warnings_list_expects_no_warning(tmp_path: Path) -> None:
    assert failures(tmp_path, HEAD + "expect: {outcome: patched, warnings: []}\n") == []
    conflict = tmp_path / "conflict"
    shutil.copytree(CASES / "conflict-warns", conflict)
    shutil.copy(ROOT / "policies.yaml", conflict / "policies.yaml")
    (conflict / "placement-test.yaml").write_text(
        "name: w\npolicies: policies.yaml\ninput: pod.yaml\nexpect: {warnings: []}\n"
    )
    [failure] = run_case(conflict / "placement-test.yaml").failures
    assert failure.startswith("warnings: expected none, got [") and "conflicts with" in failure


def test_the_committed_schema_is_current_and_the_cli_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    committed = json.loads((ROOT / "placement-test.schema.json").read_text())
    assert committed == case_file_schema(), (
        "run: placement-webhook schema --test-case > placement-test.schema.json"
    )
    assert main(["schema", "--test-case"]) == 0
    assert json.loads(capsys.readouterr().out) == committed


def test_the_schema_takes_every_shipped_case_and_refuses_what_the_loader_refuses() -> None:
    validator = jsonschema.Draft202012Validator(case_file_schema())
    for path in sorted(CASES.rglob("placement-test.yaml")):
        validator.validate(yaml.safe_load(path.read_text()))
    for bad in (
        {"name": "c", "input": "p", "expect": {}},
        {"name": "c", "input": "p", "expect": {"outcome": "pached"}},
        {"name": "c", "input": "p", "expect": {"outcome": None}},
        {"name": "c", "input": "p", "expect": {"outcom": "patched"}},
        {"name": "c", "input": "p", "namespace": "Other_NS", "expect": {"outcome": "patched"}},
        {"name": "", "input": "p", "expect": {"outcome": "patched"}},
    ):
        assert not validator.is_valid(bad), bad
    assert validator.is_valid({"name": "c", "input": "p", "expect": {"policy": None}})
