"""A large List export read in pieces is the same export read whole, or the pieces are declined.

``plain_list_documents`` cuts the items of a ``kubectl get -o yaml``-shaped ``List`` at lines that
start with ``- `` at column 0 and reads each run of items on its own. Whenever it answers, the
answer must be exactly ``plain_documents`` of the whole text; texts where a cut falls inside a
quoted scalar, a flow collection or a string that merely looks like ``items:`` must be declined
(or, where no cut falls there, read right). Cuts are made at every item here, so every boundary
of a text is tried.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import fixture
from tests.strategies import pods
from webhook.policy.plain_yaml import ReadPiece, plain_documents, plain_list_documents, split_list
from webhook.policy.source import MAX_DEPTH


class InTurn:
    """A ``PieceMap`` reading the pieces in this process, recording how many it got."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pieces: list[str] = []

    def __call__(self, read: ReadPiece, pieces: Sequence[str]) -> list[list[Any] | None]:
        self.pieces = list(pieces)
        return [read(piece) for piece in pieces]


def in_pieces(text: str, workers: int = 1000) -> list[Any] | None:
    return plain_list_documents(text, max_depth=MAX_DEPTH, read_pieces=InTurn(workers), min_chars=0)


def whole(text: str) -> list[Any] | None:
    return plain_documents(text, max_depth=MAX_DEPTH)


def listing(items: list[Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def test_an_export_is_read_in_pieces_as_it_is_read_whole() -> None:
    items = [fixture(name) for name in ["triton-gpu-0", "mlserver-0"] * 3]
    text = yaml.safe_dump(listing(items), sort_keys=False)
    reader = InTurn(3)
    read = plain_list_documents(text, max_depth=MAX_DEPTH, read_pieces=reader, min_chars=0)
    assert read == whole(text) == [listing(items)]
    assert len(reader.pieces) == 3 and all(piece.startswith("- apiVersion: v1\n") for piece in reader.pieces)


def test_small_texts_and_one_worker_are_read_whole() -> None:
    text = yaml.safe_dump(listing([fixture("mlserver-0") for _ in range(4)]))
    assert plain_list_documents(text, max_depth=MAX_DEPTH, read_pieces=InTurn(2)) is None  # < 4 MB
    assert plain_list_documents(text, max_depth=MAX_DEPTH, read_pieces=InTurn(1), min_chars=0) is None


STRINGS = st.sampled_from(
    [
        "- a", "-", "items:", "items: []", "kind: List", "# c", "a\n- b", "x\nitems:\n- y", "'q'", '"',
        "  lead", "trail  ", "tab\tin", "a: b", "[1, 2]", "{a: 1}", "\n\n", "é\u2028x", "- |\n  x", "yes",
    ]
)  # fmt: skip
VALUES = st.recursive(
    STRINGS | st.integers() | st.booleans() | st.none(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(STRINGS, children, max_size=3),
    max_leaves=10,
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300, deadline=None)
@given(
    st.lists(VALUES | pods(), min_size=2, max_size=6),
    st.fixed_dictionaries(
        {
            "sort_keys": st.booleans(),
            "default_flow_style": st.sampled_from([False, None]),
            "width": st.sampled_from([12, 40, 80]),
            "allow_unicode": st.booleans(),
            "default_style": st.sampled_from([None, '"', "'", "|"]),
        }
    ),
    st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["# - x", "", "- y", "kind: x", "  - z"]))),
)
def test_any_export_read_in_pieces_is_read_whole_or_declined(
    items: list[Any], style: dict[str, Any], inserted: list[tuple[int, str]]
) -> None:
    text = yaml.safe_dump(listing(items), **style)
    lines = text.splitlines(keepends=True)
    for at, line in inserted:  # lines that may end or break the items, or only look like items
        lines.insert(at % (len(lines) + 1), line + "\n")
    text = "".join(lines)
    read = in_pieces(text)
    assert read is None or read == whole(text)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=50, deadline=None)
@given(st.lists(VALUES | pods(), min_size=2, max_size=4))
def test_every_default_export_is_read_in_pieces(items: list[Any]) -> None:
    text = yaml.safe_dump(listing(items), sort_keys=False)
    assert in_pieces(text) == whole(text) == [listing(items)]


