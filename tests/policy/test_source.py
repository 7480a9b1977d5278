"""Reading YAML that people (or attackers) wrote: every unreadable file is one clean error line.

``load_policies_text`` reads policy files (``PolicyError``), ``load_yaml_documents`` reads input
documents such as Pods and AdmissionReviews (``InputError``); neither may let a ``RecursionError``
or a ``ValueError`` escape as a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook.errors import InputError, PolicyError
from webhook.policy import source
from webhook.policy.loading import MAX_POLICY_FILE_BYTES, load_policies, load_policies_text
from webhook.policy.source import YamlDocument, load_yaml_documents

TOO_DEEP = "x.yaml:1: nesting deeper than 100 levels"
LIBYAML_LIMIT = "x.yaml:1: not valid YAML: exceeded maximum nesting depth"


def nested(kind: str, depth: int) -> str:
    if kind == "[":
        return "[" * depth + "]" * depth
    if kind == "{":
        return "{a: " * depth + "1" + "}" * depth
    return "- " * depth + "1\n"  # block sequences, one level per "- "


def block_mappings(depth: int) -> str:
    return "".join("  " * i + "a:\n" for i in range(depth)) + "  " * depth + "1\n"


def problems_of(load: Callable[..., object], text: str) -> list[str]:
    """The error lines, whichever of the two loaders raised them."""
    with pytest.raises((PolicyError, InputError)) as raised:
        load(text, source="x.yaml")
    error = raised.value
    if load is load_policies_text:
        assert isinstance(error, PolicyError)
        return error.problems
    assert isinstance(error, InputError)
    return [str(error)]


LOADERS = pytest.mark.parametrize("load", [load_policies_text, load_yaml_documents], ids=["policy", "input"])


@LOADERS
@pytest.mark.parametrize(
    ("kind", "depth", "problem"),
    [
        ("[", 500, TOO_DEEP),  # RecursionError before issue 17
        ("[", 1000, TOO_DEEP),
        ("[", 100_000, LIBYAML_LIMIT),
        ("{", 500, TOO_DEEP),
        ("{", 1000, TOO_DEEP),
        ("{", 100_000, LIBYAML_LIMIT),
        ("-", 500, TOO_DEEP),
        ("-", 1000, LIBYAML_LIMIT),
        ("-", 100_000, LIBYAML_LIMIT),
    ],
)
def test_deep_nesting_is_one_clean_error(
    load: Callable[..., object], kind: str, depth: int, problem: str
) -> None:
    assert problems_of(load, nested(kind, depth)) == [problem]


@LOADERS
@pytest.mark.parametrize(
    ("depth", "problem"),
    [
        (500, "x.yaml:102: nesting deeper than 100 levels"),
        (1000, "x.yaml:1000: not valid YAML: exceeded maximum nesting depth"),
    ],
)
def test_deep_block_mappings_are_one_clean_error(
    load: Callable[..., object], depth: int, problem: str
) -> None:
    assert problems_of(load, block_mappings(depth)) == [problem]


def test_nesting_up_to_the_limit_is_read() -> None:
    expected: list[object] = []
    for _ in range(100):
        expected = [expected]
    assert load_yaml_documents(nested("[", 101)) == [expected]  # the innermost list is level 100
    assert problems_of(load_yaml_documents, nested("{", 101)) == [TOO_DEEP]  # the scalar is level 101


@LOADERS
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # PyYAML's int() refuses over 4300 digits with a ValueError, not a YAMLError
        (
            "a: " + "9" * 5000 + "\n",
            "x.yaml: unsupported YAML value: Exceeds the limit (4300 digits) for integer string conversion:"
            " value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit",
        ),
        ("a: 2001-02-30\n", "x.yaml: unsupported YAML value: day is out of range for month"),
    ],
)
def test_values_python_cannot_build_are_one_clean_error(
    load: Callable[..., object], text: str, problem: str
) -> None:
    assert problems_of(load, text) == [problem]


def _policy_file_of(tmp_path: Path, size: int) -> Path:
    """A valid policy file padded with a comment to exactly ``size`` bytes."""
    body = "version: 1\npolicies: []\n#"
    path = tmp_path / "policies.yaml"
    path.write_bytes(body.encode() + b"x" * (size - len(body) - 1) + b"\n")
    assert path.stat().st_size == size
    return path


def test_a_policy_file_of_exactly_one_mebibyte_loads(tmp_path: Path) -> None:
    assert len(load_policies(_policy_file_of(tmp_path, MAX_POLICY_FILE_BYTES))) == 0


def test_one_byte_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    path = _policy_file_of(tmp_path, MAX_POLICY_FILE_BYTES + 1)
    with pytest.raises(PolicyError) as raised:
        load_policies(path)
    assert raised.value.problems == [f"{path}: 1048577 bytes is over the 1048576 byte limit"]


VALID = "version: 1\npolicies: [{name: p, placement: {nodeSelector: {pool: gpu}}}]\n"


def _file_problems(path: Path) -> list[str]:
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
    assert _file_problems(path) == [f"{path}: 1048577 bytes is over the 1048576 byte limit"]


def test_a_missing_file_and_a_directory(tmp_path: Path) -> None:
    assert _file_problems(tmp_path / "missing.yaml") == [
        f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory"
    ]
    assert _file_problems(tmp_path) == [f"{tmp_path}: cannot read: Is a directory"]


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"version: 1 # \xe9\n")
    assert _file_problems(path) == [f"{path}: not UTF-8 text: invalid continuation byte"]


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: 2\npolicies: []\n")
    assert _file_problems(path)[0].startswith(f"{path}:1: version: ")


def test_a_reader_error_has_no_line_and_keeps_its_first_line() -> None:
    # PyYAML's ReaderError carries neither problem_mark nor problem
    assert problems_of(load_policies_text, "a: \x07") == [
        "x.yaml: not valid YAML: unacceptable character #x0007: control characters are not allowed"
    ]


def test_a_path_with_no_known_line_is_only_the_source() -> None:
    document = YamlDocument(data={}, source="x.yaml", lines={("a",): 3})
    assert (document.line_of(("b", "c")), document.where(("b", "c"))) == (0, "x.yaml")
    assert (document.line_of(("a", "c")), document.where(("a", "c"))) == (3, "x.yaml:3")


# --- large exports: JSON parsed as JSON, aliases measured by what they add -----------------------

#: text YAML can carry too (YAML refuses control characters that JSON escapes; such a JSON file is
#: read, as the API server would read it, where the YAML way refused it)
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=8)
JSONABLE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=30,
)


@given(st.dictionaries(TEXT, JSONABLE, max_size=5))
def test_a_json_document_reads_as_the_yaml_reading_of_the_same_text(document: dict[str, object]) -> None:
    text = json.dumps(document, indent=2, ensure_ascii=False)  # as kubectl writes it: UTF-8
    assert load_yaml_documents(text) == load_yaml_documents("# read as YAML\n" + text) == [document]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{\n  "a": 1,\n  "a": 2\n}\n', 'x.yaml:3: duplicate key "a"'),
        ('{"a": ' * 101 + "1" + "}" * 101, TOO_DEEP),
    ],
    ids=["duplicate-key", "too-deep"],
)
def test_json_the_fast_path_would_let_through_gets_the_yaml_message(text: str, problem: str) -> None:
    assert problems_of(load_yaml_documents, text) == [problem]


def test_a_large_document_without_aliases_is_read_and_aliases_are_measured_by_what_they_add(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(source, "MAX_ALIAS_NODES", 1000)
    big = "# YAML\nitems:\n" + "".join(f"- {{name: pod-{i}, labels: {{a: b}}}}\n" for i in range(1000))
    assert len(load_yaml_documents(big)[0]["items"]) == 1000  # ~6,000 nodes, none added
    bomb = "a: &a [" + ", ".join(["x"] * 100) + "]\nb: [" + ", ".join(["*a"] * 11) + "]\n"
    assert problems_of(load_yaml_documents, bomb) == [
        "x.yaml: YAML aliases would add over 1000 nodes when expanded"
    ]
    ten = "a: &a [" + ", ".join(["x"] * 100) + "]\nb: [" + ", ".join(["*a"] * 9) + "]\n"
    assert len(load_yaml_documents(ten)[0]["b"]) == 9  # 909 nodes added
