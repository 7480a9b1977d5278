"""The command line, run in-process through ``main`` (argv in, exit code and streams out)."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import BUNDLED_POLICIES, CASES, FIXTURES, admission_review, fixture
from webhook.cli.main import main

GPU = str(FIXTURES / "triton-gpu-0.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_review_summary_explains_every_policy(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "review", GPU, "--policies", str(BUNDLED_POLICIES))
    assert code == 0
    assert out.splitlines() == [
        f"policies: {BUNDLED_POLICIES}, 3 policies",
        "Pod seldon-mesh/triton-gpu-0 (server triton-gpu, type triton)",
        '  skip:   llm-on-a100: server "triton-gpu" not in [mlserver-llm-*]',
        "  skip:   mig-servers: no container requests [nvidia.com/mig-*]",
        "  match:  gpu-servers",
        "  outcome: patched (3 patch ops)",
        "  added:  toleration seldon-gpu-srv=true:NoSchedule",
        "  added:  required pool In [infer-srv]",
    ]


def test_review_pod_output_shows_added_placement_and_kept_tolerations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "review", GPU, "-o", "pod", "--policies", str(BUNDLED_POLICIES))
    pod = yaml.safe_load(out)
    assert code == 0
    assert [t["key"] for t in pod["spec"]["tolerations"]] == [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "seldon-gpu-srv",
    ]
    assert "nodeAffinity" in pod["spec"]["affinity"]


def test_review_patch_and_review_outputs_agree(capsys: pytest.CaptureFixture[str]) -> None:
    _, patch_out, _ = run(capsys, "review", GPU, "-o", "patch", "--policies", str(BUNDLED_POLICIES))
    _, review_out, _ = run(capsys, "review", GPU, "-o", "review", "--policies", str(BUNDLED_POLICIES))
    answer = json.loads(review_out)
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    assert answer["response"]["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(answer["response"]["patch"])) == json.loads(patch_out)
    assert answer["response"]["auditAnnotations"] == {"policy": "gpu-servers", "outcome": "patched"}


def test_review_request_output_is_what_the_server_answers(capsys: pytest.CaptureFixture[str]) -> None:
    _, request_out, _ = run(capsys, "review", GPU, "-o", "request", "--policies", str(BUNDLED_POLICIES))
    _, review_out, _ = run(capsys, "review", GPU, "-o", "review", "--policies", str(BUNDLED_POLICIES))
    request = json.loads(request_out)
    assert request["kind"] == "AdmissionReview" and request["request"]["operation"] == "CREATE"
    assert request["request"]["object"] == fixture("triton-gpu-0")
    from tests.helpers import mutate
    from webhook.policy.loading import load_policies

    assert mutate(request, policies=load_policies(BUNDLED_POLICIES)).answer == json.loads(review_out)


def test_review_of_an_admission_review_echoes_its_uid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "review.json"
    path.write_text(json.dumps(admission_review(fixture("triton-gpu-0"), uid="abc-123")))
    code, out, _ = run(capsys, "review", str(path), "-o", "review", "--policies", str(BUNDLED_POLICIES))
    assert code == 0 and json.loads(out)["response"]["uid"] == "abc-123"


def test_review_reads_several_documents_and_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = "\n---\n".join((FIXTURES / f"{n}.yaml").read_text() for n in ("triton-gpu-0", "mlserver-0"))
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(stream))
    code, out, _ = run(capsys, "review", "-", "--policies", str(BUNDLED_POLICIES))
    assert code == 0 and out.count("Pod seldon-mesh/") == 2 and "outcome: unchanged" in out


def test_review_bare_pod_namespace_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pod = fixture("triton-gpu-0")
    del pod["metadata"]["namespace"]
    path = tmp_path / "pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    code, out, _ = run(capsys, "review", str(path), "-n", "team-a", "--policies", str(BUNDLED_POLICIES))
    assert code == 0 and out.splitlines()[1].startswith("Pod team-a/triton-gpu-0")


def test_review_exits_1_when_a_pod_would_be_denied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "p.yaml"
    policies.write_text(
        "version: 1\npolicies:\n- name: strict\n  placement: {nodeSelector: {pool: gpu}}\n  onConflict: deny\n"
    )
    pod = fixture("triton-gpu-0")
    pod["spec"]["nodeSelector"] = {"pool": "cpu"}
    path = tmp_path / "pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    code, out, _ = run(capsys, "review", str(path), "--policies", str(policies))
    assert code == 1 and "denied: placement-webhook: policy strict conflicts" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("[1, 2]\n", "input.yaml: document 1: not a mapping (a Kubernetes object)"),
        ("a: [\n", "not valid YAML"),
        ("", "no documents"),
        ('{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}', "request: field required"),
    ],
)
def test_review_unreadable_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "input.yaml"
    if content is not None:
        path.write_text(content)
    code, out, err = run(capsys, "review", str(path), "--policies", str(BUNDLED_POLICIES))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_validate_ok_and_every_error_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "--policies", str(BUNDLED_POLICIES))
    assert code == 0 and out.endswith("3 policies valid (2 enforce, 1 audit)\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\npolicies:\n- name: a\n  placement: {tolerations: [{key: k, operator: Eq}]}\n- name: a\n  placement: {}\n"
    )
    code, out, err = run(capsys, "validate", "--policies", str(bad))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"error: {bad}:4: policies[0] (a).placement.tolerations[0].operator: must be Equal or Exists",
        f"error: {bad}:5: policies[1] (a).name: duplicate of policies[0]",
        # checked although policies[0] has a field error (issue 28: it used to be left out)
        f"error: {bad}:6: policies[1] (a).placement: must set tolerations, nodeSelector or nodeAffinity",
    ]


def test_default_policies_are_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./policies.yaml: the packaged example
    code, out, _ = run(capsys, "validate")
    assert code == 0 and "defaults/policies.yaml: 3 policies valid" in out
    (tmp_path / "policies.yaml").write_text("version: 1\npolicies: []\n")
    code, out, _ = run(capsys, "validate")
    assert code == 0 and out.startswith("policies.yaml: 0 policies valid")


def test_test_command_passes_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = CASES
    code, out, _ = run(capsys, "test", str(cases))
    assert code == 0 and out.rstrip().endswith("15 passed, 0 failed")
    broken = tmp_path / "case"
    shutil.copytree(cases / "gpu-server-patched", broken)
    shutil.copy(BUNDLED_POLICIES, broken / "policies.yaml")
    case_file = broken / "placement-test.yaml"
    case = yaml.safe_load(case_file.read_text())
    case.update(
        policies="policies.yaml", expect={"outcome": "unchanged", "pod": "pod.yaml", "warnings": ["nope"]}
    )
    case_file.write_text(yaml.safe_dump(case))
    code, out, _ = run(capsys, "test", str(tmp_path))
    assert code == 1
    assert "FAIL" in out and "outcome: expected unchanged, got patched" in out
    assert (
        '     pod differs from pod.yaml at /metadata/annotations/placement-webhook.io~1policy: expected (absent), got "gpu-servers"\n'
        "     pod differs from pod.yaml at /spec/tolerations/2: expected (absent), got {"
    ) in out
    assert "     pod differs from pod.yaml at /spec/affinity: expected (absent), got {" in out
    assert 'no warning contains "nope"' in out and "0 passed, 1 failed" in out


def test_test_command_without_cases_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "test", str(tmp_path))
    assert code == 2 and "no placement-test.yaml found" in err


def test_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0 and json.loads(out)["title"] == "placement-webhook policies"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["review", GPU, "-o", "xml"])
    assert raised.value.code == 2


SHADOWED = """\
version: 1
policies:
- name: everyone
  placement: {nodeSelector: {pool: general}}
