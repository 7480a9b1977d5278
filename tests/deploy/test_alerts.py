"""The chart's alerts, evaluated by the real promtool (built from the pinned Go module).

The PrometheusRule is rendered by helm, its ``spec`` written as a rule file, checked with
``promtool check rules``, and run against ``alerts/cases.yaml``: for every alert, series that must
fire it and series that must leave it silent (``promtool test rules``). Every alert has cases and a
runbook section in docs/alerts.md, which its ``runbook_url`` names.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import chart
from tests.helpers import ROOT

CASES = Path(__file__).parent / "alerts" / "cases.yaml"
BUILD = ROOT / "e2e" / "promtool" / "build.sh"
RUNBOOKS = ROOT / "docs" / "alerts.md"
VALUES = {"metrics": {"prometheusRule": {"enabled": True}}}


def promtool() -> Path:
    directory = subprocess.run(
        ["bash", str(BUILD), "--dir"], capture_output=True, text=True, check=True
    ).stdout
    binary = Path(directory.strip()) / "promtool"
    if not os.access(binary, os.X_OK):
        problem = "promtool not built: run `make control-plane`"
        if os.environ.get("PLACEMENT_WEBHOOK_REQUIRE_E2E") == "1":
            pytest.fail(f"PLACEMENT_WEBHOOK_REQUIRE_E2E=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    return binary


def rules() -> list[dict[str, Any]]:
    rule = next(o for o in chart.template(VALUES) if o["kind"] == "PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def rule_file(tmp_path: Path) -> Path:
    rule = next(o for o in chart.template(VALUES) if o["kind"] == "PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def _expected(rule: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """The alert as promtool reports it: the series' labels, the rule's labels and its annotations
    with ``$labels`` expanded."""
    annotations = {
        k: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], v)
        for k, v in rule["annotations"].items()
    }
    return {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": annotations}


def promtool_tests(cases: list[dict[str, Any]], by_name: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    tests = []
    for case in cases:
        rule = by_name[case["alert"]]
        for kind in ("fires", "silent"):
            given = case[kind]
            tests.append(
                {
                    "name": f"{case['alert']} {kind}",
                    "interval": "1m",
                    "input_series": [{"series": s, "values": v} for s, v in given["series"].items()],
                    "alert_rule_test": [
                        {
                            "eval_time": given["at"],
                            "alertname": case["alert"],
                            "exp_alerts": [_expected(rule, given["labels"])] if kind == "fires" else [],
                        }
                    ],
                }
            )
    return tests


def test_the_rules_pass_promtool_check(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(promtool()), "check", "rules", str(rule_file(tmp_path))], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_every_alert_fires_on_its_cause_and_stays_silent_when_healthy(tmp_path: Path) -> None:
    cases = yaml.safe_load(CASES.read_text())
    by_name = {r["alert"]: r for r in rules()}
    assert sorted(c["alert"] for c in cases) == sorted(by_name), (
        "every alert needs cases, every case an alert"
    )
    test_file = tmp_path / "alerts.test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rule_file(tmp_path))],
                "evaluation_interval": "1m",
                "tests": promtool_tests(cases, by_name),
            },
            sort_keys=False,
        )
    )
    result = subprocess.run(
        [str(promtool()), "test", "rules", str(test_file)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_case_that_should_not_fire_makes_promtool_fail(tmp_path: Path) -> None:
    """The harness can fail: a healthy series expected to fire is reported by promtool."""
    cases = yaml.safe_load(CASES.read_text())[:1]
    cases[0]["fires"] = {**cases[0]["silent"], "labels": cases[0]["fires"]["labels"]}
    test_file = tmp_path / "wrong.test.yaml"
    by_name = {r["alert"]: r for r in rules()}
    test_file.write_text(
        yaml.safe_dump({"rule_files": [str(rule_file(tmp_path))], "tests": promtool_tests(cases, by_name)})
    )
    result = subprocess.run(
        [str(promtool()), "test", "rules", str(test_file)], capture_output=True, text=True
    )
    assert result.returncode != 0


def test_every_alert_has_a_runbook_section_its_url_names() -> None:
    headings = {
        re.sub(r"[^a-z0-9]", "", line.lstrip("#").strip().lower())
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }
    for rule in rules():
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == rule["alert"].lower(), rule["annotations"]["runbook_url"]
        assert anchor in headings, f"docs/alerts.md has no section for {rule['alert']}"
