"""``simulate`` and ``validate --nodes|--cluster`` in-process; ``--cluster`` talks to a local API stub."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from tests.cli.test_cli import run
from tests.helpers import BUNDLED_POLICIES, FIXTURES, NODES, SELDON

GPU = str(FIXTURES / "triton-gpu-0.yaml")
POLICIES = ("--policies", str(BUNDLED_POLICIES))


def test_simulate_table_before_and_after(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "simulate", GPU, "--nodes", str(FIXTURES / "nodes.yaml"), *POLICIES)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"policies: {POLICIES[1]}, 3 policies",
        f"Pod seldon-mesh/triton-gpu-0 from {GPU}",
        "  policy: gpu-servers, outcome patched",
        "  NODE        BEFORE                                            AFTER",
        "  gpu-node-1  untolerated taint seldon-gpu-srv=true:NoSchedule  fits",
        "  cpu-node-1  fits                                              affinity: pool In [infer-srv] (pool=general)",
        "  fits: 1 of 2 nodes before, 1 of 2 nodes after",
        "  note: cannot check nvidia.com/gpu on gpu-node-1: no status.allocatable",
    ]


def test_simulate_json_for_scripts_and_exit_1_on_a_gpu_pod_that_may_miss_its_gpu(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [str(SELDON / "server-triton-gpu.yaml"), str(SELDON / "serverconfigs.yaml")]
    code, out, _ = run(
        capsys, "simulate", *files, "--nodes", str(NODES / "gpu-pools.yaml"), "-o", "json", *POLICIES
    )
    report = json.loads(out)
    assert code == 1 and report["nodes"] == str(NODES / "gpu-pools.yaml")
    [pod] = report["pods"]
    assert pod["pod"] == "seldon-mesh/triton-gpu-0" and pod["source"].endswith("(Server triton-gpu)")
    assert (pod["policy"], pod["outcome"]) == ("gpu-servers", "patched")
    assert pod["before"]["fits"] == ["cpu-1", "cpu-2"]
    assert pod["after"]["fits"] == ["a100-40-1", "a100-80-1", "l4-1", "mig-1"]
    assert pod["after"]["nodes"][-1] == {
        "node": "control-plane-1",
        "fits": False,
        "reason": "untolerated taint node-role.kubernetes.io/control-plane:NoSchedule",
        "score": 0,
        "preferNoSchedule": [],
    }
    assert pod["problems"] == ["may land on mig-1, which offers no nvidia.com/gpu"]


def test_simulate_extended_resource_toleration_option(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", GPU, "--nodes", str(NODES / "gke-gpu.yaml"), *POLICIES]
    code, out, _ = run(capsys, *argv)
    assert code == 1 and "problem: fits no node after the policies" in out
    code, out, _ = run(capsys, *argv, "--extended-resource-toleration")
    assert code == 0 and "problem" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nodes", "missing.yaml"], "error: missing.yaml: cannot read"),
        (
            ["--nodes", str(FIXTURES / "mlserver-0.yaml")],
            'document 1 is not a Node (kind "Pod", apiVersion "v1")',
        ),
    ],
)
def test_simulate_unusable_nodes_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "simulate", GPU, *argv, *POLICIES)
    assert (code, out) == (2, "") and message in err and err.count("\n") == 1


def test_simulate_needs_exactly_one_node_source(capsys: pytest.CaptureFixture[str]) -> None:
    for extra in ([], ["--nodes", "a.yaml", "--cluster"]):
        with pytest.raises(SystemExit) as raised:
            run(capsys, "simulate", GPU, *extra)
        assert raised.value.code == 2


def test_validate_with_nodes_warns_about_a_toleration_without_affinity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(
        "version: 1\npolicies:\n- name: gpu-servers\n  match: {servers: ['*']}\n  placement:\n"
        "    tolerations: [{key: seldon-gpu-srv, operator: Equal, value: 'true', effect: NoSchedule}]\n"
    )
    argv = ["validate", "--policies", str(policies), "--nodes", str(NODES / "gpu-pools.yaml")]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert out.splitlines()[1:] == [
        f"checked against 7 nodes from {NODES / 'gpu-pools.yaml'}:",
        "  warning: gpu-servers: tolerates seldon-gpu-srv=true:NoSchedule but its Pods also fit cpu-1, cpu-2,"
        " outside the tainted pool; add nodeAffinity or nodeSelector (a taint alone does not place a Pod)",
        "0 errors, 1 warning",
    ]
    code, _, _ = run(capsys, *argv, "--strict")
    assert code == 1


def test_validate_with_nodes_exits_1_on_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", *POLICIES, "--nodes", str(FIXTURES / "nodes.yaml"))
    assert (
        code == 1
        and "  error: llm-on-a100: its placement fits no node" in out
        and out.endswith("1 error, 1 warning\n")
    )


# --- --cluster: the real kubernetes client against a local API server stub -------------------------


class _NodesApi(BaseHTTPRequestHandler):
    """Answers ``GET /api/v1/nodes`` with a NodeList (items carry no kind, as the API server sends)."""

    body: ClassVar[dict[str, Any]] = {}
    status: ClassVar[int] = 200
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        payload = json.dumps(self.body if self.path.startswith("/api/v1/nodes") else {}).encode()
        self.send_response(self.status if self.path.startswith("/api/v1/nodes") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_NodesApi]]:
    nodes = yaml.safe_load((NODES / "gpu-pools.yaml").read_text())["items"]
    handler = type("Handler", (_NodesApi,), {"seen": [], "status": 200})
    handler.body = {
        "kind": "NodeList",
        "apiVersion": "v1",
        "items": [{k: v for k, v in n.items() if k != "kind"} for n in nodes],
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "test", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
                ],
                "users": [{"name": "test", "user": {"token": "secret-token"}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
                "current-context": "test",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    yield handler
    server.shutdown()
    server.server_close()
    thread.join()


def test_simulate_cluster_lists_nodes_through_kubeconfig(
    api_server: type[_NodesApi], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "simulate", GPU, "--cluster", "-o", "json", *POLICIES)
    report = json.loads(out)
    assert err == "" and report["nodes"].startswith("cluster http://127.0.0.1:")
    assert report["pods"][0]["after"]["fits"] == ["a100-40-1", "a100-80-1", "l4-1", "mig-1"] and code == 1
    assert api_server.seen == [("/api/v1/nodes?limit=500", "Bearer secret-token")]  # paged as kubectl


def test_validate_cluster(api_server: type[_NodesApi], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "--cluster", *POLICIES)
    assert code == 0 and "checked against 7 nodes from cluster http://127.0.0.1:" in out


def test_cluster_errors_are_one_line(api_server: type[_NodesApi], capsys: pytest.CaptureFixture[str]) -> None:
    api_server.status = 403
    api_server.body = {"kind": "Status", "status": "Failure", "reason": "Forbidden"}
    code, out, err = run(capsys, "simulate", GPU, "--cluster", *POLICIES)
    assert (code, out, err) == (2, "", "error: cluster: list nodes: 403 Forbidden\n")


def test_missing_kubeconfig_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, out, err = run(capsys, "validate", "--cluster", *POLICIES)
    assert out.endswith("3 policies valid (2 enforce, 1 audit)\n")  # the file itself was checked first
    assert (code, err) == (2, f"error: KUBECONFIG={tmp_path / 'none'}: no such file\n")
