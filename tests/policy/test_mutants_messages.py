"""Policy-file messages mutation testing found asserted only as "some error" (docs/mutation.md)."""

from __future__ import annotations

import pytest

from webhook.errors import PolicyError
from webhook.policy.loading import load_policies_text
from webhook.policy.source import YamlDocument


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policies_text(text, source="x.yaml")
    return caught.value.problems


def test_a_reader_error_has_no_line_and_keeps_its_first_line() -> None:
    # PyYAML's ReaderError carries neither problem_mark nor problem
    assert problems("a: \x07") == [
        "x.yaml: not valid YAML: unacceptable character #x0007: control characters are not allowed"
    ]


@pytest.mark.parametrize(
    ("match", "message"),
    [
        ("5", "policies[0] (p).match: must be a mapping"),  # model_type
        (
            "{podSelector: {matchLabels: 5}}",
            "policies[0] (p).match.podSelector.matchLabels: must be a mapping",
        ),
        (
            "{podSelector: {matchExpressions: 5}}",
            "policies[0] (p).match.podSelector.matchExpressions: must be a list",
        ),
    ],
)
def test_type_errors_read_as_json_types(match: str, message: str) -> None:
    text = f"version: 1\npolicies:\n- name: p\n  match: {match}\n  placement: {{}}\n"
    assert problems(text) == [f"x.yaml:4: {message}"]


def test_a_path_with_no_known_line_is_only_the_source() -> None:
    document = YamlDocument(data={}, source="x.yaml", lines={("a",): 3})
    assert (document.line_of(("b", "c")), document.where(("b", "c"))) == (0, "x.yaml")
    assert (document.line_of(("a", "c")), document.where(("a", "c"))) == (3, "x.yaml:3")
