"""The layers of ``webhook/`` point one way, checked with import-linter's contracts in pyproject.toml.

cli > server > cluster > simulation > engine > policy > kube: a module imports only from its own
layer or those below; the pure layers (kube, policy, engine, simulation) import neither the HTTP
stack, prometheus nor the Kubernetes client; only ``webhook.cluster`` imports that client; no
package has an import cycle among its modules.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PURE = ["kube", "policy", "engine", "simulation"]
EDGE_ONLY = {"fastapi", "starlette", "uvicorn", "kubernetes", "prometheus_client"}


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, capture_output=True, text=True, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )  # fmt: skip


def test_the_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("kube/objects.py", "from webhook.engine import placement", "Layers"),
        ("policy/model.py", "from webhook.server import metrics", "Layers"),
        ("simulation/scheduling.py", "import fastapi", "The pure layers"),
        ("server/app.py", "import kubernetes", "Only the cluster edge"),
        ("engine/review.py", "from webhook.engine import mutation", "No import cycles"),
    ],
)
def test_a_violation_breaks_its_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    shutil.copytree(ROOT / "webhook", tmp_path / "webhook", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "webhook" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert len(broken) >= 1 and any(row.startswith(contract) for row in broken), result.stdout


@pytest.mark.parametrize("package", PURE)
def test_pure_layer_does_not_load_the_edges_at_run_time(package: str) -> None:
    modules = sorted(p.stem for p in (ROOT / "webhook" / package).glob("*.py") if p.stem != "__init__")
    imports = "; ".join(f"import webhook.{package}.{m}" for m in modules)
    code = f"import sys; {imports}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {EDGE_ONLY!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", f"webhook.{package} loads {result.stdout.strip()}"


@pytest.mark.parametrize("module", ["webhook.server.serve", "webhook.cli.main"])
def test_serving_does_not_load_the_kubernetes_client_until_a_policy_needs_it(module: str) -> None:
    """Start-up time: the kubernetes client is a fifth of a second to import, needed only by the
    namespace cache (namespaceSelector policies) and the cluster verbs."""
    code = f"import sys, {module}; print('kubernetes' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_no_module_is_over_400_lines() -> None:
    """The size the project set itself: a module over it is split by concern (see CONTRIBUTING)."""
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in (ROOT / "webhook").rglob("*.py")
    }
    assert {path: n for path, n in sizes.items() if n > 400} == {}
