"""The docs show real output: every ``$ placement-webhook`` command of a ``console`` block in the
README, SECURITY.md, CONTRIBUTING.md and docs/*.md reruns and prints exactly what is shown (the
guard page's kubectl output is the e2e test's, tests/e2e/test_guard.py). The README's first
screen is real too: its Pod before and after the webhook, its policy, its one-liners."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT
from webhook.cli.main import main

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.glob("*.md"))]


def section(page: Path, heading: str) -> str:
    """The text under ``heading`` (a whole heading line) up to the next heading of its level."""
    level = heading.split(" ", 1)[0]
    return page.read_text().split(f"\n{heading}\n", 1)[1].split(f"\n{level} ", 1)[0]


def console_examples(text: str) -> list[tuple[str, str]]:
    """(command, output) of every ``$ placement-webhook`` in the text's console blocks."""
    return [
        (block.split("\n", 1)[0].removeprefix("$ "), block.split("\n", 1)[1])
        for console in re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL)
        for block in re.split(r"\n(?=\$ )", console)
        if block.startswith("$ placement-webhook ")
    ]


EXAMPLES = [(page, *example) for page in PAGES for example in console_examples(page.read_text())]


def expected_exit(output: str) -> int:
    """1 where the example shows a problem, a refused Pod or running Pods that differ; else 0."""
    differ = re.search(r": [1-9][0-9]* differ", output)
    return 1 if "  problem: " in output or "  denied: " in output or differ else 0


@pytest.mark.parametrize(
    ("page", "command", "output"),
    EXAMPLES,
    ids=[f"{page.name}-{command.split()[1]}" for page, command, _ in EXAMPLES],
)
def test_example_output_is_current(
    page: Path, command: str, output: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(shlex.split(command)[1:]) == expected_exit(output)
    assert capsys.readouterr().out == output


def test_every_example_is_found() -> None:
    """The examples the README had before it became a site, and the ones added since, page by page."""
    assert [(page.name, command.split()[1]) for page, command, _ in EXAMPLES] == [
        ("audit.md", "audit"),
        ("guard.md", "review"),
        ("namespace-labels.md", "review"),
        ("native.md", "validate"),
        ("offline.md", "review"),
        ("policies.md", "test"),
        ("simulate.md", "simulate"),
        ("simulate.md", "validate"),
        ("simulate.md", "simulate"),
    ]
    models = [command for page, command, _ in EXAMPLES if page.name == "simulate.md"][2]
    assert "tests/seldon/models.yaml" in models  # From Model to node


AUDIT = DOCS / "audit.md"


def test_the_audit_example_differs_only_under_the_new_policies(capsys: pytest.CaptureFixture[str]) -> None:
    [(command, _)] = console_examples(AUDIT.read_text())
    assert "--policies examples/gpu-pool.yaml" in command  # rerun above: exit 1, Pods differ
    # "Audited under the bundled policies, nothing differs (exit 0)"
    assert "Audited under the bundled policies, nothing differs (exit 0)" in " ".join(
        AUDIT.read_text().split()
    )
    assert (
        main(["audit", str(ROOT / "examples/running-pods.yaml"), "--policies", str(ROOT / "policies.yaml")])
        == 0
    )
    assert "0 differ" in capsys.readouterr().out


def test_the_audit_rbac_shown_is_the_file() -> None:
    [shown] = re.findall(r"```yaml\n(.*?)```", AUDIT.read_text(), flags=re.DOTALL)
    assert shown == (DOCS / "audit-rbac.yaml").read_text()


# --- the README's first screen ----------------------------------------------------------------------

README = ROOT / "README.md"


def test_the_readme_pod_before_and_after_the_webhook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's Pod, reviewed under the README's policy, is exactly its Pod after the webhook."""
    before, after = re.findall(
        r"```yaml\n(.*?)```", section(README, "## What it does to a Pod"), flags=re.DOTALL
    )
    [policy] = re.findall(r"```yaml\n(.*?)```", section(README, "## A policy"), flags=re.DOTALL)
    (tmp_path / "pod.yaml").write_text(before)
    (tmp_path / "policies.yaml").write_text(policy)
    argv = ["review", str(tmp_path / "pod.yaml"), "--policies", str(tmp_path / "policies.yaml")]
    assert main([*argv, "-o", "yaml"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == yaml.safe_load(after)
    assert main(argv) == 0
    assert "  match:  gpu-servers\n  outcome: patched (3 patch ops)\n" in capsys.readouterr().out


def test_the_readme_policy_is_the_bundled_gpu_servers_policy() -> None:
    [policy] = re.findall(r"```yaml\n(.*?)```", section(README, "## A policy"), flags=re.DOTALL)
    [shown] = yaml.safe_load(policy)["policies"]
    bundled = {p["name"]: p for p in yaml.safe_load((ROOT / "policies.yaml").read_text())["policies"]}
    assert shown == {k: v for k, v in bundled["gpu-servers"].items() if k != "description"}


def readme_commands() -> list[str]:
    """The README's ``placement-webhook`` one-liners, continuation lines joined, comments dropped."""
    [block] = re.findall(
        r"```sh\n(.*?)```", section(README, "## Try a policy before it goes live"), flags=re.DOTALL
    )
    lines = block.replace("\\\n", " ").splitlines()
    return [re.sub(r"\s+#.*$", "", line) for line in lines if line.startswith("placement-webhook ")]


@pytest.mark.parametrize("command", readme_commands(), ids=lambda c: c.split()[1])
def test_the_readme_one_liners_run(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(shlex.split(command)[1:]) == 0
    assert "Pod seldon-mesh/triton-gpu-0" in capsys.readouterr().out


def test_the_readme_has_a_review_and_a_simulate_one_liner() -> None:
    assert [c.split()[1] for c in readme_commands()] == ["review", "simulate"]
