"""JSON Patch (RFC 6902) ops built alongside a copy-on-write mutation of the received object.

A generic diff over a whole Pod costs about a millisecond; the engine only ever *adds* at a few
known paths, so ``PatchBuilder`` performs each addition on a structurally shared copy and records
the matching ``add`` op at the same time. The property tests prove that applying the ops to the
original yields exactly the copy, and each value is written once: a change inside a value an
earlier op adds goes into that op's value instead of a new op. The original is never modified;
the copy shares every subtree the engine did not touch, and each added value is one fresh copy
shared by the result and its op (never the caller's object), so treat the result and the ops as
read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from webhook.kube.objects import RawObject, escape_pointer

JsonPath = tuple[str | int, ...]
_CONTAINERS = (dict, list)  # a tuple: ``dict | list`` would build a union object at every check
PatchOp = dict[str, Any]


@lru_cache(maxsize=256)
def json_pointer(path: JsonPath) -> str:
    """RFC 6901 pointer of ``path``; cached because the engine only ever touches a few paths."""
    return "".join("/" + escape_pointer(str(part)) for part in path)


def clone_json(value: Any) -> Any:
    """A deep copy of plain JSON data, much cheaper than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: clone_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone_json(v) for v in value]
    return value


class PatchBuilder:
    """Adds values under ``original`` on a copy and records one ``add`` op per value written."""

    def __init__(self, original: RawObject) -> None:
        self.result: RawObject = dict(original)
        self.ops: list[PatchOp] = []
        self._copied: set[int] = {id(self.result)}
        self._added: set[int] = set()  # containers inside a value an op already adds

    def _record(self, parent: Any, path: JsonPath, value: Any) -> None:
        """The ``add`` op for ``value`` (made by ``_fresh``), just placed in ``parent`` at ``path``;
        none when ``parent`` is inside a value an earlier op adds (that op's value carries it)."""
        if id(parent) not in self._added:
            self.ops.append({"op": "add", "path": json_pointer(path), "value": value})

    def _fresh(self, value: Any) -> Any:
        """A deep copy of ``value`` (``clone_json``) whose containers are marked as added: later
        writes into them need neither a copy nor an op of their own."""
        if isinstance(value, dict):
            copy: Any = {k: self._fresh(v) if isinstance(v, _CONTAINERS) else v for k, v in value.items()}
        elif isinstance(value, list):
            copy = [self._fresh(v) if isinstance(v, _CONTAINERS) else v for v in value]
        else:
            return value
        self._added.add(id(copy))
        self._copied.add(id(copy))
        return copy

    def get(self, path: JsonPath) -> Any:
        """The current value at ``path`` in the result, or None when any part is missing."""
        node: Any = self.result
        for part in path:
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                return None
        return node

    def _writable(self, path: JsonPath) -> Any:
        """The container at ``path``, copied (once) along with every container above it."""
        node: Any = self.result
        for part in path:
            child = node[part]
            if id(child) not in self._copied:
                child = dict(child) if isinstance(child, dict) else list(child)
                node[part] = child
                self._copied.add(id(child))
            node = child
        return node

    def _create(self, path: JsonPath, value: Any) -> None:
        """Set ``path`` to ``value``, creating missing (or null) parent objects in the same op."""
        node: Any = self.result
        depth = 0  # path[:depth] is the deepest existing object on the way to ``path``
        for index, part in enumerate(path[:-1], start=1):
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                break
            if isinstance(node, dict):
                depth = index
        for key in reversed(path[depth + 1 :]):
            value = {key: value}
            self._added.add(id(value))
            self._copied.add(id(value))
        parent = self._writable(path[:depth])
        parent[path[depth]] = value
        self._record(parent, path[: depth + 1], value)

    def append(self, path: JsonPath, items: list[Any]) -> None:
        """Append ``items`` to the list at ``path``; a missing or null list is created with them."""
        if not items:
            return
        if not isinstance(self.get(path), list):
            self._create(path, self._fresh(items))
            return
        target = self._writable(path)
        for item in items:
            added = self._fresh(item)
            target.append(added)
            self._record(target, (*path, "-"), added)

    def put(self, path: JsonPath, key: str, value: Any) -> None:
        """Set ``key`` of the object at ``path``; a missing or null object is created with it."""
        if not isinstance(self.get(path), dict):
            self._create((*path, key), self._fresh(value))
            return
        added = self._fresh(value)
        target = self._writable(path)
        target[key] = added
        self._record(target, (*path, key), added)


@dataclass(frozen=True, slots=True)
class RecordedAdds:
    """``add`` ops a ``PatchBuilder`` made, kept to be replayed on other objects of the same shape.

    Each step is an op's pointer, the path of the container it adds to (keys and list indexes)
    and the key it sets there (None: it appends to a list); ``values`` holds the ops' values as
    JSON, so that a replay gets fresh copies in one ``orjson.loads`` (never ones it shares with
    an earlier result)."""

    steps: tuple[tuple[str, JsonPath, str | None], ...]
    values: bytes

    @classmethod
    def of(cls, ops: list[PatchOp], result: RawObject) -> RecordedAdds:
        """The record of ``ops``, read against ``result`` (the object they produced)."""
        steps = []
        for op in ops:
            tokens = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
            node: Any = result
            path: list[str | int] = []
            for token in tokens[:-1]:
                part: str | int = int(token) if isinstance(node, list) else token
                path.append(part)
                node = node[part]
            if isinstance(node, list) and tokens[-1] != "-":
                raise ValueError(f"{op['path']}: only appends to lists are replayed")
            steps.append((op["path"], tuple(path), None if isinstance(node, list) else tokens[-1]))
        return cls(tuple(steps), orjson.dumps([op["value"] for op in ops]))

    def ops(self) -> list[PatchOp]:
        """The recorded ops, their values fresh copies."""
        values = orjson.loads(self.values)
        return [
            {"op": "add", "path": pointer, "value": value}
            for (pointer, _, _), value in zip(self.steps, values, strict=True)
        ]


def apply_recorded(original: RawObject, recorded: RecordedAdds, ops: list[PatchOp]) -> RawObject:
    """``original`` with ``ops`` (made by ``recorded.ops()``) applied, as a structurally shared
    copy: only the containers on the ops' paths are copied, once each; the ops' values are
    placed themselves, as ``PatchBuilder`` does.

    ``recorded`` must come from an object whose containers along those paths have the same shape
    as ``original``'s (the engine's plan memo guarantees it: its key holds those containers)."""
    result = dict(original)
    copied = {id(result)}
    for (_, path, key), op in zip(recorded.steps, ops, strict=True):
        node: Any = result
        for part in path:
            child = node[part]
            if id(child) not in copied:
                child = dict(child) if isinstance(child, dict) else list(child)
                node[part] = child
                copied.add(id(child))
            node = child
        if key is None:
            node.append(op["value"])
        else:
            node[key] = op["value"]
    return result
