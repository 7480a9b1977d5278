"""The command line as a kubectl user expects it (issue 28): missing inputs exit 2, directories of
mixed manifests, workloads reviewed through the Pod their controller creates, refusals that survive
a pipe, namespaces checked, ``-o request`` that round-trips, simulate ``-o yaml``."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import BUNDLED_POLICIES, CASES, FIXTURES, NODES, SELDON, fixture
from webhook.cli.main import main

GPU = str(FIXTURES / "triton-gpu-0.yaml")
POLICIES = ("--policies", str(BUNDLED_POLICIES))
LABELLED = CASES / "namespace-labels-from-manifest"
DENYING = str(CASES / "conflict-denies" / "policies.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, *documents: Any) -> str:
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return str(path)


def deployment(name: str = "triton-gpu", namespace: str | None = "seldon-mesh") -> dict[str, Any]:
    """A Deployment whose Pod template is the GPU server fixture's."""
    pod = fixture("triton-gpu-0")
    metadata: dict[str, Any] = {"name": name} | ({"namespace": namespace} if namespace else {})
    template = {"metadata": {"labels": pod["metadata"]["labels"]}, "spec": pod["spec"]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {"selector": {"matchLabels": {"seldon-server-name": "triton-gpu"}}, "template": template},
    }


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "triton"},
    "spec": {"ports": [{"port": 80}]},
}


# --- 1. a missing --policies file is a missing input: exit 2 ----------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("review", GPU, "--policies", "nope.yaml"),
        ("validate", "--policies", "nope.yaml"),
        ("validate", "nope.yaml"),
        ("validate", "nope.yaml", "-o", "json"),
        ("simulate", GPU, "--nodes", str(NODES / "gpu-pools.yaml"), "--policies", "nope.yaml"),
    ],
)
def test_a_missing_policy_file_exits_2(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    assert run(capsys, *argv) == (2, "", "error: nope.yaml: cannot read: No such file or directory\n")


def test_an_invalid_policy_file_still_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\npolicies: [{name: a}]\n")
    assert run(capsys, "review", GPU, "--policies", str(bad))[0] == 1


# --- 2. a directory of mixed manifests: Pods reviewed, the rest named on stderr --------------------


def test_review_of_a_directory_skips_other_kinds_and_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub").mkdir()
    shutil.copy(GPU, tmp_path / "sub" / "pod.yaml")
    config = yaml.safe_load((SELDON / "serverconfigs.yaml").read_text().split("---")[1])
    write(tmp_path / "sub" / "other.yaml", SERVICE, config)
    code, out, err = run(capsys, "review", str(tmp_path), "-R", *POLICIES)
    assert code == 0 and "Pod seldon-mesh/triton-gpu-0" in out and "outcome: patched" in out
    other = tmp_path / "sub" / "other.yaml"
    assert err.splitlines() == [
        f"note: {other}: document 1: skipped Service triton: not a Pod, workload, Seldon Server or AdmissionReview"
    ]  # the ServerConfig alone stands for the runtime chart's Server: reviewed, not skipped
    assert out.count("\nPod ") == 2 and "from:   ServerConfig seldon-mesh/mlserver" in out


def test_errors_name_the_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"}, "spec": {}}
    path = write(tmp_path / "m.yaml", SERVICE, fixture("triton-gpu-0"), broken)
    code, out, err = run(capsys, "review", path, *POLICIES)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == (
        f"error: {path}: document 3: StatefulSet s: spec.template.spec.containers must be a list (the Pod template)"
    )


@pytest.mark.parametrize("verb", ["review", "simulate"])
def test_inputs_without_pods_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str) -> None:
    path = write(tmp_path / "ns.yaml", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
    nodes = ("--nodes", str(NODES / "gpu-pools.yaml")) if verb == "simulate" else ()
    code, out, err = run(capsys, verb, path, *nodes, *POLICIES)
    assert (code, out) == (2, "") and err.startswith("error: no Pods") and path in err


# --- 3. workloads: the Pod their controller creates ------------------------------------------------


def test_review_of_a_deployment_reviews_its_pod_and_says_where_it_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "deploy.yaml", deployment())
    code, out, err = run(capsys, "review", path, *POLICIES)
    assert (code, err) == (0, "")
    assert out.splitlines()[1:3] == [
        "Pod seldon-mesh/triton-gpu-* (server triton-gpu, type triton)",
        "  from:   Deployment seldon-mesh/triton-gpu (the Pod its controller creates)",
    ]
    assert "  outcome: patched (3 patch ops)" in out
    code, out, _ = run(capsys, "review", path, *POLICIES, "-o", "yaml")
    pod = yaml.safe_load(out)
    assert pod["kind"] == "Pod" and pod["metadata"]["generateName"] == "triton-gpu-"
    assert pod["metadata"]["annotations"] == {"placement-webhook.io/policy": "gpu-servers"}


