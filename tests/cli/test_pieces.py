"""Large exports read by more than one process: the pieces go to forked workers, the answer is the
same as reading in turn, and whatever cannot fork (threads alive, a worker that fails) reads here."""

from __future__ import annotations

import copy
import gc
import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import BUNDLED_POLICIES, ROOT, fixture
from webhook.cli import files
from webhook.cli.main import main
from webhook.cli.pieces import ProcessPieces, collector_paused
from webhook.policy.plain_yaml import SPLIT_MIN_CHARS, ReadPiece

PARENT = os.getpid()


def pid_of_reader(piece: str) -> list[Any]:
    return [piece, os.getpid()]


def fails_in_a_worker(piece: str) -> list[Any]:
    if os.getpid() != CALLER[0]:
        raise RuntimeError("a worker that breaks")
    return [piece]


CALLER = [0]


def read_again_here() -> None:
    CALLER[0] = os.getpid()
    assert ProcessPieces(workers=2)(fails_in_a_worker, ["a", "b"]) == [["a"], ["b"]]


def in_a_fresh_process(check: str) -> None:
    """Run ``check`` of this module in a new interpreter: one thread, as the CLI runs (a test
    process may have threads of its own, and then nothing forks, by design)."""
    code = f"from tests.cli.test_pieces import {check}; {check}()"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def read_by_workers() -> None:
    read = ProcessPieces(workers=3)(pid_of_reader, ["a", "b", "c"])
    me = os.getpid()
    assert read[0] == ["a", me]
    assert read[1] is not None and read[1][0] == "b" and read[1][1] != me
    assert read[2] is not None and read[2][0] == "c" and read[2][1] != me


def test_pieces_after_the_first_are_read_by_worker_processes() -> None:
    in_a_fresh_process("read_by_workers")


def test_with_other_threads_alive_the_pieces_are_read_here() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        read = ProcessPieces(workers=2)(pid_of_reader, ["a", "b"])
    finally:
        stop.set()
        other.join()
    assert read == [["a", PARENT], ["b", PARENT]]


def test_a_failing_worker_is_read_again_here() -> None:
    in_a_fresh_process("read_again_here")


def test_the_collector_is_paused_and_restored() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # as it was
    finally:
        gc.enable()


class Recording(ProcessPieces):
    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.pieces: list[int] = []

    def __call__(self, read: ReadPiece, pieces: Sequence[str]) -> Sequence[list[Any] | None]:
        self.pieces.append(len(pieces))
        return super().__call__(read, pieces)


def test_a_large_yaml_export_is_audited_in_pieces_as_its_json_twin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    templates, items = [fixture("triton-gpu-0"), fixture("mlserver-0")], []
    for i in range(700):  # ~5 MB of YAML: past the size where pieces pay
        pod = copy.deepcopy(templates[i % 2])
        pod["metadata"].update(name=f"srv-{i // 4}-{i % 4}", namespace=f"team-{i % 7}")
        pod["metadata"]["labels"]["seldon-server-name"] = f"srv-{i // 4}"
        items.append(pod)
    listing = {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
    as_yaml, as_json = tmp_path / "pods.yaml", tmp_path / "pods.json"
    as_yaml.write_text(yaml.safe_dump(listing, sort_keys=False))
    as_json.write_text(json.dumps(listing))
    assert as_yaml.stat().st_size > SPLIT_MIN_CHARS
    recording = Recording(workers=2)
    monkeypatch.setattr(files, "ProcessPieces", lambda: recording)
    reports = []
    for path in (as_yaml, as_json):
        assert main(["audit", str(path), "--policies", str(BUNDLED_POLICIES), "-o", "json"]) == 1
        report = json.loads(capsys.readouterr().out)
        assert report.pop("source") == str(path)
        reports.append(report)
    assert recording.pieces == [2]  # the YAML export, in two pieces; the JSON one is read as JSON
    assert reports[0] == reports[1] and reports[0]["audited"] == 700
