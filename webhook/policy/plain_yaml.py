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

A large export is one ``List`` whose items dominate the text. Its items can be read in pieces by
several processes (``split_list`` and ``PieceReader``): the caller at the edge decides how the
pieces are mapped; this module only proves that reading them apart is reading them together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, overload

import yaml

try:  # the C parser is ~10x faster; PyYAML wheels ship it, source builds may not
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

#: tags whose meaning needs the composed graph (``<<`` merges mappings, ``=`` is a value key)
_COMPOSED_ONLY = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})

_Scalar = yaml.ScalarEvent
_MappingStart = yaml.MappingStartEvent
_MappingEnd = yaml.MappingEndEvent
_SequenceStart = yaml.SequenceStartEvent
_SequenceEnd = yaml.SequenceEndEvent
_FRAMING = (yaml.StreamStartEvent, yaml.DocumentStartEvent, yaml.DocumentEndEvent)


class _NotPlainError(Exception):
    """The stream needs the composed reading."""


class _Reader:
    """Values from the events of one stream, by recursive descent (nesting is bounded by
    ``max_depth``, well inside Python's recursion limit)."""

    def __init__(self, loader: Any, max_depth: int) -> None:
        self.loader = loader
        self.get_event = loader.get_event
        self.max_depth = max_depth
        self.plain: dict[str, Any] = {}  # str, int, float, bool, None or a timestamp: never mutated

    def scalar(self, event: Any) -> Any:
        if event.anchor is not None or event.tag is not None:
            raise _NotPlainError
        text: str = event.value
        if not event.implicit[0]:  # quoted or block: a string
            return text
        plain = self.plain
        if text in plain:
            return plain[text]
        tag = self.loader.resolve(yaml.ScalarNode, text, (True, False))
        if tag in _COMPOSED_ONLY:
            raise _NotPlainError
        value = plain[text] = self.loader.yaml_constructors[tag](self.loader, yaml.ScalarNode(tag, text))
        return value

    def value(self, event: Any, depth: int) -> Any:
        """The value starting with ``event`` at ``depth`` (the root is 0)."""
        kind = type(event)
        if kind is _Scalar:
            return self.scalar(event)
        if kind is not _MappingStart and kind is not _SequenceStart:
            raise _NotPlainError  # an alias
        if event.anchor is not None or event.tag is not None:
            raise _NotPlainError
        return self.mapping(depth) if kind is _MappingStart else self.sequence(depth)

    def mapping(self, depth: int) -> dict[Any, Any]:
        get_event, scalar, value = self.get_event, self.scalar, self.value
        deeper = depth + 1
        too_deep = depth >= self.max_depth  # a child would lie past the limit
        result: dict[Any, Any] = {}
        while True:
            event = get_event()
            kind = type(event)
            if kind is _MappingEnd:
                return result
            if kind is not _Scalar or too_deep:
                raise _NotPlainError  # a key that is not a scalar, or nesting past the limit
            key = scalar(event)
            # keys of equal text are equal values; equal values of unequal texts (``1``, ``01``)
            # are declined too, and read the composed way (which keeps the last)
            if key in result:
                raise _NotPlainError
            event = get_event()
            result[key] = scalar(event) if type(event) is _Scalar else value(event, deeper)

    def sequence(self, depth: int) -> list[Any]:
        get_event, scalar, value = self.get_event, self.scalar, self.value
        deeper = depth + 1
        too_deep = depth >= self.max_depth
        result: list[Any] = []
        append = result.append
        while True:
            event = get_event()
            kind = type(event)
            if kind is _SequenceEnd:
                return result
            if too_deep:
                raise _NotPlainError
            append(scalar(event) if kind is _Scalar else value(event, deeper))

    def documents(self) -> list[Any]:
        documents: list[Any] = []
        while True:
            event = self.get_event()
            kind = type(event)
            if kind is yaml.StreamEndEvent:
                return documents
            if kind in _FRAMING:
                continue
            documents.append(self.value(event, 0))


def plain_documents(text: str, *, max_depth: int) -> list[Any] | None:
    """Every document of a plain YAML stream (``None`` for an empty one), or ``None`` when the
    stream needs the composed reading."""
    loader = _Loader(text)
    try:
        return _Reader(loader, max_depth).documents()
    except (yaml.YAMLError, ValueError, _NotPlainError):
        return None
    finally:
        loader.dispose()


# --- a large List read in pieces ------------------------------------------------------------------

#: below this size a text is read in one piece: starting another process costs more than it saves
SPLIT_MIN_CHARS = 4_000_000
#: the text before ``items:`` (``apiVersion: v1``, ``kind: List``) is short in every export
_MAX_HEAD_CHARS = 65_536

_ITEMS_LINE = re.compile(r"^items:[ \t]*\n", re.MULTILINE)
#: the first line that is neither an item's first line (``- `` or ``-`` at column 0), nor indented,
#: blank or a comment: where the root mapping goes on after the items (``kind: List``)
_AFTER_ITEMS = re.compile(r"\n(?:[^- \t\r\n#]|-[^ \n]|-\Z)")
_ITEM_START = re.compile(r"\n-[ \n]")

#: reads one piece: the items it holds, or ``None`` when it is no plain block sequence
ReadPiece = Callable[[str], "list[Any] | None"]