def test_review_of_a_seldon_server_with_its_server_config(capsys: pytest.CaptureFixture[str]) -> None:
    server, configs = str(SELDON / "server-triton-gpu.yaml"), str(SELDON / "serverconfigs.yaml")
    code, out, err = run(capsys, "review", server, configs, *POLICIES)
    assert (code, err) == (0, "")
    assert "  from:   Server seldon-mesh/triton-gpu (the Pod its controller creates)" in out
    assert "  match:  gpu-servers" in out


def test_test_cases_take_workloads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "case"
    case.mkdir()
    write(case / "input.yaml", deployment())
    (case / "placement-test.yaml").write_text(
        f"name: a Deployment's Pods\npolicies: {BUNDLED_POLICIES}\ninput: input.yaml\n"
        "expect: {outcome: patched, policy: gpu-servers}\n"
    )
    code, out, _ = run(capsys, "test", str(case))
    assert code == 0 and out.endswith("1 passed, 0 failed\n")
    write(case / "input.yaml", deployment(), SERVICE)  # a case's input is meant whole: no skipping
    code, out, _ = run(capsys, "test", str(case))
    assert code == 1 and "document 2: skipped Service triton" in out


# --- 4. a refusal survives a pipe ------------------------------------------------------------------


@pytest.mark.parametrize("output", ["json", "yaml", "pod", "patch", "review"])
def test_a_denied_pod_is_said_on_stderr_whatever_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    pod = fixture("triton-gpu-0")
    pod["spec"]["nodeSelector"] = {"pool": "cpu"}
    path = write(tmp_path / "pod.yaml", pod)
    code, out, err = run(capsys, "review", path, "--policies", DENYING, "-o", output)
    assert code == 1 and out
    assert err == (
        "error: Pod seldon-mesh/triton-gpu-0 denied: placement-webhook: policy gpu-servers-strict conflicts"
        " with the Pod's own placement on pool\n"
    )


def test_a_guard_refusal_is_said_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    stowaway = str(CASES / "guard-refuses-a-stowaway" / "pod.yaml")
    reserved = str(Path(__file__).parents[2] / "examples" / "reserved-gpu-pool.yaml")
    code, out, err = run(capsys, "review", stowaway, "--policies", reserved, "-o", "json")
    assert code == 1 and json.loads(out)["kind"] == "Pod"
    assert err.startswith("error: Pod team-a/batch-1 refused by the reservation guard: placement-webhook:")


# --- 5. -o request carries the namespace labels it needs -------------------------------------------


def test_review_request_output_round_trips_with_its_namespace_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = str(LABELLED / "policies.yaml")
    pod = fixture("triton-gpu-0")
    path = write(tmp_path / "pod.yaml", pod)
    labels = ("--namespace-labels", "team=nlp")
    code, summary, _ = run(capsys, "review", path, "--policies", policies, *labels)
    assert code == 0 and "match:  nlp-team" in summary
    code, request, _ = run(capsys, "review", path, "--policies", policies, *labels, "-o", "request")
    shown = json.loads(request)
    assert [item["kind"] for item in shown["items"]] == ["Namespace", "AdmissionReview"]
    assert shown["items"][0]["metadata"] == {
        "name": "seldon-mesh",
        "labels": {"team": "nlp", "kubernetes.io/metadata.name": "seldon-mesh"},
    }
    monkeypatch.setattr("sys.stdin", io.StringIO(request))
    assert run(capsys, "review", "-", "--policies", policies) == (0, summary.replace(path, "<stdin>"), "")
    # without namespaceSelector, the request alone, as before
    code, request, _ = run(capsys, "review", path, *POLICIES, "-o", "request")
    assert json.loads(request)["kind"] == "AdmissionReview"


# --- 6. --kubeconfig needs --cluster; -n is checked ------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("review", GPU, *POLICIES),
        ("validate", *POLICIES),
        ("simulate", GPU, "--nodes", str(NODES / "gpu-pools.yaml"), *POLICIES),
    ],
)
def test_kubeconfig_without_cluster_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    assert run(capsys, *argv, "--kubeconfig", "kc") == (
        2,
        "",
        f"error: {argv[0]}: --kubeconfig needs --cluster (it says which cluster to read)\n",
    )


def test_a_namespace_the_pod_overrides_is_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "review", GPU, *POLICIES, "-n", "team-a")
    assert code == 0 and "Pod seldon-mesh/triton-gpu-0 " in out
    assert err == (
        f"warning: {GPU}: document 1: Pod seldon-mesh/triton-gpu-0 is in namespace seldon-mesh (its own"
        " metadata.namespace), not -n team-a: -n applies only to objects without one (kubectl refuses such"
        " a mismatch)\n"
    )
    assert run(capsys, "review", GPU, *POLICIES, "-n", "seldon-mesh")[2] == ""


