"""Offline namespace labels: a Namespace manifest among the inputs, ``--namespace-labels``, and
what review/simulate/test say when a policy needs labels nobody gave (``--cluster`` is exercised
against the real API server in tests/e2e/test_namespace_selector.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import CASES, NODES
from webhook.cli.main import main

CASE = CASES / "namespace-labels-from-manifest"
POLICIES = str(CASE / "policies.yaml")
INPUT = str(CASE / "input.yaml")
BARE_POD = str(CASES / "namespace-labels-in-case" / "pod.yaml")
UNKNOWN = (
    "error: labels of namespace 'team-a' are unknown and policy nlp-team matches on namespaceSelector:"
    " give them as a Namespace manifest among the inputs, with --namespace-labels or with --cluster\n"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_review_reads_the_namespace_manifests_among_the_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "review", INPUT, "--policies", POLICIES)
    assert code == 0
    assert out.splitlines() == [
        f"policies: {POLICIES}, 2 policies",
        "Pod team-nlp/srv-0 (server srv, type -)",
        "  namespace labels: kubernetes.io/metadata.name=team-nlp, team=nlp",
        "  match:  nlp-team",
        "  outcome: patched (3 patch ops)",
        "  added:  toleration seldon-gpu-srv=true:NoSchedule",
        "  added:  nodeSelector pool=infer-srv",
        "",
        "Pod team-cv/srv-0 (server srv, type -)",
        "  namespace labels: kubernetes.io/metadata.name=team-cv, team=cv",
        '  skip:   nlp-team: namespace "team-cv" labels do not match namespaceSelector: team=nlp (team=cv)',
        "  match:  others",
        "  outcome: patched (2 patch ops)",
        "  added:  nodeSelector pool=general",
    ]


def test_namespace_labels_flag_for_pods_without_a_manifest(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "review",
        BARE_POD,
        "--policies",
        POLICIES,
        "-n",
        "team-a",
        "--namespace-labels",
        "team=nlp, env=prod",
    )
    assert code == 0
    assert (
        "  namespace labels: env=prod, kubernetes.io/metadata.name=team-a, team=nlp\n  match:  nlp-team\n"
        in out
    )
    code, out, _ = run(
        capsys, "review", BARE_POD, "--policies", POLICIES, "-n", "team-a", "--namespace-labels", ""
    )
    assert code == 0
    assert (
        '  namespace labels: kubernetes.io/metadata.name=team-a\n  skip:   nlp-team: namespace "team-a" labels do not match namespaceSelector: team=nlp (team absent)\n'
        in out
    )
    # a manifest among the inputs wins over the flag for its own namespace
    code, out, _ = run(capsys, "review", INPUT, "--policies", POLICIES, "--namespace-labels", "team=cv")
    assert code == 0 and out.count("  match:  nlp-team") == 1


def test_unknown_labels_that_decide_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "review", BARE_POD, "--policies", POLICIES, "-n", "team-a")
    assert (code, err) == (2, UNKNOWN)
    code, _, err = run(
        capsys,
        "simulate",
        BARE_POD,
        "--policies",
        POLICIES,
        "-n",
        "team-a",
        "--nodes",
        str(NODES / "gpu-pools.yaml"),
    )
    assert (code, err) == (2, UNKNOWN)


def test_policies_without_namespace_selector_need_no_labels(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "review", INPUT)  # the bundled policies
    assert code == 0 and "namespace labels" not in out


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("team", "error: --namespace-labels team: expected KEY=VALUE\n"),
        (
            "team=a b",
            "error: --namespace-labels team=a b: value must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric\n",
        ),
        (
            "-x=1",
            "error: --namespace-labels -x=1: name part must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric\n",
        ),
    ],
)
def test_bad_namespace_labels_are_one_line(
    capsys: pytest.CaptureFixture[str], flag: str, message: str
) -> None:
    code, _, err = run(capsys, "review", BARE_POD, "--policies", POLICIES, f"--namespace-labels={flag}")
    assert (code, err) == (2, message)


def test_a_namespace_label_that_is_not_a_string_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {tier: 1}}\n"
    )
    code, _, err = run(capsys, "review", str(tmp_path / "ns.yaml"), BARE_POD, "--policies", POLICIES)
    assert (code, err) == (
        2,
        f"error: {tmp_path / 'ns.yaml'}: Namespace a: label tier must be a string (quote it)\n",
    )


def test_simulate_takes_the_labels_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "simulate", INPUT, "--policies", POLICIES, "--nodes", str(NODES / "gpu-pools.yaml")
    )
    assert code == 0 and "Pod team-nlp/srv-0 from" in out and "  policy: nlp-team, outcome patched" in out
    assert "  policy: others, outcome patched" in out
    code, out, _ = run(
        capsys,
        "simulate",
        BARE_POD,
        "--policies",
        POLICIES,
        "-n",
        "x",
        "--namespace-labels",
        "team=nlp",
        "--nodes",
        str(NODES / "gpu-pools.yaml"),
    )
    assert code == 0 and "  policy: nlp-team, outcome patched" in out
    assert "  fits: 2 of 7 nodes before, 4 of 7 nodes after" in out


def test_a_case_without_the_labels_it_needs_fails_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = tmp_path / "case"
    case.mkdir()
    (case / "placement-test.yaml").write_text(
        f"name: no labels\npolicies: {POLICIES}\ninput: {BARE_POD}\nnamespace: team-a\nexpect: {{outcome: patched}}\n"
    )
    code, out, _ = run(capsys, "test", str(case))
    assert code == 1
    assert "labels of namespace 'team-a' are unknown and policy nlp-team matches on namespaceSelector" in out


BY_NAME_POLICY = """\
version: 1
policies:
- name: prod
  match:
    namespaceSelector:
      matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [seldon-prod]}]
  placement:
    nodeSelector: {pool: general}
