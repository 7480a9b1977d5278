"""Progress on a terminal's stderr, nothing elsewhere; stdout the same either way.

The commands run as subprocesses with stderr on a pseudo-terminal (a real TTY, 120 columns) or
on a pipe; ``tests/e2e/test_paging.py`` does the same for ``audit --cluster`` against a real API
server with 5,000 Pods.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli.test_inputs_at_scale import export
from tests.helpers import BUNDLED_POLICIES
from webhook.cli.common import chunk_size
from webhook.cli.progress import Progress

pytestmark = pytest.mark.slow
COMMAND = [sys.executable, "-m", "webhook"]


def _read_all(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            return data
        if not chunk:
            return data
        data += chunk


def on_a_terminal(argv: list[str]) -> tuple[str, str]:
    """(stdout, what reached the terminal on stderr)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=terminal, text=True) as run:
        os.close(terminal)
        reader = ThreadPoolExecutor(1).submit(_read_all, controller)
        out, _ = run.communicate(timeout=120)
        err = reader.result(timeout=30)
    os.close(controller)
    return out, err.decode(errors="replace")


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "pods.json"
    path.write_text(json.dumps(export(2000)))
    return path


def test_audit_shows_its_progress_on_a_terminal_only(pods: Path) -> None:
    argv = [*COMMAND, "audit", str(pods), "--policies", str(BUNDLED_POLICIES), "-o", "json"]
    piped = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 1 and piped.stderr == ""
    out, err = on_a_terminal(argv)
    assert out == piped.stdout
    assert "reviewing" in err and "Pods" in err and "/s" in err, err[-400:]
    out, err = on_a_terminal([*argv, "--quiet"])
    assert out == piped.stdout and err == ""


def test_progress_that_is_off_passes_everything_through_and_shows_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    progress = Progress(enabled=False)
    assert list(progress.track(iter(range(5)), "x", total=5)) == [0, 1, 2, 3, 4]
    progress.page("list pods", 500, 10, False)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(("text", "size"), [("0", 0), ("500", 500), ("12", 12)])
def test_a_chunk_size_is_a_whole_number(text: str, size: int) -> None:
    assert chunk_size(text) == size


@pytest.mark.parametrize("text", ["-1", "1.5", "all", ""])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(Exception, match="expected a whole number of objects"):
        chunk_size(text)
