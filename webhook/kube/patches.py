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

from functools import lru_cache
from typing import Any

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