"""
NAMESPACE_WITHOUT_NAME_LABEL = (
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: seldon-prod, labels: {team: nlp}}\n"
)


@pytest.fixture
def by_name(tmp_path: Path) -> Path:
    """A policy selecting its namespace by ``kubernetes.io/metadata.name``, a Namespace manifest
    without that label and a Pod in it: live, the API server has set the label on the Namespace."""
    (tmp_path / "policies.yaml").write_text(BY_NAME_POLICY)
    (tmp_path / "ns.yaml").write_text(NAMESPACE_WITHOUT_NAME_LABEL)
    return tmp_path


@pytest.mark.parametrize("given", ["manifest", "flag", "empty flag"])
def test_the_api_servers_name_label_is_on_every_namespace_offline(
    by_name: Path, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    inputs = [str(by_name / "ns.yaml"), BARE_POD] if given == "manifest" else [BARE_POD]
    flag = {
        "manifest": [],
        "flag": ["--namespace-labels", "team=nlp"],
        "empty flag": ["--namespace-labels", ""],
    }
    common = ["--policies", str(by_name / "policies.yaml"), "-n", "seldon-prod", *flag[given]]
    code, out, _ = run(capsys, "review", *inputs, *common)
    assert code == 0 and "  match:  prod\n  outcome: patched" in out
    assert "kubernetes.io/metadata.name=seldon-prod" in out
    code, out, _ = run(capsys, "simulate", *inputs, *common, "--nodes", str(NODES / "gpu-pools.yaml"))
    assert code == 0 and "  policy: prod, outcome patched" in out


def test_the_name_label_is_the_namespaces_own_whatever_the_flag_says(
    by_name: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API server overwrites a different value with the name, so the flag's cannot win."""
    code, out, _ = run(
        capsys,
        "review",
        BARE_POD,
        "--policies",
        str(by_name / "policies.yaml"),
        "-n",
        "seldon-dev",
        "--namespace-labels",
        "kubernetes.io/metadata.name=seldon-prod",
    )
    assert code == 0 and "  outcome: unchanged" in out


@pytest.mark.parametrize("labels", ["namespaceLabels: {team: nlp}", "namespaceLabels: {}"])
def test_a_case_gets_the_name_label_too(
    by_name: Path, capsys: pytest.CaptureFixture[str], labels: str
) -> None:
    case = by_name / "case"
    case.mkdir()
    (case / "placement-test.yaml").write_text(
        f"name: by name\npolicies: ../policies.yaml\ninput: {BARE_POD}\nnamespace: seldon-prod\n"
        f"{labels}\nexpect: {{outcome: patched, policy: prod}}\n"
    )
    code, out, _ = run(capsys, "test", str(case))
    assert code == 0, out
