"""Plain YAML read from the parser's events is the composed reading, or is not taken.

``plain_documents`` is a shortcut for exports: whenever it answers, the answer must be exactly what
composing, checking and constructing gives (``source._checked_documents``), and whenever that
reading refuses a text (a duplicate key, an alias, too deep), the shortcut must decline so that
the refusal and its line number come from the composed reading.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import fixture
from tests.strategies import pods
from webhook.policy import source
from webhook.policy.plain_yaml import plain_documents
from webhook.policy.source import MAX_DEPTH, load_yaml_documents


def composed(text: str) -> list[Any]:
    return [document.data for document in source._checked_documents(text, source="x.yaml")]


#: scalars as written: plain ones that resolve to every implicit type, quoted ones, tagged ones,
#: anchors and aliases, merge and value keys (.nan is left out: it is not equal to itself)
SCALARS = st.sampled_from(
    [
        "a", "é", "1", "-0", "0x1f", "0o17", "017", "1_000", "1e3", "3.5", ".inf", "-.Inf",
        "yes", "No", "on", "true", "~", "null", "", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
        "'1'", '"yes"', '"a\\tb"', "!!str 3", "!!int '7'", "! x", "&a 1", "*a", "<<", "=",
    ]
)  # fmt: skip


def flow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    mappings = st.lists(st.tuples(SCALARS, children), max_size=4).map(
        lambda pairs: "{" + ", ".join(f"{key}: {value}" for key, value in pairs) + "}"
    )
    sequences = st.lists(children, max_size=4).map(lambda items: "[" + ", ".join(items) + "]")
    return mappings | sequences | st.sampled_from(["&b {a: 1}", "!!set {a}", "[*b]", "{[1]: 2}"])


FLOW = st.recursive(SCALARS, flow, max_leaves=12)


@given(st.lists(FLOW, min_size=1, max_size=3))
def test_the_plain_reading_is_the_composed_one_or_declines(documents: list[str]) -> None:
    text = "\n---\n".join(documents) + "\n"
    plain = plain_documents(text, max_depth=MAX_DEPTH)
    try:
        expected = composed(text)
    except ValueError:  # refused by the composed reading: the plain one must not answer
        assert plain is None
        return
    assert plain is None or plain == expected


@settings(suppress_health_check=[HealthCheck.too_slow])  # a Pod of 200 env entries is slow to draw
@given(st.lists(pods(), min_size=1, max_size=2))
def test_exports_of_pods_take_the_plain_reading(items: list[dict[str, Any]]) -> None:
    export = {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
    text = yaml.safe_dump(export, sort_keys=False) + "---\n" + yaml.safe_dump(items[0])
    assert plain_documents(text, max_depth=MAX_DEPTH) == composed(text) == [export, items[0]]


def test_fixture_pods_and_empty_documents_take_the_plain_reading() -> None:
    pod = fixture("triton-gpu-0")
    text = "---\n# a comment\n---\n" + yaml.safe_dump(pod) + "---\n"
    assert plain_documents(text, max_depth=MAX_DEPTH) == composed(text) == [None, pod, None]
    assert plain_documents("", max_depth=MAX_DEPTH) == composed("") == []


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # an anchor and an alias
        "a: !!str 1\n",  # a tag
        "a: {b: 1}\n<<: {c: 2}\n",  # a merge key
        "? [a]\n: 1\n",  # a key that is not a scalar
        "a: 1\n'a': 2\n",  # a duplicate key (by its text, as the composed reading compares keys)
        "a: 1" + "0" * 5000 + "\n",  # an int PyYAML refuses to construct
        "a: [1\n",  # not YAML
        "- " * (MAX_DEPTH + 1) + "1\n",  # too deep
    ],
    ids=["alias", "tag", "merge", "collection-key", "duplicate", "huge-int", "syntax", "too-deep"],
)
def test_what_needs_the_composed_reading_is_declined(text: str) -> None:
    assert plain_documents(text, max_depth=MAX_DEPTH) is None


def test_the_deepest_allowed_nesting_is_read_plainly() -> None:
    text = "- " * MAX_DEPTH + "1\n"  # the scalar is level 100
    assert plain_documents(text, max_depth=MAX_DEPTH) == composed(text) == load_yaml_documents(text)
