"""Warnings fit what kube-apiserver passes on intact (k8s.io/apiserver pkg/endpoints/filters/warning.go:
each warning cut to 256 runes once a response's warnings pass 4096, further ones dropped; a warning
with a control character dropped by apimachinery util/net NewWarningHeader)."""

from __future__ import annotations

import pytest

from tests.helpers import minimal_pod, policies
from webhook.admission.response import MAX_WARNING_CHARS, MAX_WARNINGS, short_warning, short_warnings
from webhook.engine.mutation import review_pod
from webhook.policy.compiled import PolicySet

NAME = "p" * 63  # the longest policy name
KEY = f"{'a' * 63}.{'b' * 63}.{'c' * 63}.example.com/{'k' * 63}"  # a 267-character label key


def one(placement: str, *, extra: str = "") -> PolicySet:
    return policies(f"""
        version: 1
        policies:
        - name: {NAME}
          placement: {placement}
          {extra}
        """)


def test_a_long_conflict_warning_keeps_who_and_the_consequence() -> None:
    pod = minimal_pod(nodeSelector={KEY: "a"})
    result = review_pod(pod, namespace="ns", policies=one(f"{{nodeSelector: {{{KEY}: b}}}}"))
    (warning,) = result.warnings
    assert len(warning) == MAX_WARNING_CHARS == 256
    assert warning.startswith(f"placement-webhook: policy {NAME} conflicts with the Pod's own placement on a")
    assert warning.endswith(f"{'k' * 63}; not applied") and warning.count("…") == 1


def test_a_long_audit_warning_keeps_what_would_be_added() -> None:
    values = ", ".join(f"value-{i:02}" for i in range(30))
    placement = f"{{nodeAffinity: {{required: [{{key: pool, operator: In, values: [{values}]}}]}}}}"
    result = review_pod(minimal_pod(), namespace="ns", policies=one(placement, extra="mode: audit"))
    (warning,) = result.warnings
    assert len(warning) == 256
    assert warning.startswith(
        f"placement-webhook: audit: policy {NAME} would add required pool In [value-00, "
    )
    assert warning.endswith("value-28, value-29]")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x" * (256 - 19), "placement-webhook: " + "x" * 237),  # exactly 256: untouched
        ("y" * 200, "placement-webhook: " + "y" * 200),  # over the 120 guidance, under the limit
        ("a" * 169 + "b" * 69, "placement-webhook: " + "a" * 151 + "…" + "a" * 16 + "b" * 69),  # 257
        ("line one\nline  two\ttab", "placement-webhook: line one line two tab"),
        ("bell\x07 nul\x00 del\x7f c1\x9b", "placement-webhook: bell? nul? del? c1?"),
    ],
)
def test_short_warning(text: str, expected: str) -> None:
    assert short_warning(text) == expected
    assert len(short_warning(text)) <= 256


def test_at_most_ten_warnings_the_last_says_how_many_more() -> None:
    lines = [f"w{i}" for i in range(13)]
    assert short_warnings(lines) == [f"placement-webhook: w{i}" for i in range(9)] + [
        "placement-webhook: 4 more warnings not shown"
    ]
    assert (
        len(short_warnings(lines[:MAX_WARNINGS])) == 10
        and short_warnings(lines[:10])[-1] == "placement-webhook: w9"
    )
