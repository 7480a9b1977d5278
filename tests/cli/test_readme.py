"""The simulate and guard sections of the README show real output: every ``$ placement-webhook``
there reruns (the guard section's kubectl output is the e2e test's, tests/e2e/test_guard.py)."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.helpers import ROOT
from webhook.cli.main import main

README = (ROOT / "README.md").read_text()
SECTION = README.split("## Where will it land? (simulate)")[1].split("\n## ")[0]
GUARD_SECTION = README.split("## Keep the GPU nodes reserved (the guard)")[1].split("\n## ")[0]
EXAMPLES = [
    (block.split("\n", 1)[0].removeprefix("$ "), block.split("\n", 1)[1])
    for section in (SECTION, GUARD_SECTION)
    for console in re.findall(r"```console\n(.*?)```", section, flags=re.DOTALL)
    for block in re.split(r"\n(?=\$ )", console)
]


@pytest.mark.parametrize(("command", "output"), EXAMPLES, ids=[c.split()[1] for c, _ in EXAMPLES])
def test_readme_example_output_is_current(
    command: str, output: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    # an example that shows a problem or a refused Pod exits 1, as the README says; others exit 0
    assert main(shlex.split(command)[1:]) == (1 if "  problem: " in output or "  denied: " in output else 0)
    assert capsys.readouterr().out == output


def test_the_section_has_both_examples() -> None:
    assert [c.split()[1] for c, _ in EXAMPLES] == ["simulate", "validate", "simulate", "review"]
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
