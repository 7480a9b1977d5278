"""Broken policy files, by mutation of a valid one: a clear error from ``validate``, ``serve`` refusing
to start, and a running server keeping its last good policies."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import BUNDLED_POLICIES, admission_review, fixture, yaml_bomb
from tests.server_helpers import ConfigMapDir, RunningServer, running_server
from webhook.cluster.certs import ensure_dev_certificates
from webhook.errors import PolicyError
from webhook.policy.loading import load_policies_text

VALID = BUNDLED_POLICIES.read_text()
SOURCE = "mutated.yaml"
WRONG_VALUES: list[Any] = [7, "text", True, [1], {"k": 1}]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside the document."""
    children: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    found = []
    for key, child in children:
        found.append((*path, key))
        found.extend(_paths(child, (*path, key)))
    return found


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        document = document[key]
    return document


def _category(value: Any) -> type:
    return {bool: bool, int: int, str: str, list: list, dict: dict}.get(type(value), type(value))


@st.composite
def broken_documents(draw: st.DrawFn) -> dict[str, Any]:
    """The bundled policies with one change that always makes them invalid."""
    document = yaml.safe_load(VALID)
    kind = draw(st.sampled_from(["wrong type", "unknown key", "bad operator", "duplicate name", "missing"]))
    if kind == "wrong type":
        path = draw(st.sampled_from(_paths(document)))
        parent = _parent(document, path)
        value = draw(
            st.sampled_from([v for v in WRONG_VALUES if _category(v) != _category(parent[path[-1]])])
        )
        parent[path[-1]] = value
    elif kind == "unknown key":
        mappings = [p for p in _paths(document) if isinstance(_parent(document, (*p, None)), dict)]
        target = _parent(document, (*draw(st.sampled_from([(), *mappings])), None))
        target["bogus field!"] = "x"
    elif kind == "bad operator":
        operators = [p for p in _paths(document) if p[-1] == "operator"]
        _parent(document, draw(st.sampled_from(operators)))["operator"] = draw(
            st.sampled_from(["Bad", "in", ""])
        )
    elif kind == "duplicate name":
        policies = document["policies"]
        policies.append(copy.deepcopy(draw(st.sampled_from(policies))))
    else:
        policy = draw(st.sampled_from(document["policies"]))
        del policy[draw(st.sampled_from(["name", "placement"]))]
    return document


def assert_clear(problems: list[str]) -> None:
    assert problems, "no problem reported"
    for problem in problems:
        assert "\n" not in problem and problem.startswith(SOURCE) and len(problem) < 400, problem


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=broken_documents())
def test_every_mutation_is_reported_clearly(document: dict[str, Any]) -> None:
    with pytest.raises(PolicyError) as raised:
        load_policies_text(yaml.safe_dump(document), source=SOURCE)
    assert_clear(raised.value.problems)


@settings(max_examples=200, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(VALID)),
            st.integers(0, 12),
            st.text(alphabet=":-[]{}&*!|>'\"#\n \tab1", max_size=6),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_text_damage_is_valid_or_a_policy_error(edits: list[tuple[int, int, str]]) -> None:
    """Deleting and inserting YAML punctuation anywhere never escapes as another exception."""
    text = VALID
    for at, length, insert in edits:
        text = text[:at] + insert + text[at + length :]
    try:
        load_policies_text(text, source=SOURCE)
    except PolicyError as exc:
        assert_clear(exc.problems)


# --- the command line and the server -------------------------------------------------------------

BAD_OPERATOR = VALID.replace("operator: Equal", "operator: Bad", 1)
UNKNOWN_KEY = VALID.replace("- name: gpu-servers\n", "- name: gpu-servers\n  colour: blue\n", 1)


