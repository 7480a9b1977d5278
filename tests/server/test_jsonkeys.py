"""Duplicate-key detection: the fast colon count agrees with an exact check on every JSON text."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.server.jsonkeys import key_problem

# keys and strings full of the characters that could confuse a byte count
TEXT = st.text(alphabet=st.sampled_from(['"', ":", "\\", "a", "b", " ", "é", "\n", "{", "}"]), max_size=6)


def _encode_string(value: str, escape_colons: bool, ascii_only: bool) -> str:
    encoded = json.dumps(value, ensure_ascii=ascii_only)
    return encoded.replace(":", "\\u003a") if escape_colons else encoded


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, bool]:
    """JSON text written by hand, with objects that may repeat a key; and whether any does."""
    escape_colons, ascii_only = draw(st.booleans()), draw(st.booleans())
    key_separator = draw(st.sampled_from([":", ": ", " : ", "\n:\t"]))
    repeated = False

    def write(value: Any) -> str:
        nonlocal repeated
        if isinstance(value, list) and value and value[0] == "object":
            pairs = value[1]
            repeated = repeated or len({k for k, _ in pairs}) != len(pairs)
            return (
                "{"
                + ",".join(
                    _encode_string(k, escape_colons, ascii_only) + key_separator + write(v) for k, v in pairs
                )
                + "}"
            )
        if isinstance(value, list):
            return "[" + ", ".join(write(item) for item in value) + "]"
        if isinstance(value, str):
            return _encode_string(value, escape_colons, ascii_only)
        return json.dumps(value)

    leaves = st.none() | st.booleans() | st.integers(-5, 5) | TEXT
    trees = st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=3)
            | st.tuples(st.just("object"), st.lists(st.tuples(TEXT, children), max_size=4)).map(list)
        ),
        max_leaves=12,
    )
    return write(draw(trees)), repeated


@settings(max_examples=400, deadline=None)
@given(document=documents())
def test_fast_count_agrees_with_exact_check(document: tuple[str, bool]) -> None:
    text, repeated = document
    body = text.encode()
    found = key_problem(body, orjson.loads(body))
    assert (found is not None) == repeated, text


def _problem(body: bytes) -> str | None:
    return key_problem(body, orjson.loads(body))


def test_names_the_repeated_key_at_any_depth() -> None:
    assert _problem(b'{"a": 1, "a": 2}') == 'repeats the key "a" in one object; its meaning is ambiguous'
    assert _problem(b'{"request": {"object": {"spec": {"x": ":", "x": "::"}}}}') == (
        'repeats the key "x" in one object; its meaning is ambiguous'
    )
    assert _problem(b'{"a": {"b": 1}, "c": [{"b": 2}]}') is None


def test_refuses_nesting_deeper_than_254_levels() -> None:
    assert _problem(b"[" * 254 + b"]" * 254) is None
    assert _problem(b'{"a":' * 255 + b"1" + b"}" * 255) == "is nested deeper than 254 levels"
