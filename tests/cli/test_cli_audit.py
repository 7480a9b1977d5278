"""``audit FILE...`` in-process: exports of running Pods in, a report by owner and an exit code out.
(``audit --cluster`` runs against the real control plane in tests/e2e/test_audit.py.)"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import BUNDLED_POLICIES, bundled_policies, fixture, trusting
from tests.simulation.test_audit import placed, running
from webhook.cli.main import main
from webhook.engine.guard import DEFAULT_ACCESS
from webhook.policy.loading import load_policies

POLICIES = ["--policies", str(BUNDLED_POLICIES)]
WEBHOOK_CONFIGURATION = Path(__file__).resolve().parents[2] / "deploy" / "base" / "webhook.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def export(path: Path, *objects: dict[str, Any]) -> str:
    """What ``kubectl get pods,replicasets -o yaml`` writes: one List."""
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": list(objects)}))
    return str(path)


def deployment_pod(
    name: str, *, replicaset: str = "triton-dep-5c8f7", template_hash: str = "5c8f7"
) -> dict[str, Any]:
    pod = fixture("triton-gpu-0")
    pod["metadata"] |= {"name": name, "generateName": f"{replicaset}-"}
    pod["metadata"]["labels"]["pod-template-hash"] = template_hash
    pod["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replicaset, "uid": "r", "controller": True}
    ]
    return pod


REPLICASET = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "metadata": {
        "name": "triton-dep-5c8f7",
        "namespace": "seldon-mesh",
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "triton-dep", "controller": True}
        ],
    },
}


@pytest.fixture
def cluster_export(tmp_path: Path) -> str:
    """Two StatefulSet Pods (one placed by today's policies), one Deployment Pod not yet placed,
    the Seldon scheduler (not a server: never sent) and a server Pod in kube-system (never sent)."""
    old = running(fixture("triton-gpu-0"))
    new = running(placed(fixture("triton-gpu-0"), bundled_policies()))
    new["metadata"]["name"] = "triton-gpu-1"
    system = copy.deepcopy(old)
    system["metadata"] |= {"name": "gpu-probe", "namespace": "kube-system"}
    return export(
        tmp_path / "pods.yaml",
        new,
        old,
        running(deployment_pod("triton-dep-5c8f7-x2k9q")),
        running(fixture("seldon-scheduler-0")),
        system,
        REPLICASET,
    )


def test_the_table_groups_the_pods_that_differ_by_owner(
    cluster_export: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "audit", cluster_export, *POLICIES)
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"policies: {BUNDLED_POLICIES}, 3 policies",
        "webhook: the shipped webhook configuration",
        f"audited 3 Pods from {cluster_export}: 2 differ, in 2 owners",
        "not audited: 1 Pod namespace kube-system not selected by the webhook's namespaceSelector",
        "not audited: 1 Pod not selected by the webhook's objectSelector",
        "",
        "Deployment seldon-mesh/triton-dep (via ReplicaSet triton-dep-5c8f7)",
        "  roll: kubectl rollout restart deployment/triton-dep -n seldon-mesh",
        "  triton-dep-5c8f7-x2k9q  patched (gpu-servers)",
        "    + toleration seldon-gpu-srv=true:NoSchedule",
        "    + required pool In [infer-srv]",
        "",
        "StatefulSet seldon-mesh/triton-gpu",
        "  roll: kubectl rollout restart statefulset/triton-gpu -n seldon-mesh",
        "  triton-gpu-0  patched (gpu-servers)",
        "    + toleration seldon-gpu-srv=true:NoSchedule",
        "    + required pool In [infer-srv]",
    ]


def test_the_json_report(cluster_export: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", cluster_export, *POLICIES, "-o", "json")
    report = json.loads(out)
    assert code == 1
    assert report == {
        "policies": str(BUNDLED_POLICIES),
        "source": cluster_export,
        "webhookConfiguration": "the shipped webhook configuration",
        "audited": 3,
        "differing": 2,
        "owners": [
            {
                "kind": "Deployment",
                "namespace": "seldon-mesh",
                "name": "triton-dep",
                "via": "ReplicaSet triton-dep-5c8f7",
                "command": "kubectl rollout restart deployment/triton-dep -n seldon-mesh",
                "note": None,
                "pods": [
                    {
                        "name": "triton-dep-5c8f7-x2k9q",
                        "status": "patched",
                        "policy": "gpu-servers",
                        "changes": [
                            "toleration seldon-gpu-srv=true:NoSchedule",
                            "required pool In [infer-srv]",
                        ],
                        "message": None,
                        "node": "a100-40-1",
                    }
                ],
            },
            {
                "kind": "StatefulSet",
                "namespace": "seldon-mesh",
                "name": "triton-gpu",
                "via": None,
                "command": "kubectl rollout restart statefulset/triton-gpu -n seldon-mesh",
                "note": None,
                "pods": [
                    {
                        "name": "triton-gpu-0",
                        "status": "patched",
                        "policy": "gpu-servers",
                        "changes": [
                            "toleration seldon-gpu-srv=true:NoSchedule",
                            "required pool In [infer-srv]",
                        ],
                        "message": None,
                        "node": "a100-40-1",
                    }
                ],
            },
        ],
        "skipped": [
            {
                "pod": "kube-system/gpu-probe",
                "reason": "namespace kube-system not selected by the webhook's namespaceSelector",
            },
            {
                "pod": "seldon-mesh/seldon-scheduler-0",
                "reason": "not selected by the webhook's objectSelector",
            },
        ],
        "notes": [],
    }
    _, as_yaml, _ = run(capsys, "audit", cluster_export, *POLICIES, "-o", "yaml")
    assert yaml.safe_load(as_yaml) == report


def test_pods_placed_by_todays_policies_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pods = [running(placed(fixture(name), bundled_policies())) for name in ("triton-gpu-0", "mlserver-0")]
    code, out, err = run(capsys, "audit", export(tmp_path / "placed.yaml", *pods), *POLICIES)
    assert (code, err) == (0, "")
    assert out.splitlines()[2] == f"audited 2 Pods from {tmp_path / 'placed.yaml'}: 0 differ"


def test_stdin_and_the_webhook_configuration_among_the_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The installed configuration decides: here its namespaceSelector leaves seldon-mesh out."""
    documents = yaml.safe_load_all(WEBHOOK_CONFIGURATION.read_text())
    config = next(d for d in documents if d["kind"] == "MutatingWebhookConfiguration")
    config["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]["values"].append("seldon-mesh")
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "seldon-mesh", "labels": {"a": "b"}},
    }
    text = yaml.safe_dump_all([config, namespace, running(fixture("triton-gpu-0"))])
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(text))
    code, out, _ = run(capsys, "audit", "-", *POLICIES)
    assert code == 0
    assert out.splitlines()[1:4] == [
        "webhook: mutatingwebhookconfiguration placement-webhook from <stdin>",
        "audited 0 Pods from -: 0 differ",
        "not audited: 1 Pod namespace seldon-mesh not selected by the webhook's namespaceSelector",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "error: audit: give FILE... (kubectl get pods -o yaml exports) or --cluster\n"),
        (["pods.yaml", "--cluster"], "error: audit: give FILE... or --cluster, not both\n"),
        (["pods.yaml", "--kubeconfig", "k"], "error: audit: --kubeconfig only with --cluster\n"),
        (
            ["pods.yaml", "--webhook-configuration", "w"],
            "error: audit: --webhook-configuration only with --cluster (from files: add the"
            " MutatingWebhookConfiguration to the inputs)\n",
        ),
        (
            ["--cluster", "--kubeconfig", "/nonexistent/k"],
            "error: --kubeconfig /nonexistent/k: no such file\n",
        ),
        (
            ["/nonexistent/pods.yaml"],
            "error: /nonexistent/pods.yaml: cannot read: No such file or directory\n",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "audit", *argv, *POLICIES) == (2, "", message)