def _files(folder: Path) -> dict[str, Path]:
    """One file per kind of damage; the 100 MB one is sparse (its size is what matters first)."""
    texts = {
        "wrong type": VALID.replace("version: 1", "version: [1]", 1),
        "unknown key": UNKNOWN_KEY,
        "bad operator": BAD_OPERATOR,
        "duplicate names": VALID.replace("name: mig-servers", "name: gpu-servers", 1),
        "billion laughs": yaml_bomb(),
        "empty": "",
        "two documents": VALID + "---\n" + VALID,
    }
    files = {}
    for name, text in texts.items():
        files[name] = folder / f"{name.replace(' ', '-')}.yaml"
        files[name].write_text(text)
    files["binary"] = folder / "binary.yaml"
    files["binary"].write_bytes(b"\x00\xff\xfe" * 100)
    files["100 MB"] = folder / "huge.yaml"
    with files["100 MB"].open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    files["endless"] = Path("/dev/zero")
    files["a folder"] = folder
    return files


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhook", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_validate_reports_each_damage_in_one_line_and_exits_1(tmp_path: Path) -> None:
    files = _files(tmp_path)
    with ThreadPoolExecutor(4) as pool:  # the runs are independent, and mostly start-up
        results = pool.map(lambda path: _run("validate", "--policies", str(path)), files.values())
    for name, result in zip(files, results, strict=True):
        # a path that cannot be opened (a folder) is a missing input, exit 2 as for every input (issue 28)
        assert result.returncode == (2 if name == "a folder" else 1), (name, result.returncode, result.stderr)
        lines = result.stderr.splitlines()
        assert lines and all(line.startswith("error: ") for line in lines), (name, result.stderr)
        assert "Traceback" not in result.stderr and result.stdout == "", name


@pytest.mark.slow
@pytest.mark.parametrize("name", ["billion laughs", "100 MB", "endless", "unknown key", "binary"])
def test_serve_refuses_to_start(tmp_path: Path, name: str) -> None:
    path = _files(tmp_path)[name]
    ensure_dev_certificates(tmp_path / "certs")
    result = _run("serve", "--policies", str(path), "--cert-dir", str(tmp_path / "certs"), "--port", "1")
    assert result.returncode == 1 and result.stderr.startswith("error: "), (name, result.stderr)
    assert "Traceback" not in result.stderr


def _policy_of_answer(server: RunningServer) -> str:
    with server.connect() as conn:
        return str(
            conn.review(admission_review(fixture("triton-gpu-0")))["response"]["auditAnnotations"]["policy"]
        )


def _failures(server: RunningServer) -> float:
    with server.connect() as conn:
        text = conn.call("GET", "/metrics")[1].decode()
    match = re.search(r'placement_webhook_policy_reloads_total\{result="failure"\} (\S+)', text)
    return float(match.group(1)) if match else 0.0


@pytest.mark.slow
def test_a_running_server_keeps_its_last_good_policies(tmp_path: Path) -> None:
    configmap = ConfigMapDir(tmp_path / "policies", VALID)
    (tmp_path / "damaged").mkdir()
    damaged = _files(tmp_path / "damaged")
    with running_server(tmp_path, policies=configmap.path) as server:
        for name, path in damaged.items():
            if name in ("endless", "a folder", "100 MB", "binary"):
                continue  # not text a ConfigMap update writes; covered at start-up above
            before = _failures(server)
            configmap.update(path.read_text())
            server.wait_for(lambda before=before: _failures(server) > before)
            assert _policy_of_answer(server) == "gpu-servers", name
            assert server.readyz()["generation"] == 1, name
        configmap.update("x" * (2 * 1024 * 1024))  # over the 1 MiB ConfigMap limit
        server.wait_for(lambda: "byte limit" in (server.readyz()["lastReloadError"] or ""))
        configmap.update(VALID.replace("name: gpu-servers", "name: gpu-servers-v2"))
        server.wait_for(lambda: server.readyz()["generation"] == 2)
        assert _policy_of_answer(server) == "gpu-servers-v2"
