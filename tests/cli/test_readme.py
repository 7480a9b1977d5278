"""The simulate section of the README shows real output: every ``$ placement-webhook`` there reruns."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.helpers import ROOT
from webhook.cli.main import main

SECTION = (ROOT / "README.md").read_text().split("## Where will it land? (simulate)")[1].split("\n## ")[0]
EXAMPLES = [
    (block.split("\n", 1)[0].removeprefix("$ "), block.split("\n", 1)[1])
    for console in re.findall(r"```console\n(.*?)```", SECTION, flags=re.DOTALL)
    for block in re.split(r"\n(?=\$ )", console)
]


@pytest.mark.parametrize(("command", "output"), EXAMPLES, ids=[c.split()[1] for c, _ in EXAMPLES])
def test_readme_example_output_is_current(
    command: str, output: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    # an example that shows a problem exits 1, as the README says; every other one exits 0
    assert main(shlex.split(command)[1:]) == (1 if "  problem: " in output else 0)
    assert capsys.readouterr().out == output


def test_the_section_has_both_examples() -> None:
    assert [c.split()[1] for c, _ in EXAMPLES] == ["simulate", "validate", "simulate"]
    assert "tests/seldon/models.yaml" in EXAMPLES[2][0]  # From Model to node


AUDIT = (ROOT / "README.md").read_text().split("## Audit of running Pods")[1].split("\n## ")[0]


def test_the_audit_example_is_current(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    [console] = re.findall(r"```console\n(.*?)```", AUDIT, flags=re.DOTALL)
    command, output = console.split("\n", 1)
    monkeypatch.chdir(ROOT)
    assert main(shlex.split(command.removeprefix("$ "))[1:]) == 1  # Pods differ
    assert capsys.readouterr().out == output
    # "Audited under the bundled policies, nothing differs (exit 0)"
    assert main(["audit", "examples/running-pods.yaml", "--policies", "policies.yaml"]) == 0
    assert "0 differ" in capsys.readouterr().out


def test_the_audit_rbac_shown_is_the_file() -> None:
    [shown] = re.findall(r"```yaml\n(.*?)```", AUDIT, flags=re.DOTALL)
    assert shown == (ROOT / "docs" / "audit-rbac.yaml").read_text()
