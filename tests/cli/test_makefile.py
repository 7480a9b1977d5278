"""``make run`` installs only what ``serve`` needs; ``make test`` the test extras (issue 28: a 523 MB
venv to run a server). Checked with ``make -n`` on a fresh copy: nothing is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


def planned(tmp_path: Path, target: str) -> list[str]:
    """The pip commands ``make TARGET`` would run on a fresh clone (no .venv yet)."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    result = subprocess.run(
        ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60
    )
    return [
        line for line in result.stdout.splitlines() if "pip install" in line and "upgrade pip" not in line
    ]


def test_make_run_installs_only_the_package(tmp_path: Path) -> None:
    assert planned(tmp_path, "run") == [".venv/bin/pip install --quiet -e ."]


def test_make_test_installs_the_test_extras(tmp_path: Path) -> None:
    assert planned(tmp_path, "test") == [".venv/bin/pip install --quiet -e '.[test]'"]