- name: nlp
  match: {namespaces: [Team-NLP], namespaceSelector: {matchLabels: {team: nlp}}}
  placement: {nodeSelector: {pool: nlp}}
"""
NOTE = (
    "policy nlp uses match.namespaceSelector: the server needs permission to get, list and watch"
    " Namespaces (chart value namespaceSelector.enabled=true); without it a reload of this file is refused"
)


UNSENT = (
    "also matches Pods without the seldon-server-name label (it sets none of servers, serverTypes,"
    " capabilities), but the shipped webhook configuration sends only Pods with it; to place others,"
    " widen the chart value webhook.objectSelector"
)


def test_validate_reports_what_the_file_alone_shows_without_nodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shadowed policies and never-matching patterns need no nodes; warnings fail only --strict;
    a file with namespaceSelector says which permission and chart value it needs."""
    path = tmp_path / "p.yaml"
    path.write_text(SHADOWED)
    code, out, err = run(capsys, "validate", str(path))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{path}: 2 policies valid (2 enforce, 0 audit)",
        f'warning: {path}:6: policies[1] (nlp).match.namespaces[0]: "Team-NLP" never matches: namespace'
        ' names are lower-case DNS labels (a-z, 0-9, \'-\'), and it needs "L", "N", "P", "T"',
        "warning: nlp: unreachable: everyone comes first and matches every Pod it matches",
        *(f"warning: {name}: {UNSENT}" for name in ("everyone", "nlp")),
        f"note: {NOTE}",
    ]
    out_lines = out.splitlines()
    assert run(capsys, "validate", "--strict", str(path))[0] == 1
    code, out, _ = run(capsys, "validate", "-o", "json", str(path))
    report = json.loads(out)
    assert (code, report["nodes"], report["warnings"], report["errors"]) == (0, None, 4, 0)
    assert report["notes"] == [NOTE]
    assert [f["message"] for f in report["findings"]] == [line.split(": ", 1)[1] for line in out_lines[1:5]]


