"""CLI conventions shared by the verbs: positional policy files, stdin, directories, one List
document for several objects, -o json|yaml objects, label types, missing files, --help texts."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import BUNDLED_POLICIES, CASES, FIXTURES, NODES, fixture
from webhook.cli.main import build_parser, main

GPU, CPU = str(FIXTURES / "triton-gpu-0.yaml"), str(FIXTURES / "mlserver-0.yaml")
POLICIES = ("--policies", str(BUNDLED_POLICIES))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


# --- validate FILE, --policies -, and stdin once ---------------------------------------------------


def test_validate_takes_the_policy_file_as_an_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "validate", str(BUNDLED_POLICIES)) == (
        0,
        f"{BUNDLED_POLICIES}: 3 policies valid (2 enforce, 1 audit)\n",
        "",
    )
    assert run(capsys, "validate", str(BUNDLED_POLICIES), *POLICIES)[0] == 0  # the same file twice is fine


def test_validate_with_two_different_files_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    other = "examples/gpu-pool.yaml"
    assert run(capsys, "validate", other, *POLICIES) == (
        2,
        "",
        f"error: two policy files given ({other} and --policies {BUNDLED_POLICIES}); give one\n",
    )


def test_policies_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdin(monkeypatch, BUNDLED_POLICIES.read_text())
    assert run(capsys, "validate", "-") == (0, "<stdin>: 3 policies valid (2 enforce, 1 audit)\n", "")
    stdin(monkeypatch, BUNDLED_POLICIES.read_text())
    code, out, _ = run(capsys, "review", GPU, "--policies", "-")
    assert code == 0 and out.splitlines()[0] == "policies: <stdin>, 3 policies"
    assert "  match:  gpu-servers" in out


def test_stdin_policies_are_bounded_like_a_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin(monkeypatch, "#" * (1024 * 1024 + 1))
    assert run(capsys, "validate", "-") == (1, "", "error: <stdin>: over the 1048576 byte limit\n")


def test_stdin_is_read_once(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdin(monkeypatch, "")
    assert run(capsys, "review", "-", "--policies", "-") == (
        2,
        "",
        "error: --policies - and the input - both read stdin; give one of them as a file\n",
    )


# --- -o json|yaml objects ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_validate_object_output(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "validate",
        "examples/toleration-only.yaml",
        "--nodes",
        str(NODES / "gpu-pools.yaml"),
        "-o",
        fmt,
    )
    report = json.loads(out) if fmt == "json" else yaml.safe_load(out)
    assert code == 0
    assert {k: v for k, v in report.items() if k != "findings"} == {
        "policies": "examples/toleration-only.yaml",
        "valid": True,
        "problems": [],
        "count": 1,
        "enforce": 1,
        "audit": 0,
        "reservations": {"count": 0, "enforce": 0, "audit": 0},
        "nodes": {"source": str(NODES / "gpu-pools.yaml"), "count": 7},
        "notes": [],
        "errors": 0,
        "warnings": 2,
    }
    assert [f["severity"] for f in report["findings"]] == ["warning", "warning"]


def test_validate_object_output_of_an_invalid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\npolicies:\n- name: x\n  placement: {tolerations: [{key: k, operator: Bad}]}\n"
    )
    code, out, err = run(capsys, "validate", str(bad), "-o", "json")
    assert (code, err) == (1, "")
    assert json.loads(out) == {
        "policies": str(bad),
        "valid": False,
        "problems": [f"{bad}:4: policies[0] (x).placement.tolerations[0].operator: must be Equal or Exists"],
    }


def test_test_object_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "test", str(CASES / "llm-on-a100"), "-o", "json")
    assert code == 0
    assert json.loads(out) == {
        "cases": [
            {
                "name": "LLM server goes to the A100 pool with a preference for 80 GB",
                "path": str(CASES / "llm-on-a100" / "placement-test.yaml"),
                "passed": True,
                "failures": [],
            }
        ],
        "passed": 1,
        "failed": 0,
    }


# --- several Pods: one List document ---------------------------------------------------------------


def test_several_patches_are_one_json_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "review", GPU, CPU, "-o", "patch", *POLICIES)
    single_gpu = json.loads(run(capsys, "review", GPU, "-o", "patch", *POLICIES)[1])
    listing = json.loads(out)  # one valid JSON document
    assert code == 0
    assert listing == {"apiVersion": "v1", "kind": "List", "items": [single_gpu, []]}


def test_several_reviews_and_requests_are_one_json_list(capsys: pytest.CaptureFixture[str]) -> None:
    for output in ("review", "request"):
        code, out, _ = run(capsys, "review", GPU, CPU, "-o", output, *POLICIES)
        listing = json.loads(out)
        assert code == 0 and listing["kind"] == "List" and len(listing["items"]) == 2
        assert {item["kind"] for item in listing["items"]} == {"AdmissionReview"}
    answer = json.loads(run(capsys, "review", GPU, CPU, "-o", "review", *POLICIES)[1])["items"][0]
    assert json.loads(base64.b64decode(answer["response"]["patch"]))[0]["op"] == "add"


@pytest.mark.parametrize("output", ["pod", "yaml"])
def test_several_pods_are_one_yaml_list(output: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "review", GPU, CPU, "-o", output, *POLICIES)
    [listing] = list(yaml.safe_load_all(out))  # one YAML document, not two
    assert code == 0 and (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    assert [p["metadata"]["name"] for p in listing["items"]] == ["triton-gpu-0", "mlserver-0"]
    assert listing["items"][0]["metadata"]["annotations"]["placement-webhook.io/policy"] == "gpu-servers"


def test_json_output_of_one_pod_is_the_mutated_pod(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "review", GPU, "-o", "json", *POLICIES)
    pod = json.loads(out)
    assert code == 0 and pod == yaml.safe_load(run(capsys, "review", GPU, "-o", "pod", *POLICIES)[1])
    assert (
        pod["kind"] == "Pod"
        and pod["metadata"]["annotations"]["placement-webhook.io/policy"] == "gpu-servers"
    )


# --- directories and -R ----------------------------------------------------------------------------


def test_review_of_a_directory_and_recursively(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nested").mkdir()
    shutil.copy(GPU, tmp_path / "b-gpu.yaml")
    shutil.copy(CPU, tmp_path / "a-cpu.yml")
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "nested" / "pod.json").write_text(json.dumps(fixture("triton-gpu-0")))
    code, out, _ = run(capsys, "review", str(tmp_path), "-o", "yaml", *POLICIES)
    assert code == 0
    assert [p["metadata"]["name"] for p in yaml.safe_load(out)["items"]] == ["mlserver-0", "triton-gpu-0"]
    code, out, _ = run(capsys, "review", str(tmp_path), "-R", "-o", "yaml", *POLICIES)
    names = [p["metadata"]["name"] for p in yaml.safe_load(out)["items"]]
    assert code == 0 and names == ["mlserver-0", "triton-gpu-0", "triton-gpu-0"]


def test_a_directory_without_manifests_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub").mkdir()
    shutil.copy(GPU, tmp_path / "sub" / "pod.yaml")
    assert run(capsys, "review", str(tmp_path), *POLICIES) == (
        2,
        "",
        f"error: {tmp_path}: a directory without .yaml, .yml or .json files (-R to read its subdirectories)\n",
    )
    assert run(capsys, "review", str(tmp_path), "-R", *POLICIES)[0] == 0


def test_simulate_reads_directories_too(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.helpers import SELDON

    nodes = ("--nodes", str(NODES / "gpu-pools.yaml"))
    _, out, _ = run(capsys, "simulate", str(SELDON), *nodes, "-o", "json", *POLICIES)
    report = json.loads(out)
    assert report["policies"] == str(BUNDLED_POLICIES)
    assert [p["pod"] for p in report["pods"]] == [
        "seldon-mesh/mlserver-llm-chat-0",
        "seldon-mesh/triton-gpu-0",
    ]


# --- test: missing folders, every document ---------------------------------------------------------


def test_test_of_a_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing"
    assert run(capsys, "test", str(CASES), str(missing)) == (2, "", f"error: {missing}: no such directory\n")


def _two_document_case(tmp_path: Path, expected: list[dict[str, object]] | None = None) -> Path:
    case = tmp_path / "case"
    case.mkdir(parents=True)
    shutil.copy(BUNDLED_POLICIES, case / "policies.yaml")
    (case / "pods.yaml").write_text(yaml.safe_dump_all([fixture("triton-gpu-0"), fixture("mlserver-0")]))
    spec: dict[str, object] = {"name": "two pods", "input": "pods.yaml", "expect": {"outcome": "patched"}}
    if expected is not None:
        (case / "expected.yaml").write_text(yaml.safe_dump_all(expected))
        spec["expect"] = {"pod": "expected.yaml"}
    (case / "placement-test.yaml").write_text(yaml.safe_dump(spec))
    return case


def test_test_checks_every_document_of_the_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _two_document_case(tmp_path)
    code, out, _ = run(capsys, "test", str(tmp_path))
    assert code == 1
    assert (
        out.splitlines()[1]
        == "     document 2 (seldon-mesh/mlserver-0): outcome: expected patched, got unchanged"
    )


def test_test_compares_the_ith_document_with_the_ith_expected_pod(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gpu = yaml.safe_load(run(capsys, "review", GPU, "-o", "pod", *POLICIES)[1])
    _two_document_case(tmp_path, [gpu, fixture("mlserver-0")])
    assert run(capsys, "test", str(tmp_path))[0] == 0
    _two_document_case(tmp_path / "short", [gpu])
    code, out, _ = run(capsys, "test", str(tmp_path / "short"))
    assert code == 1 and "     pod: expected.yaml has 1 documents for the 2 of pods.yaml" in out.splitlines()


# --- label values must be strings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [("1", "a number (1)"), ("1.10", "a number (1.1)"), ("true", "a boolean (true)"), ("", "null (null)")],
)
def test_a_label_that_is_not_a_string_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, shown: str
) -> None:
    text = Path(GPU).read_text().replace("  labels:\n", f"  labels:\n    tier: {value}\n", 1)
    assert "tier:" in text
    path = tmp_path / "pod.yaml"
    path.write_text(text)
    message = (
        f"error: {path}: Pod seldon-mesh/triton-gpu-0: label tier is {shown}, but label values are strings"
        " and the API server refuses this Pod; quote the value\n"
    )
    assert run(capsys, "review", str(path), *POLICIES) == (2, "", message)
    assert run(capsys, "simulate", str(path), "--nodes", str(NODES / "gpu-pools.yaml"), *POLICIES) == (
        2,
        "",
        message,
    )
    shutil.copy(BUNDLED_POLICIES, tmp_path / "policies.yaml")
    spec = {"name": "label types", "input": "pod.yaml", "expect": {"outcome": "patched"}}
    (tmp_path / "placement-test.yaml").write_text(yaml.safe_dump(spec))
    code, out, _ = run(capsys, "test", str(tmp_path))
    assert code == 1 and out.splitlines()[1] == "     " + message.removeprefix("error: ").rstrip("\n")
    path.write_text(text.replace(f"tier: {value}", f'tier: "{value}"'))
    assert run(capsys, "review", str(path), *POLICIES)[0] == 0


# --- missing kubeconfig ----------------------------------------------------------------------------


def test_a_missing_kubeconfig_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    missing = str(tmp_path / "missing")
    assert run(capsys, "certs", "--install", "--kubeconfig", missing) == (
        2,
        "",
        f"error: --kubeconfig {missing}: no such file\n",
    )
    code, _, err = run(capsys, "validate", "--cluster", "--kubeconfig", missing, *POLICIES)
    assert (code, err) == (2, f"error: --kubeconfig {missing}: no such file\n")


# --- --help ----------------------------------------------------------------------------------------

VERBS = [
    "review",
    "validate",
    "simulate",
    "audit",
    "test",
    "schema",
    "native-guard",
    "export",
    "serve",
    "certs",
]


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_a_description_and_examples(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main([verb, "--help"])
    out = capsys.readouterr().out
    assert raised.value.code == 0
    description = out.split("\n\n")[1]
    assert len(description.split()) >= 8  # a sentence, not just the usage line
    examples = out.split("examples:\n")[1].splitlines()
    assert examples and all(
        line.strip().startswith(("placement-webhook", "kubectl", "PLACEMENT_WEBHOOK_", "|"))
        for line in examples
        if line.strip()
    )


def test_the_verbs_listed_are_all_the_verbs() -> None:
    parser = build_parser()
    [commands] = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    assert sorted(commands.choices) == sorted(VERBS)  # type: ignore[attr-defined]
