"""The docs site (mkdocs.yml): it builds with --strict, every page is in the nav, the README stays a
first screen, and what the pages state about formats and commands holds (the test-case schema,
``helm template --kube-version``). The examples with output are rerun by tests/cli/test_readme.py."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
import yaml

from tests.deploy import chart
from tests.helpers import CASES, ROOT
from webhook.cli.policytests import Case, Expectation
from webhook.engine.guard import GuardOutcome
from webhook.engine.review import Outcome
from webhook.policy.criteria import glob_matcher

DOCS = ROOT / "docs"
ROOT_PAGES = [ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "CONTRIBUTING.md"]
README_MAX_LINES = 150


def mkdocs_build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    # mkdocs is in the test extra (make test installs it): a missing mkdocs fails, never skips
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def nav_pages(nav: list[Any]) -> list[str]:
    pages: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    return loaded


# --- the site ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = mkdocs_build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    home = (tmp_path / "site" / "index.html").read_text()
    # the README is the home page, its links rebased from docs/x.md onto the site (docs/hooks.py)
    assert "What it does to a Pod" in home and 'href="policies/"' in home and "docs/policies.md" not in home
    assert (tmp_path / "site" / "audit-rbac.yaml").read_text() == (DOCS / "audit-rbac.yaml").read_text()
    assert not (tmp_path / "site" / "hooks.py").exists()


@pytest.mark.slow
def test_a_broken_link_a_broken_anchor_and_a_page_outside_the_nav_fail_the_build(tmp_path: Path) -> None:
    """--strict is only as good as what warns: each of these must (not --quiet: it hides them)."""
    project = tmp_path / "project"
    shutil.copytree(DOCS, project / "docs")
    for page in [
        "mkdocs.yml",
        "README.md",
        "SECURITY.md",
        "CONTRIBUTING.md",
        "charts/placement-webhook/README.md",
        "certs/README.md",
    ]:
        (project / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / page, project / page)
    assert mkdocs_build(project, tmp_path / "good").returncode == 0
    readme = (project / "README.md").read_text()
    (project / "README.md").write_text(readme.replace("(docs/guard.md)", "(docs/no-such-page.md)", 1))
    policies = (project / "docs" / "policies.md").read_text()
    (project / "docs" / "policies.md").write_text(
        policies.replace("(namespace-labels.md)", "(namespace-labels.md#no-such-anchor)", 1)
    )
    (project / "docs" / "orphan.md").write_text("# Not in the nav\n")
    result = mkdocs_build(project, tmp_path / "bad")
    assert result.returncode == 1
    assert "contains a link 'no-such-page.md', but the target is not found" in result.stderr
    assert "does not contain an anchor '#no-such-anchor'" in result.stderr
    assert 'not included in the "nav" configuration:\n  - orphan.md' in result.stderr


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    nav = nav_pages(config()["nav"])
    assert len(nav) == len(set(nav)), "a page is in the nav twice"
    assert sorted(nav) == sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))


def test_the_existing_docs_and_the_root_files_are_part_of_the_site() -> None:
    nav = nav_pages(config()["nav"])
    assert {"mutation.md", "soak.md", "upstream.md"} <= set(nav)
    included = {
        p.name: p.read_text().strip() for p in DOCS.glob("*.md") if p.read_text().startswith("--8<--")
    }
    assert included == {
        "index.md": '--8<-- "README.md"',
        "security.md": '--8<-- "SECURITY.md"',
        "contributing.md": '--8<-- "CONTRIBUTING.md"',
        "chart.md": '--8<-- "charts/placement-webhook/README.md"',
        "certs.md": '--8<-- "certs/README.md"',
    }


def test_the_readme_is_a_first_screen() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move details to docs/"
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == [
        "## What it does to a Pod",
        "## A policy",
        "## Install",
        "## Try a policy before it goes live",
        "## Quick start",
        "## Documentation",
    ]


@pytest.mark.parametrize("page", ROOT_PAGES, ids=lambda p: p.name)
def test_the_root_pages_link_to_files_that_exist(page: Path) -> None:
    """As GitHub shows them (the site's view is mkdocs --strict's)."""
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if not re.match(r"[a-z]+:|#", target):
            assert (page.parent / target.split("#")[0]).exists(), f"{page.name}: {target}"


def test_the_readme_install_is_the_documented_one() -> None:
    def helm_install(text: str) -> list[str]:
        [block] = [b for b in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL) if "helm install" in b]
        command = re.sub(r"\s+#[^\n]*", "", block.split("helm install", 1)[1].split("\nkubectl", 1)[0])
        return shlex.split(command.replace("\\\n", " "))

    assert helm_install((ROOT / "README.md").read_text()) == helm_install((DOCS / "install.md").read_text())


def test_the_guard_page_shows_the_example_reservation() -> None:
    [shown] = re.findall(r"```yaml\n(.*?)```", (DOCS / "guard.md").read_text(), flags=re.DOTALL)
    example = yaml.safe_load((ROOT / "examples" / "reserved-gpu-pool.yaml").read_text())
    assert yaml.safe_load(shown) == {"reservations": example["reservations"]}


# --- glob patterns -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("nvidia.com/*", "nvidia.com/gpu", True),
        ("*", "", True),
        ("team-?", "team-a", True),
        ("team-?", "team-ab", False),
        ("team-[a-c]", "team-b", True),
        ("team-[!ab]", "team-a", False),
        ("team-[!ab]", "team-c", True),
        ("team-[^ab]", "team-^", True),
        ("team-[^ab]", "team-c", False),
        ("seldon-*", "seldon-mesh", True),
        ("seldon-*", "seldon-", True),
        ("seldon-*", "my-seldon-mesh", False),
        ("gpu", "gpu", True),
        ("gpu", "gpus", False),
        ("Seldon-*", "seldon-mesh", False),
        ("a[*]", "a*", True),
        ("a[*]", "ab", False),
        ("a[?]", "a?", True),
        ("a[[]", "a[", True),
        ("a\\*", "a\\b", True),
        ("a[", "a[", True),
        ("{a,b}", "a", False),
        ("{a,b}", "{a,b}", True),
        ("nvidia.com/mig-*", "nvidia.com/mig-1g.5gb", True),
    ],
)  # fmt: skip
def test_the_documented_glob_syntax(pattern: str, value: str, matches: bool) -> None:
    """docs/policies.md, "Patterns (globs)": its examples, as the policies compile their globs."""
    assert glob_matcher([pattern])(value) is matches


# --- the test-case format ----------------------------------------------------------------------------


def case_schema() -> dict[str, Any]:
    page = (DOCS / "policies.md").read_text()
    [schema] = re.findall(r"```json\n(.*?)```", page.split("\n### Schema\n", 1)[1], flags=re.DOTALL)
    loaded: dict[str, Any] = json.loads(schema)
    return loaded


def test_the_page_shows_the_shipped_case_schema() -> None:
    assert case_schema() == json.loads((ROOT / "placement-test.schema.json").read_text())


def _resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node``, or the ``$defs`` entry its ``$ref`` names."""
    ref = node.get("$ref")
    return schema["$defs"][ref.rsplit("/", 1)[1]] if isinstance(ref, str) else node


