"""``simulate`` with Seldon Models: the CLI options, and ``--cluster`` without files against an API stub."""

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
from tests.helpers import NODES, ROOT, SELDON

SELDON_FILES = [
    str(SELDON / f)
    for f in ("server-triton-gpu.yaml", "server-mlserver-llm.yaml", "serverconfigs.yaml", "models.yaml")
]
OPTIONS = ("--policies", str(ROOT / "examples" / "gpu-pool.yaml"), "--accelerator", "tensorrt=nvidia.com/gpu")
PREFIX = "/apis/mlops.seldon.io/v1alpha1"


def _objects(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((SELDON / name).read_text()) if d]


class _Api(BaseHTTPRequestHandler):
    """Nodes, plus the Seldon lists ``simulate --cluster`` asks for (items without kind, as sent)."""

    routes: ClassVar[dict[str, dict[str, Any]]] = {}
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        type(self).seen.append(path)
        body = self.routes.get(path)
        payload = json.dumps(body or {"kind": "Status", "message": "not found"}).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _list(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": f"{kind}List", "items": [{k: v for k, v in i.items() if k != "kind"} for i in items]}


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Api]]:
    servers = _objects("server-triton-gpu.yaml") + _objects("server-mlserver-llm.yaml")
    handler = type("Handler", (_Api,), {"seen": []})
    handler.routes = {
        "/api/v1/nodes": _list("Node", yaml.safe_load((NODES / "gpu-pools.yaml").read_text())["items"]),
        f"{PREFIX}/namespaces/seldon-mesh/serverconfigs": _list(
            "ServerConfig", _objects("serverconfigs.yaml")
        ),
        f"{PREFIX}/servers": _list("Server", servers),
        f"{PREFIX}/models": _list("Model", _objects("models.yaml")),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    cluster = {"name": "t", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "t", "user": {"token": "x"}}],
                "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
                "current-context": "t",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    yield handler
    server.shutdown()
    server.server_close()
    thread.join()


def _without_sources(report: dict[str, Any]) -> dict[str, Any]:
    for entry in report["pods"] + report["models"]:
        entry.pop("source")
    return {k: v for k, v in report.items() if k != "nodes"}


def test_simulate_cluster_without_files_equals_the_files(
    api: type[_Api], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "simulate", "--cluster", "-o", "json", *OPTIONS)
    from_cluster = json.loads(out)
    assert (code, err) == (1, "")
    assert sorted(api.seen) == sorted(
        api.routes
    )  # ServerConfigs from seldon-mesh only; the rest cluster-wide
    code, out, _ = run(
        capsys, "simulate", *SELDON_FILES, "--nodes", str(NODES / "gpu-pools.yaml"), "-o", "json", *OPTIONS
    )
    from_files = json.loads(out)
    assert code == 1 and _without_sources(from_cluster) == _without_sources(from_files)
    assert [m["problems"] for m in from_files["models"]] == [
        [],
        ["pinned to Server triton-gpu (spec.server), which lacks sklearn"],
    ]
    assert from_files["serverNotes"] == [
        "Server seldon-mesh/mlserver-llm-chat: no Model among the inputs loads on it",
        "Server seldon-mesh/mlserver-llm-chat: no Model requires its capability llm",
    ]


def test_simulate_cluster_operator_namespace(api: type[_Api], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "simulate", "--cluster", "--operator-namespace", "seldon-system", *OPTIONS)
    assert (code, out) == (2, "")
    assert err == ("error: cluster: list serverconfigs.mlops.seldon.io in seldon-system: 404 not found\n")


def test_simulate_without_files_needs_the_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "simulate", "--nodes", str(NODES / "gpu-pools.yaml"))
    assert (code, out) == (2, "")
    assert (
        err
        == "error: simulate: give FILE... (or --cluster without files to read the cluster's Seldon objects)\n"
    )


@pytest.mark.parametrize("value", ["gpu", "=nvidia.com/gpu", "gpu=cpu", "gpu=memory"])
def test_accelerator_must_map_a_requirement_to_an_extended_resource(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "simulate", *SELDON_FILES, "--nodes", str(NODES / "gpu-pools.yaml"), "--accelerator", value
    )
    assert code == 2
    assert err == (
        f"error: --accelerator {value}: expected REQUIREMENT=RESOURCE with an extended resource, e.g. gpu=nvidia.com/gpu\n"
    )


def test_operator_namespace_for_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "simulate",
        *SELDON_FILES,
        "--nodes",
        str(NODES / "gpu-pools.yaml"),
        "--operator-namespace",
        "seldon-system",
    )
    assert code == 2 and "Server triton-gpu: ServerConfig 'triton' is not among the inputs" in err