def test_input_of_another_kind_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = export(tmp_path / "x.yaml", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}})
    assert run(capsys, "audit", path, *POLICIES) == (
        2,
        "",
        f"error: {path}: expected Pods (and ReplicaSets, Namespaces, a MutatingWebhookConfiguration),"
        ' got kind "Service"\n',
    )


def test_two_webhook_configurations_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    documents = yaml.safe_load_all(WEBHOOK_CONFIGURATION.read_text())
    config = next(d for d in documents if d["kind"] == "MutatingWebhookConfiguration")
    path = export(tmp_path / "x.yaml", config, config)
    assert run(capsys, "audit", path, *POLICIES) == (
        2,
        "",
        "error: more than one MutatingWebhookConfiguration among the inputs; give one\n",
    )


def test_a_label_that_is_not_a_string_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = running(fixture("triton-gpu-0"))
    pod["metadata"]["labels"]["tier"] = 1
    path = export(tmp_path / "x.yaml", pod)
    code, out, err = run(capsys, "audit", path, *POLICIES)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {path}: Pod seldon-mesh/triton-gpu-0: label tier is a number (1)")


def test_conflicts_and_stale_placements_say_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = policies_file(tmp_path / "old.yaml", "old-pool")
    pod = running(placed(fixture("triton-gpu-0"), load_policies(old)))
    path = export(tmp_path / "pods.yaml", pod)
    code, out, _ = run(
        capsys, "audit", path, "--policies", str(policies_file(tmp_path / "new.yaml", "new-pool"))
    )
    assert code == 1
    assert out.splitlines()[-2:] == [
        "  triton-gpu-0  conflict (gpu)",
        "    policy gpu conflicts with the Pod's own placement on pool",
    ]
    nothing = tmp_path / "none.yaml"
    nothing.write_text(old.read_text().replace('servers: ["*"]', 'servers: ["none-*"]'))
    code, out, _ = run(capsys, "audit", path, "--policies", str(nothing))
    assert code == 1
    assert out.splitlines()[-2:] == [
        "  triton-gpu-0  stale (gpu)",
        "    placed by policy gpu, but no enforce policy applies to it today",
    ]