def _enum(schema: dict[str, Any], node: dict[str, Any]) -> list[Any]:
    """The values a field allows (its ``enum``, or that of a non-null ``anyOf`` branch)."""
    node = _resolved(schema, node)
    if "enum" in node:
        return list(node["enum"])
    return next(
        list(_resolved(schema, n)["enum"]) for n in node.get("anyOf", []) if "enum" in _resolved(schema, n)
    )


def test_the_case_schema_names_the_fields_the_command_reads() -> None:
    schema = case_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    fields = Case.model_json_schema(by_alias=True)
    assert list(schema["properties"]) == list(fields["properties"])
    assert schema["required"] == fields["required"]
    expect = _resolved(schema, schema["properties"]["expect"])["properties"]
    assert list(expect) == list(Expectation.model_json_schema(by_alias=True)["properties"])
    assert _enum(schema, expect["guard"]) == [*get_args(GuardOutcome)]
    # every outcome review_pod can give; "skipped" is only the server's, for requests it never reviews
    assert _enum(schema, expect["outcome"]) == [o for o in get_args(Outcome) if o != "skipped"]


def test_every_case_follows_the_documented_schema() -> None:
    validator = jsonschema.Draft202012Validator(case_schema())
    cases = sorted(CASES.rglob("placement-test.yaml"))
    assert cases
    for path in cases:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], f"{path}: {errors}"


