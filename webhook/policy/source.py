"""YAML documents that remember where each value came from, and refuse to explode.

``yaml.safe_load`` forgets line numbers, silently keeps the last of two duplicate keys and expands
alias "bombs" into exponentially large structures once something walks them. People edit our
YAML, so we compose the node graph ourselves: duplicate keys and oversized alias expansions are
errors, and every value's path maps to its line for error messages.

An alias bomb is measured by what its aliases *add*: the nodes the document expands to beyond the
nodes it is made of. A large document without aliases (a ``kubectl get pods -A -o yaml`` export of
a whole cluster) adds nothing and is never refused for its size. Manifest streams that are JSON
(``kubectl get -o json``) are parsed as JSON, with duplicate keys still refused; anything the JSON
parser does not take (YAML, a duplicate key, a syntax error) goes the YAML way: plain YAML (no
anchors, aliases, tags or merge keys: an export) built from the parser's events
(``plain_yaml``), the rest composed, whose messages name the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from webhook.errors import InputError, PolicyError
from webhook.policy.plain_yaml import PieceMap, plain_documents, plain_list_documents

try:  # the C loader is ~10x faster; PyYAML wheels ship it, source builds may not
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

#: Nodes that aliases may add to a document when expanded; real files add a few, or none.
MAX_ALIAS_NODES = 200_000
#: Levels of nesting a document may have (the root is level 0)
MAX_DEPTH = 100

Path = tuple[int | str, ...]


@dataclass
class YamlDocument:
    data: Any
    source: str = "<memory>"
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """Line of the deepest known part of ``path`` (a missing key points at its parent); 0 if none."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 0

    def where(self, path: Path) -> str:
        """``source:line`` for error messages."""
        line = self.line_of(path)
        return f"{self.source}:{line}" if line else self.source


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _alias_added_nodes(root: yaml.Node) -> int:
    """Nodes that aliases add when ``root`` is expanded: its expanded size less the nodes it is
    made of (each counted once), counted without recursion (nesting is unbounded here: libyaml
    composes up to 1000 levels, well past Python's recursion limit)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in _children(node))
        elif id(node) not in sizes:
            sizes[id(node)] = 1  # a recursive alias counts once instead of looping
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)] - len(sizes)


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int], depth: int = 0) -> Iterator[tuple[int, str]]:
    """Record the line of every path; yield (line, problem) for each duplicate mapping key."""
    lines.setdefault(path, node.start_mark.line + 1)
    if depth > MAX_DEPTH:
        yield node.start_mark.line + 1, "nesting deeper than 100 levels"
        return
    if isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            yield from _walk(child, (*path, i), lines, depth + 1)
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                continue
            if key in seen:
                yield key_node.start_mark.line + 1, f"duplicate key {json.dumps(key, ensure_ascii=False)}"
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            yield from _walk(value_node, (*path, key), lines, depth + 1)


def _compose(text: str, *, source: str) -> list[yaml.Node]:
    loader = _Loader(text)
    try:
        nodes = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
        return nodes
    finally:
        loader.dispose()


def _construct(node: yaml.Node) -> Any:
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError, *, source: str, what: str, last_line: int) -> str:
    """One line: ``source:line: what: problem`` from PyYAML's multi-line message. A problem found
    at the end of the stream (an unclosed bracket) is put on the last line, not on the one after."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{source}:{max(1, min(mark.line + 1, last_line))}" if mark is not None else source
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}: {what}: {problem}"


def _checked_documents(text: str, *, source: str) -> list[YamlDocument]:
    last_line = len(text.splitlines())
    try:
        nodes = _compose(text, source=source)
    except yaml.YAMLError as exc:
        raise ValueError(
            _yaml_problem(exc, source=source, what="not valid YAML", last_line=last_line)
        ) from exc
    documents = []
    for node in nodes:
        if _alias_added_nodes(node) > MAX_ALIAS_NODES:
            raise ValueError(f"{source}: YAML aliases would add over {MAX_ALIAS_NODES} nodes when expanded")
        lines: dict[Path, int] = {}
        problems = [f"{source}:{line}: {p}" for line, p in _walk(node, (), lines)]
        if problems:
            raise ValueError("\n".join(problems))
        try:
            data = _construct(node)
        except yaml.YAMLError as exc:
            problem = _yaml_problem(exc, source=source, what="unsupported YAML value", last_line=last_line)
            raise ValueError(problem) from exc
        except ValueError as exc:  # PyYAML's int() of over 4300 digits, a date such as 2001-02-30
            raise ValueError(f"{source}: unsupported YAML value: {str(exc).splitlines()[0]}") from exc
        documents.append(YamlDocument(data=data, source=source, lines=lines))
    return documents


def load_yaml_document(text: str, *, source: str = "<memory>") -> YamlDocument:
    """The single YAML document of a policy file; problems raise ``PolicyError``."""
    try:
        documents = _checked_documents(text, source=source)
    except ValueError as exc:
        raise PolicyError(str(exc).splitlines()) from exc
    # empty documents (a trailing ``---``, one of comments only) are ignored, as kubectl ignores them
    found = [d for d in documents if d.data is not None]
    if not found:
        raise PolicyError(
            [f"{source}: empty (no YAML document with content); a policy file needs at least version: 1"]
        )
    if len(found) > 1:
        extra = found[1]
        raise PolicyError(
            [
                f"{extra.where(())}: a second YAML document with content;"
                " a policy file is one document (empty ones are ignored)"
            ]
        )
    return found[0]


class _NotPlainJsonError(ValueError):
    """The text is not one plain JSON document: read it as YAML."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        raise _NotPlainJsonError("duplicate key")
    return mapping


def _no_constant(name: str) -> Any:
    raise _NotPlainJsonError(f"{name} is not JSON")  # NaN and Infinity: Python's json takes them


def _deeper_than_allowed(root: Any) -> bool:
    """Whether any value lies deeper than ``MAX_DEPTH`` levels (the root is level 0), as ``_walk``
    counts them, looking only into mappings and lists; the recursion stops at ``MAX_DEPTH``."""

    def deeper(node: dict[Any, Any] | list[Any], depth: int) -> bool:
        children = node.values() if type(node) is dict else node
        if depth == MAX_DEPTH:
            return bool(children)
        for child in children:
            kind = type(child)
            if (kind is dict or kind is list) and deeper(child, depth + 1):
                return True
        return False

    return (type(root) is dict or type(root) is list) and deeper(root, 0)


def _json_document(text: str) -> list[Any] | None:
    """The document of a JSON text (an object: ``kubectl get -o json``), or None to read it as
    YAML: not JSON, a duplicate key, NaN, or nesting past the limit (YAML's messages name the line)."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    return None if _deeper_than_allowed(document) else [document]


def load_yaml_documents(
    text: str, *, source: str = "<memory>", read_pieces: PieceMap | None = None
) -> list[Any]:
    """Every document of a manifest stream (Pods, AdmissionReviews); problems raise ``InputError``.
    With ``read_pieces``, a large YAML ``List`` export is read in pieces by it."""
    parsed = _json_document(text)
    if parsed is None and read_pieces is not None:
        parsed = plain_list_documents(text, max_depth=MAX_DEPTH, read_pieces=read_pieces)
    if parsed is None:
        parsed = plain_documents(text, max_depth=MAX_DEPTH)
    if parsed is not None:
        return [d for d in parsed if d is not None]
    try:
        return [d.data for d in _checked_documents(text, source=source) if d.data is not None]
    except ValueError as exc:
        raise InputError(str(exc).replace("\n", "; ")) from exc
