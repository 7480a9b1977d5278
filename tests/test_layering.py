"""The pure core imports neither the HTTP stack nor the Kubernetes client; only cluster.py talks to the API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

WEBHOOK = Path(__file__).resolve().parent.parent / "webhook"
CORE = ["policies", "matching", "selectors", "tolerations", "placement", "patches", "admission", "objects",
        "yamlsource", "documents", "policytests", "scheduling", "simulation", "reachability", "seldon"]  # fmt: skip
EDGE_ONLY = {"fastapi", "starlette", "uvicorn", "kubernetes", "prometheus_client"}


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_pull_in_the_edges(module: str) -> None:
    code = f"import sys, webhook.{module}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {EDGE_ONLY!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", f"webhook.{module} imports {result.stdout.strip()}"


def test_only_cluster_module_imports_the_kubernetes_client() -> None:
    importers = []
    for path in WEBHOOK.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "kubernetes" or n.startswith("kubernetes.") for n in names):
                importers.append(path.name)
    assert sorted(set(importers)) == ["cluster.py"]