def policies_file(path: Path, pool: str) -> Path:
    path.write_text(
        'version: 1\npolicies:\n- name: gpu\n  match: {servers: ["*"]}\n'
        f"  placement: {{nodeAffinity: {{required: [{{key: pool, operator: In, values: [{pool}]}}]}}}}\n"
    )
    return path


def test_a_pod_the_guard_would_refuse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not a Seldon server (the mutating webhook is never sent it), but it tolerates the GPU taint."""
    guarded = tmp_path / "guarded.yaml"
    guarded.write_text(
        trusting(BUNDLED_POLICIES.read_text() + "\nreservations:\n- taint: {key: seldon-gpu-srv}\n")
    )
    pod = running(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "team-a", "labels": {"app": "web"}},
            "spec": {
                "containers": [{"name": "web", "image": "nginx"}],
                "tolerations": [{"operator": "Exists"}],
            },
        }
    )
    path = export(tmp_path / "pods.yaml", pod)
    code, out, _ = run(capsys, "audit", path, "--policies", str(guarded))
    assert code == 1
    assert out.splitlines()[-4:] == [
        "Pod team-a/web-0",
        "  roll: kubectl delete pod web-0 -n team-a, then create it again from its own manifest"
        " (not from kubectl get: that copy is bound to its node and the webhook skips it)",
        "  web-0  refused",
        "    Pod team-a/web-0 tolerates the reserved taint seldon-gpu-srv (toleration *), but no enforce"
        " policy places it there and no allow rule admits it; " + DEFAULT_ACCESS,
    ]
    assert run(capsys, "audit", path, *POLICIES)[0] == 0  # without the reservation: not audited


NLP_ONLY = """version: 1
policies:
- name: nlp-gpu
  match: {servers: ["*"], namespaceSelector: {matchLabels: {team: nlp}}}
  placement: {nodeSelector: {pool: nlp}}
"""


@pytest.mark.parametrize(("team", "code"), [("nlp", 1), ("cv", 0)])
def test_namespace_labels_come_from_namespaces_among_the_inputs(
    team: str, code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.yaml").write_text(NLP_ONLY)
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "seldon-mesh", "labels": {"team": team}},
    }
    path = export(tmp_path / "pods.yaml", namespace, running(fixture("triton-gpu-0")))
    result, out, _ = run(capsys, "audit", path, "--policies", str(tmp_path / "p.yaml"))
    assert result == code
    assert ("    + nodeSelector pool=nlp" in out.splitlines()) == (team == "nlp")


def test_namespace_labels_a_policy_needs_and_nobody_gave(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.yaml").write_text(NLP_ONLY)
    path = export(tmp_path / "pods.yaml", running(fixture("triton-gpu-0")))
    assert run(capsys, "audit", path, "--policies", str(tmp_path / "p.yaml")) == (
        2,
        "",
        "error: labels of namespace 'seldon-mesh' are unknown and policy nlp-gpu matches on namespaceSelector:"
        " add the Namespace to the inputs (kubectl get namespace seldon-mesh -o yaml) or audit with --cluster\n",
    )