@pytest.mark.parametrize("verb", ["review", "simulate", "audit"])
def test_an_invalid_namespace_name_is_refused(capsys: pytest.CaptureFixture[str], verb: str) -> None:
    with pytest.raises(SystemExit) as raised:
        main([verb, GPU, "-n", "Other_NS"])
    assert raised.value.code == 2
    assert 'invalid namespace "Other_NS": must be a lowercase RFC 1123 label' in capsys.readouterr().err


# --- 8. simulate -o yaml, long reasons, covered tolerations ----------------------------------------


def test_simulate_yaml_is_the_json_data(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("simulate", GPU, "--nodes", str(NODES / "gpu-pools.yaml"), *POLICIES)
    code_json, as_json, _ = run(capsys, *argv, "-o", "json")
    code_yaml, as_yaml, _ = run(capsys, *argv, "-o", "yaml")
    assert code_json == code_yaml and yaml.safe_load(as_yaml) == json.loads(as_json)


def test_simulate_summarises_ored_terms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pod = fixture("triton-gpu-0")
    terms = [
        {
            "matchExpressions": [
                {"key": f"zone-{i}", "operator": "In", "values": [f"zone-{i}-a", f"zone-{i}-b"]}
            ]
        }
        for i in range(5)
    ]
    pod["spec"]["affinity"] = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}
    }
    path = write(tmp_path / "pod.yaml", pod)
    _, out, _ = run(capsys, "simulate", path, "--nodes", str(NODES / "gpu-pools.yaml"), *POLICIES)
    rows = [line for line in out.splitlines() if "terms fail" in line]
    cells = [cell for row in rows for cell in re.split(r"\s{2,}", row.strip()) if "terms fail" in cell]
    node = len("control-plane-1")  # two such cells beside the NODE column fit 120 characters
    assert cells and all(len(cell) <= (120 - 6 - node) // 2 for cell in cells)
    assert cells[0] == "affinity: 5 terms fail: zone-0 In [zone-0-a, zon…"
    _, out, _ = run(
        capsys, "simulate", path, "--nodes", str(NODES / "gpu-pools.yaml"), *POLICIES, "-o", "json"
    )
    reasons = [n["reason"] or "" for n in json.loads(out)["pods"][0]["before"]["nodes"]]
    assert max(r.count(" | ") for r in reasons) == 4  # whole in JSON


def test_simulate_says_when_a_policy_toleration_is_already_covered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = fixture("triton-gpu-0")
    pod["spec"]["tolerations"].append({"key": "seldon-gpu-srv", "operator": "Exists"})
    path = write(tmp_path / "pod.yaml", pod)
    _, out, _ = run(capsys, "simulate", path, "--nodes", str(NODES / "gpu-pools.yaml"), *POLICIES)
    assert (
        "  note: policy gpu-servers: toleration seldon-gpu-srv=true:NoSchedule not added: the Pod already"
        " tolerates it (toleration seldon-gpu-srv)"
    ) in out.splitlines()


# --- 11. -o pod is -o yaml ----------------------------------------------------------------------------


def test_output_pod_is_an_alias_of_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "review", GPU, *POLICIES, "-o", "pod") == run(
        capsys, "review", GPU, *POLICIES, "-o", "yaml"
    )
    with pytest.raises(SystemExit):
        main(["review", "--help"])
    assert "pod: the same as yaml" in " ".join(capsys.readouterr().out.split())


# --- 9. audit mode says what enforce would do; audit -o json keeps prose out of command ------------


def test_an_audit_policy_that_would_deny_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policies = tmp_path / "p.yaml"
    policies.write_text(
        Path(DENYING).read_text().replace("onConflict: deny", "onConflict: deny\n  mode: audit")
    )
    pod = fixture("triton-gpu-0")
    pod["spec"]["nodeSelector"] = {"pool": "cpu"}
    code, out, _ = run(capsys, "review", write(tmp_path / "pod.yaml", pod), "--policies", str(policies))
    assert code == 0
    assert (
        "  warning: placement-webhook: audit: policy gpu-servers-strict conflicts with the Pod's own placement"
        " on pool; would deny in enforce mode"
    ) in out.splitlines()


def test_audit_json_has_no_prose_command_for_owners_it_cannot_roll(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.simulation.test_audit import running

    bare = running(fixture("triton-gpu-0"))
    del bare["metadata"]["ownerReferences"]  # created by hand: no controller rolls it
    path = tmp_path / "pods.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [bare]}))
    code, out, _ = run(capsys, "audit", str(path), *POLICIES, "-o", "json")
    [owner] = json.loads(out)["owners"]
    assert code == 1 and owner["kind"] == "Pod" and owner["command"] is None
    assert owner["note"].startswith("kubectl delete pod triton-gpu-0 -n seldon-mesh, then create it again")