class PieceMap(Protocol):
    """Reads the pieces of a large export and answers their items in order. How (worker processes,
    in turn) is the edge's business; ``workers`` is how many pieces are worth making."""

    workers: int

    def __call__(self, read: ReadPiece, pieces: Sequence[str]) -> Sequence[list[Any] | None]: ...


@dataclass(frozen=True)
class ListSplit:
    """A one-document ``List`` export cut at item boundaries.

    ``frame`` is the text with the items' lines replaced by ``items: []`` on the same line
    (``line``); ``pieces`` are consecutive runs of the items, each a block sequence of its own.
    Reading the pieces apart is reading the items together because every cut is a line starting
    with ``- `` at column 0 inside the block sequence under the root key ``items``: in block
    context such a line ends every plain or block scalar before it, and a cut inside a quoted
    scalar or a flow collection leaves the piece before it unterminated, which the reading refuses.
    ``frame_documents`` proves the key is the root mapping's (the text before it is the frame's).
    """

    frame: str
    line: int
    pieces: Sequence[str]


class _Pieces(Sequence[str]):
    """The pieces of a text, each cut out only when asked for (a 75 MB export is not held twice)."""

    def __init__(self, text: str, bounds: list[tuple[int, int]]) -> None:
        self._text, self._bounds = text, bounds

    def __len__(self) -> int:
        return len(self._bounds)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return _Pieces(self._text, self._bounds[index])
        start, end = self._bounds[index]
        return self._text[start:end]


def split_list(text: str, count: int) -> ListSplit | None:
    """``text`` cut into ``count`` pieces of about equal size, or ``None`` when it is not a List
    export shaped as ``kubectl get -o yaml`` writes it (``items:`` at column 0, its items at
    column 0) or has too few items."""
    found = _ITEMS_LINE.search(text)
    if count < 2 or found is None:
        return None
    head = text[: found.start()]
    if len(head) > _MAX_HEAD_CHARS or not head.isascii() or "\r" in head:
        return None  # the parser's line numbers are the text's only for plain ASCII lines
    start = found.end()
    after = _AFTER_ITEMS.search(text, start - 1)  # each pattern starts with the line break before
    end = len(text) if after is None else after.start() + 1
    first = _ITEM_START.search(text, start - 1, end)
    if first is None:
        return None
    cuts, floor = [start], first.start() + 1  # every piece holds an item; the first, comments before it
    for i in range(1, count):
        target = start + (end - start) * i // count - 1
        # the first item from the target on, else the next one (a last item larger than a piece)
        item = _ITEM_START.search(text, max(floor, target), end) or _ITEM_START.search(text, floor, end)
        if item is None:
            break
        floor = item.start() + 1
        cuts.append(floor)
    if len(cuts) < 2:
        return None
    pieces = _Pieces(text, list(zip(cuts, [*cuts[1:], end], strict=True)))
    return ListSplit(frame=f"{head}items: []\n{text[end:]}", line=head.count("\n"), pieces=pieces)


def frame_documents(split: ListSplit, *, max_depth: int) -> list[Any] | None:
    """The frame's one document with its empty ``items``, or ``None`` unless ``items`` at the cut
    line is a plain key of the root mapping and the frame is plain."""
    try:
        nodes = list(yaml.compose_all(split.frame, Loader=_Loader))
    except yaml.YAMLError:
        return None
    if len(nodes) != 1 or not isinstance(nodes[0], yaml.MappingNode):
        return None
    at_cut = [
        (key, value)
        for key, value in nodes[0].value
        if key.start_mark.line == split.line and key.start_mark.column == 0
    ]
    if len(at_cut) != 1:
        return None
    key, value = at_cut[0]
    if not (isinstance(key, yaml.ScalarNode) and not key.style and key.value == "items"):
        return None
    if not (isinstance(value, yaml.SequenceNode) and not value.value and value.start_mark.line == split.line):
        return None
    documents = plain_documents(split.frame, max_depth=max_depth)
    if documents is None or len(documents) != 1 or documents[0].get("items") != []:
        return None
    return documents


def read_piece(text: str, *, max_depth: int) -> list[Any] | None:
    """The items of one piece (a block sequence one level below the root), or ``None``."""
    documents = plain_documents(text, max_depth=max_depth - 1)
    if documents is None or len(documents) != 1 or type(documents[0]) is not list:
        return None
    return documents[0]


def plain_list_documents(
    text: str, *, max_depth: int, read_pieces: PieceMap, min_chars: int = SPLIT_MIN_CHARS
) -> list[Any] | None:
    """``plain_documents`` of a List export of at least ``min_chars`` read in pieces by
    ``read_pieces``; ``None`` when the text is no such export or a piece is not plain (the caller
    reads it whole)."""
    if read_pieces.workers < 2 or len(text) < min_chars:
        return None
    split = split_list(text, read_pieces.workers)
    if split is None:
        return None
    documents = frame_documents(split, max_depth=max_depth)
    if documents is None:
        return None
    items: list[Any] = []
    for piece in read_pieces(partial(read_piece, max_depth=max_depth), split.pieces):
        if piece is None:
            return None
        items += piece
    documents[0]["items"] = items
    return documents
