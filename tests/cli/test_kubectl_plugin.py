"""``kubectl placement ...``: the console script's second name, found and run by the real kubectl."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.chart import cache_dir
from tests.helpers import FIXTURES

KUBECTL = cache_dir() / "kubectl"
PLUGIN = Path(sys.executable).parent / "kubectl-placement"

if not os.access(KUBECTL, os.X_OK):
    if os.environ.get("PLACEMENT_WEBHOOK_REQUIRE_E2E") == "1":
        raise RuntimeError("PLACEMENT_WEBHOOK_REQUIRE_E2E=1 but kubectl is missing: run `make control-plane`")
    pytest.skip("kubectl not built: run `make control-plane`", allow_module_level=True)


def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
    """The real kubectl with only the virtualenv's scripts and the system on PATH (no kubeconfig needed)."""
    env = {"PATH": f"{PLUGIN.parent}:/usr/bin:/bin", "HOME": str(Path.home()), "KUBECONFIG": "/dev/null"}
    return subprocess.run([str(KUBECTL), *args], capture_output=True, text=True, env=env, timeout=60)


def test_kubectl_finds_the_plugin() -> None:
    listed = kubectl("plugin", "list")
    assert listed.returncode == 0 and str(PLUGIN) in listed.stdout.splitlines(), listed.stdout + listed.stderr


def test_kubectl_placement_runs_the_cli_under_its_kubectl_name() -> None:
    version = kubectl("placement", "--version")
    assert (version.returncode, version.stdout) == (0, "kubectl placement 0.1.0\n")
    review = kubectl("placement", "review", str(FIXTURES / "triton-gpu-0.yaml"), "-o", "patch")
    direct = subprocess.run(
        [str(PLUGIN.parent / "placement-webhook"), "review", str(FIXTURES / "triton-gpu-0.yaml"), "-o", "patch"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert (review.returncode, review.stdout) == (0, direct.stdout) and '"op"' in review.stdout
    assert kubectl("placement", "--help").stdout.startswith("usage: kubectl placement ")
