"""Patterns in a valid policy file that can never match anything: warned about, not refused.

``match.namespaces``, ``match.servers``, ``match.resources`` and the namespaces of a reservation's
``allow`` rules are shell globs with Python's ``fnmatch.fnmatchcase`` semantics: ``*`` (any run of
characters, ``/`` included), ``?`` (one character), ``[seq]`` and ``[!seq]`` (one character in,
or not in, the set), compared case-sensitively, without ``{a,b}`` alternatives (braces are
literal characters). ``serverTypes`` and ``capabilities`` are compared exactly. Judged only where
it is certain, so that a warning is never wrong:

- a namespace pattern with a literal character a namespace name cannot hold (names are lower-case
  DNS-1123 labels: ``a-z``, ``0-9``, ``-``), e.g. ``Team-*``;
- a resource pattern whose domain prefix (before ``/``) has an upper-case letter (prefixes are
  lower-case DNS subdomains), or an unprefixed literal name with one (the standard resources are
  lower case; only ``hugepages-<size>`` has upper-case letters);
- ``{a,b}`` in any glob: it matches only the literal text with its braces;
- a capability with a comma or surrounding blanks: ``SELDON_SERVER_CAPABILITIES`` is split on
  commas and each part trimmed, so no capability holds either.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from webhook.policy.model import PolicyFile, quoted

Loc = tuple[int | str, ...]

GLOB_CHARACTERS = "*?["
_BRACES = re.compile(r"\{[^{}]*,[^{}]*\}")
_BRACKETS = re.compile(r"\[!?\]?[^\]]*\]")  # a [seq] or [!seq], as fnmatch.translate reads it
_NAMESPACE_CHARACTERS = re.compile(r"[a-z0-9-]")


def _literal_characters(pattern: str) -> str:
    """The characters a glob matches literally (outside ``*``, ``?`` and ``[...]``)."""
    return re.sub(r"[*?]", "", _BRACKETS.sub("", pattern))


def _braces(pattern: str) -> str | None:
    if _BRACES.search(pattern):
        return (
            f"{quoted(pattern)} never matches as meant: braces are not expanded ({{a,b}} matches only"
            " that literal text); list each pattern instead"
        )
    return None


def _namespace_problem(pattern: str) -> str | None:
    braces = _braces(pattern)
    if braces is not None:
        return braces
    bad = sorted({c for c in _literal_characters(pattern) if not _NAMESPACE_CHARACTERS.fullmatch(c)})
    if bad:
        return (
            f"{quoted(pattern)} never matches: namespace names are lower-case DNS labels (a-z, 0-9, '-'),"
            f" and it needs {', '.join(quoted(c) for c in bad)}"
        )
    return None


def _resource_problem(pattern: str) -> str | None:
    braces = _braces(pattern)
    if braces is not None:
        return braces
    prefix, slash, _ = pattern.partition("/")
    if slash and not any(c in prefix for c in GLOB_CHARACTERS) and prefix != prefix.lower():
        return (
            f"{quoted(pattern)} never matches: a resource name's domain prefix is a lower-case DNS"
            " subdomain (as in nvidia.com/gpu)"
        )
    literal = not any(c in pattern for c in GLOB_CHARACTERS)
    if not slash and literal and pattern != pattern.lower() and not pattern.startswith("hugepages-"):
        return (
            f"{quoted(pattern)} never matches: resource names without a domain are the standard ones"
            " (cpu, memory, ephemeral-storage, hugepages-<size>), in lower case"
        )
    return None


def _capability_problem(capability: str) -> str | None:
    if "," in capability or capability != capability.strip():
        return (
            f"{quoted(capability)} never matches: SELDON_SERVER_CAPABILITIES is split on commas and each"
            " capability trimmed; list each capability as its own entry"
        )
    return None


def pattern_warnings(policy_file: PolicyFile) -> list[tuple[Loc, str]]:
    """Every pattern of the file that can never match, at its path, in file order."""
    warnings: list[tuple[Loc, str]] = []

    def check(loc: Loc, values: list[str] | None, problem_of: Callable[[str], str | None]) -> None:
        for j, value in enumerate(values or []):
            problem = problem_of(value)
            if problem is not None:
                warnings.append(((*loc, j), problem))

    for i, policy in enumerate(policy_file.policies):
        match, at = policy.match, ("policies", i, "match")
        check((*at, "namespaces"), match.namespaces, _namespace_problem)
        check((*at, "servers"), match.servers, _braces)
        check((*at, "resources"), match.resources, _resource_problem)
        check((*at, "capabilities"), match.capabilities, _capability_problem)
    for i, reservation in enumerate(policy_file.reservations):
        for j, rule in enumerate(reservation.allow):
            check(("reservations", i, "allow", j, "namespaces"), rule.namespaces, _namespace_problem)
    return warnings