#: texts where reading cut pieces alone would go wrong, or cannot be right
TRAPS = {
    # a double-quoted string whose continuation line starts with "- " at column 0
    "quoted-continuation": 'items:\n- a: "x\n- b"\n- c\n',
    # a single-quoted one, the same
    "single-quoted-continuation": "items:\n- a: 'x\n- b'\n- c\n",
    # a flow sequence spanning lines with "- " at column 0 (not YAML: both refuse)
    "flow-across-lines": "items:\n- [a,\n- b]\n- c\n",
    # ``items:`` inside a string before the real ``items`` key
    "items-in-a-string": 'a: "x\nitems:\n- b\n"\nitems: []\n',
    # the same with two items in the string: cut there, the frame's ``items`` is no key
    "items-list-in-a-string": 'a: "x\nitems:\n- b\n- c\n"\nitems: []\n',
    # ``items:`` as the start of a string's continuation with the real list later
    "items-in-a-string-then-list": 'a: "x\nitems:\n- b\n"\nitems:\n- c\n- d\n',
    # an anchor in one piece, its alias in the next: only the whole text knows it
    "alias-across-pieces": "items:\n- &a {x: 1}\n- *a\n",
    # a literal scalar that keeps its trailing blank lines before the next item
    "keep-chomping": "items:\n- |+\n  text\n\n\n- b\n",
    # comments at column 0 between items and after them
    "comments": "items:\n# one\n- a\n# two\n- b\n# three\nkind: List\n",
    # items written as ``-`` alone on their line
    "dash-lines": "items:\n-\n  a: 1\n-\n  b: 2\nkind: List\n",
    # a second ``items`` key after the list
    "duplicate-items": "items:\n- a\n- b\nitems:\n- c\n",
    # a second document after the list
    "second-document": "items:\n- a\n- b\n---\nitems:\n- c\n",
    # a document end marker after the list
    "document-end": "items:\n- a\n- b\n...\n",
    # a tab-indented continuation of a plain scalar
    "tab-continuation": "items:\n- a\n\tb\n- c\n",
    # a plain scalar item continued on an indented line
    "plain-continuation": "items:\n- a\n  b\n- c\nkind: List\n",
    # Windows line ends
    "crlf": "items:\r\n- a\r\n- b\r\n",
    # items indented under their key (cut only at column 0: read whole)
    "indented-items": "items:\n  - a\n  - b\n",
    # a nested ``items:`` at column 0 inside a block scalar cannot exist; inside a flow mapping it can
    "items-in-flow": "a: {b: 1,\nitems: 2}\nitems:\n- c\n- d\n",
    # a key that is the root mapping's, but quoted
    "quoted-key": '"items":\n- a\n- b\n',
    # nesting at the limit in the last piece
    "deep": "items:\n- a\n- " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n",
    "too-deep": "items:\n- a\n- " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n",
}


@pytest.mark.parametrize("text", TRAPS.values(), ids=TRAPS.keys())
def test_traps_are_read_right_or_declined(text: str) -> None:
    read = in_pieces(text)
    assert read is None or read == whole(text)


@pytest.mark.parametrize(
    "name", ["quoted-continuation", "items-list-in-a-string", "alias-across-pieces", "duplicate-items"]
)
def test_cuts_that_would_change_the_reading_are_declined(name: str) -> None:
    text = TRAPS[name]
    assert split_list(text, 3) is not None  # the cuts are made, and the reading notices
    assert in_pieces(text) is None


@pytest.mark.parametrize("name", ["keep-chomping", "comments", "dash-lines", "plain-continuation", "deep"])
def test_cuts_between_items_are_read_in_pieces(name: str) -> None:
    text = TRAPS[name]
    assert in_pieces(text) == whole(text) is not None


def test_a_last_item_larger_than_a_piece_still_leaves_two_pieces() -> None:
    text = yaml.safe_dump(listing(["a", "b", {"big": ["x" * 50] * 100}]), sort_keys=False)
    reader = InTurn(2)
    read = plain_list_documents(text, max_depth=MAX_DEPTH, read_pieces=reader, min_chars=0)
    assert read == whole(text) and len(reader.pieces) == 2
