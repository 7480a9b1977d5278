"""The CEL building blocks: globs as RE2 regexes equal to ``fnmatchcase``, literals that quote any
value, label selectors. (The API server judges the whole: tests/e2e/test_native_guard.py.)"""

from __future__ import annotations

import fnmatch
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.native.cel import glob_regex, literal, matches_any_glob

GLOB_ALPHABET = "ab-!]\\[*?c.^$()|{}+"


@settings(max_examples=3000, deadline=None)
@given(st.text(GLOB_ALPHABET, max_size=8), st.lists(st.text("ab-!]\\[c.^$\n", max_size=6), max_size=8))
def test_a_glob_regex_matches_exactly_what_fnmatchcase_matches(pattern: str, names: list[str]) -> None:
    """RE2 and Python's ``re`` read every construct ``glob_regex`` writes the same way (escapes of
    metacharacters, classes, ``(?s)``), so Python's ``re`` stands in for RE2 here."""
    regex = re.compile(glob_regex(pattern))
    for name in names:
        assert (regex.fullmatch(name) is not None) == fnmatch.fnmatchcase(name, pattern), (pattern, name)


@pytest.mark.parametrize(
    ("pattern", "regex"),
    [
        ("seldon-*", "(?s)^seldon-.*$"),
        ("team-?", "(?s)^team-.$"),
        ("nvidia.com/gpu", "(?s)^nvidia\\.com/gpu$"),
        ("gpu-[a-c]", "(?s)^gpu-[a-c]$"),
        ("gpu-[!x]", "(?s)^gpu-[^x]$"),
        ("[z-a]", "(?s)^[^\\s\\S]$"),  # a reversed range matches nothing
        ("a[", "(?s)^a\\[$"),  # never closed: a literal bracket
        ("**", "(?s)^.*$"),
        ("(a|b)", "(?s)^\\(a\\|b\\)$"),
    ],
)
def test_glob_translation_table(pattern: str, regex: str) -> None:
    assert glob_regex(pattern) == regex


@pytest.mark.parametrize("value", ['say "hi"', "back\\slash", "line\nbreak", "ünïcode ✓", "' or true || '"])
def test_a_literal_holds_any_value_as_data(value: str) -> None:
    text = literal(value)
    assert text.startswith('"') and text.endswith('"')
    assert json.loads(text) == value  # CEL reads JSON's escapes the same way


def test_no_pattern_matches_nothing() -> None:
    assert matches_any_glob("request.namespace", []) == "false"
