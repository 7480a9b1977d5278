"""Plain YAML manifest streams read straight from the parser's events.

A ``kubectl get pods -A -o yaml`` export is plain data: no anchors, aliases, explicit tags or merge
keys. Composing it into PyYAML's node graph first (every node with two marks), walking that graph
for aliases and duplicate keys and constructing the values from it costs several times the parse
and holds the whole graph at once. Here the values are built from the event stream as it comes,
each plain scalar's type resolved once per distinct text.

The reading is only taken when it is certainly the composed reading: anything else (an anchor, an
alias, a tag, a merge key, a key that is not a scalar, a duplicate key, nesting past the limit, a
value PyYAML cannot construct, a syntax error) gives ``None``, and the caller reads the text the
composed way, whose messages name the line.
"""

from __future__ import annotations

from typing import Any

import yaml

try:  # the C parser is ~10x faster; PyYAML wheels ship it, source builds may not
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

#: tags whose meaning needs the composed graph (``<<`` merges mappings, ``=`` is a value key)
_COMPOSED_ONLY = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})


class _NotPlainError(Exception):
    """The stream needs the composed reading."""


_NO_KEY = object()


def _constructed(loader: Any, text: str) -> Any:
    """A plain scalar's value, resolved and constructed as SafeLoader does."""
    tag = loader.resolve(yaml.ScalarNode, text, (True, False))
    if tag in _COMPOSED_ONLY:
        raise _NotPlainError
    return loader.yaml_constructors[tag](loader, yaml.ScalarNode(tag, text))


def _read(loader: Any, max_depth: int) -> list[Any]:
    documents: list[Any] = []
    containers: list[Any] = []  # the mappings and sequences being filled, outermost first
    keys: list[Any] = []  # each mapping's key waiting for its value (_NO_KEY: none)
    seen: list[set[str] | None] = []  # each mapping's keys' texts (the composed reading compares texts)
    plain: dict[str, Any] = {}  # str, int, float, bool, None or a timestamp: never mutated
    get_event = loader.get_event
    text: str | None
    while True:
        event = get_event()
        kind = type(event)
        if kind is yaml.ScalarEvent:
            if event.anchor is not None or event.tag is not None or len(containers) > max_depth:
                raise _NotPlainError
            text = event.value
            if not event.implicit[0]:  # quoted or block: a string
                value = text
            elif text in plain:
                value = plain[text]
            else:
                value = plain[text] = _constructed(loader, text)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if event.anchor is not None or event.tag is not None or len(containers) > max_depth:
                raise _NotPlainError
            mapping = kind is yaml.MappingStartEvent
            containers.append({} if mapping else [])
            keys.append(_NO_KEY)
            seen.append(set() if mapping else None)
            continue
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            value, text = containers.pop(), None
            keys.pop()
            seen.pop()
        elif kind is yaml.StreamEndEvent:
            return documents
        elif kind is yaml.AliasEvent:
            raise _NotPlainError
        else:  # the stream's and the documents' starts and ends
            continue
        if not containers:
            documents.append(value)
            continue
        texts = seen[-1]
        if texts is None:
            containers[-1].append(value)
        elif keys[-1] is _NO_KEY:
            if text is None or text in texts:  # a collection as a key, or a duplicate key
                raise _NotPlainError
            texts.add(text)
            keys[-1] = value
        else:
            containers[-1][keys[-1]] = value
            keys[-1] = _NO_KEY


def plain_documents(text: str, *, max_depth: int) -> list[Any] | None:
    """Every document of a plain YAML stream (``None`` for an empty one), or ``None`` when the
    stream needs the composed reading."""
    loader = _Loader(text)
    try:
        return _read(loader, max_depth)
    except (yaml.YAMLError, ValueError, _NotPlainError):
        return None
    finally:
        loader.dispose()