def test_validate_counts_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\npolicies:\n- name: one\n  match: {servers: [x]}\n  placement: {nodeSelector: {a: b}}\n"
    )
    assert run(capsys, "validate", str(path))[1] == f"{path}: 1 policy valid (1 enforce, 0 audit)\n"


def test_test_failures_show_values_in_the_case_files_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No Python in messages: null, not None; "text", not 'text'."""
    broken = tmp_path / "case"
    shutil.copytree(CASES / "cpu-server-untouched", broken)
    case_file = broken / "placement-test.yaml"
    case = yaml.safe_load(case_file.read_text())
    shutil.copy(BUNDLED_POLICIES, broken / "policies.yaml")
    case.update(policies="policies.yaml", expect={"policy": "by-ns-name", "denied": "it's refused"})
    case_file.write_text(yaml.safe_dump(case))
    code, out, _ = run(capsys, "test", str(tmp_path))
    assert code == 1
    assert '     policy: expected "by-ns-name", got null\n' in out
    assert '     expected a denial containing "it\'s refused", got null\n' in out


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"PLACEMENT_WEBHOOK_RELOAD_INTERVAL": "0"},
            "PLACEMENT_WEBHOOK_RELOAD_INTERVAL: must be greater than 0",
        ),
        ({"PLACEMENT_WEBHOOK_RELOAD_INTERVAL": "x"}, "PLACEMENT_WEBHOOK_RELOAD_INTERVAL: must be a number"),
        (
            {"PLACEMENT_WEBHOOK_PORT": "0", "PLACEMENT_WEBHOOK_DEV_CERTS": "maybe"},
            "PLACEMENT_WEBHOOK_PORT (--port): must be at least 1;"
            " PLACEMENT_WEBHOOK_DEV_CERTS (--dev-certs): must be true or false",
        ),
    ],
)
def test_invalid_serve_settings_are_named_by_their_environment_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = run(capsys, "serve")
    assert (code, out, err) == (2, "", f"error: {message}\n")
