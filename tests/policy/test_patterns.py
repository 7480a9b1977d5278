"""Patterns that can never match are warned about (issue 28), and only those: a warning is never wrong.

Globs are ``fnmatch.fnmatchcase``: ``*``, ``?``, ``[seq]``, ``[!seq]``, case-sensitive, no braces.
"""

from __future__ import annotations

import fnmatch

import pytest

from webhook.policy.loading import load_policies_text


def warnings_for(match: str) -> list[str]:
    text = f"version: 1\npolicies:\n- name: p\n  match: {match}\n  placement: {{nodeSelector: {{a: b}}}}\n"
    return list(load_policies_text(text, source="p.yaml").warnings)


@pytest.mark.parametrize(
    ("match", "warning"),
    [
        (
            '{namespaces: [team-a, "Team-*"]}',
            'p.yaml:4: policies[0] (p).match.namespaces[1]: "Team-*" never matches: namespace names are'
            " lower-case DNS labels (a-z, 0-9, '-'), and it needs \"T\"",
        ),
        (
            '{namespaces: ["team_a"]}',
            'p.yaml:4: policies[0] (p).match.namespaces[0]: "team_a" never matches: namespace names are'
            " lower-case DNS labels (a-z, 0-9, '-'), and it needs \"_\"",
        ),
        (
            '{namespaces: ["team-{a,b}"]}',
            'p.yaml:4: policies[0] (p).match.namespaces[0]: "team-{a,b}" never matches as meant: braces are'
            " not expanded ({a,b} matches only that literal text); list each pattern instead",
        ),
        (
            '{servers: ["{triton,mlserver}-*"]}',
            'p.yaml:4: policies[0] (p).match.servers[0]: "{triton,mlserver}-*" never matches as meant:'
            " braces are not expanded ({a,b} matches only that literal text); list each pattern instead",
        ),
        (
            '{resources: ["NVIDIA.com/gpu"]}',
            'p.yaml:4: policies[0] (p).match.resources[0]: "NVIDIA.com/gpu" never matches: a resource'
            " name's domain prefix is a lower-case DNS subdomain (as in nvidia.com/gpu)",
        ),
        (
            '{resources: ["GPU"]}',
            'p.yaml:4: policies[0] (p).match.resources[0]: "GPU" never matches: resource names without a'
            " domain are the standard ones (cpu, memory, ephemeral-storage, hugepages-<size>), in lower case",
        ),
        (
            '{capabilities: ["mlserver,alibi"]}',
            'p.yaml:4: policies[0] (p).match.capabilities[0]: "mlserver,alibi" never matches:'
            " SELDON_SERVER_CAPABILITIES is split on commas and each capability trimmed; list each"
            " capability as its own entry",
        ),
        (
            '{capabilities: [" mlserver"]}',
            'p.yaml:4: policies[0] (p).match.capabilities[0]: " mlserver" never matches:'
            " SELDON_SERVER_CAPABILITIES is split on commas and each capability trimmed; list each"
            " capability as its own entry",
        ),
    ],
)
def test_a_pattern_that_never_matches_is_warned_about_at_its_line(match: str, warning: str) -> None:
    assert warnings_for(match) == [warning]


@pytest.mark.parametrize(
    "match",
    [
        '{namespaces: ["team-*", "t?am", "[a-z]*", "[!k]*", "*"]}',
        '{namespaces: ["[A-Z]*"]}',  # a set is not judged (it never matches, but we only say what is sure)
        '{resources: ["nvidia.com/*", "*/gpu", "hugepages-2Mi", "example.com/GPU", "*GPU"]}',
        '{servers: ["Triton-*"]}',  # server names are not judged: only braces
        "{capabilities: [mlserver, alibi-explain]}",
    ],
)
def test_patterns_that_can_match_are_not_warned_about(match: str) -> None:
    assert warnings_for(match) == []


def test_the_warned_examples_indeed_never_match_what_kubernetes_names() -> None:
    """The semantics the warnings rely on: case-sensitive, braces literal, ``*`` crosses ``/``."""
    assert not fnmatch.fnmatchcase("team-a", "Team-*")
    assert not fnmatch.fnmatchcase("team-a", "team-{a,b}") and fnmatch.fnmatchcase("team-{a,b}", "team-{a,b}")
    assert fnmatch.fnmatchcase("example.com/gpu", "*/gpu") and fnmatch.fnmatchcase("a/b/c", "a*c")


def test_allow_rule_namespaces_are_checked_too() -> None:
    text = "version: 1\nreservations:\n- taint: {key: k}\n  allow: [{namespaces: [Team-A]}]\n"
    (warning,) = load_policies_text(text, source="p.yaml").warnings
    assert warning.startswith('p.yaml:4: reservations[0] (k).allow[0].namespaces[0]: "Team-A" never matches')