def test_the_documented_case_is_the_one_in_tests_cases() -> None:
    page = (DOCS / "policies.md").read_text().split("\n## Test cases\n", 1)[1]
    shown = yaml.safe_load(re.findall(r"```yaml\n(.*?)```", page, flags=re.DOTALL)[0])
    case = CASES / "conflict-warns" / "placement-test.yaml"
    assert shown == yaml.safe_load(case.read_text())


def test_the_documented_fields_are_every_field() -> None:
    page = (DOCS / "policies.md").read_text().split("\n### Fields\n", 1)[1].split("\n### ", 1)[0]
    documented = re.findall(r"^\| `([A-Za-z.]+)` \|", page, flags=re.MULTILINE)
    expect = Expectation.model_json_schema(by_alias=True)["properties"]
    assert documented == [
        *Case.model_json_schema(by_alias=True)["properties"],
        *(f"expect.{f}" for f in expect),
    ]


# --- helm template --kube-version ----------------------------------------------------------------------


def code_blocks() -> list[tuple[str, str]]:
    return [
        (page.name, block)
        for page in [*ROOT_PAGES, *sorted(DOCS.glob("*.md")), ROOT / "charts/placement-webhook/README.md"]
        for block in re.findall(r"```\w*\n(.*?)```", page.read_text(), flags=re.DOTALL)
    ]


def test_every_helm_template_shown_passes_the_kube_version() -> None:
    """Without it helm checks the chart's kubeVersion against the version compiled into the binary."""
    commands = [
        (name, command)
        for name, block in code_blocks()
        for command in block.replace("\\\n", " ").splitlines()
        if command.startswith("helm template")
    ]
    assert commands, "docs/install.md shows helm template"
    assert [(name, c) for name, c in commands if "--kube-version" not in c] == []


def documented_helm_template() -> list[str]:
    [command] = [
        c
        for _, b in code_blocks()
        for c in b.replace("\\\n", " ").splitlines()
        if c.startswith("helm template")
    ]
    argv = shlex.split(command.split(">", 1)[0])
    return argv[1:]


def test_the_documented_helm_template_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    if chart.helm_binary() is None:  # pragma: no cover - depends on the machine
        if os.environ.get("PLACEMENT_WEBHOOK_REQUIRE_E2E") == "1":
            raise RuntimeError(
                "PLACEMENT_WEBHOOK_REQUIRE_E2E=1 but helm is missing: run `make control-plane`"
            )
        pytest.skip("helm not built: run `make control-plane`")
    monkeypatch.chdir(ROOT)
    args = documented_helm_template()
    rendered = [d for d in yaml.safe_load_all(chart.helm(*args).stdout) if d]
    [namespace] = [d for d in rendered if d["kind"] == "Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    [deployment] = [d for d in rendered if d["kind"] == "Deployment"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("registry.example.com/placement-webhook:")
    # what the page says happens without the flag, with a helm built as make control-plane builds it
    if chart.helm_binary() == chart.cache_dir() / "helm":
        at = args.index("--kube-version")
        refused = chart.helm(*args[:at], *args[at + 2 :], check=False)
        assert refused.returncode == 1
        message = (
            "Error: chart requires kubeVersion: >=1.30.0-0 which is incompatible with Kubernetes v1.20.0"
        )
        assert message in refused.stderr
        assert message in (DOCS / "install.md").read_text()
