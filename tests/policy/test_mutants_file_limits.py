"""The 1 MiB policy-file limit and unreadable files, message by message (docs/mutation.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook.errors import PolicyError
from webhook.policy.loading import MAX_POLICY_FILE_BYTES, load_policies

VALID = "version: 1\npolicies: [{name: p, placement: {nodeSelector: {pool: gpu}}}]\n"


def _problems(path: Path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policies(path)
    return caught.value.problems


def test_a_file_of_exactly_the_limit_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(VALID + "#" * (MAX_POLICY_FILE_BYTES - len(VALID) - 1) + "\n")
    assert path.stat().st_size == MAX_POLICY_FILE_BYTES == 1024 * 1024
    assert [p.name for p in load_policies(path).policies] == ["p"]
    assert [p.name for p in load_policies(str(path)).policies] == ["p"]


def test_one_byte_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(VALID + "#" * (MAX_POLICY_FILE_BYTES - len(VALID)) + "\n")
    assert _problems(path) == [f"{path}: 1048577 bytes is over the 1048576 byte limit"]


def test_a_missing_file_and_a_directory(tmp_path: Path) -> None:
    assert _problems(tmp_path / "missing.yaml") == [
        f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory"
    ]
    assert _problems(tmp_path) == [f"{tmp_path}: cannot read: Is a directory"]


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"version: 1 # \xe9\n")
    assert _problems(path) == [f"{path}: not UTF-8 text: invalid continuation byte"]


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: 2\npolicies: []\n")
    assert _problems(path)[0].startswith(f"{path}:1: version: ")
