"""Duplicate keys in a JSON body: detected exactly, at a few microseconds for the API server's JSON.

Bodies nested deeper than ``MAX_DEPTH`` levels are refused as well: orjson reads 1024 levels but
writes only 254, and no Kubernetes object comes close.

RFC 8259 leaves the meaning of an object with a repeated name to the parser; orjson (like Go's
``encoding/json``) keeps the last one, other parsers keep the first or fail. The API server never
sends one, so a request like ``{"request": {"uid": "a", "uid": "b", ...}}`` comes from something
else, and what it means is ambiguous (which ``uid`` to echo, which ``object`` to place). We reject
it with a 400 instead of guessing, anywhere in the document.

Checking every object in Python costs ~4x the orjson parse. The fastest path applies when the body
is exactly orjson's compact re-encoding of what it parsed (one ``memcmp``): a body that repeated a
key would re-encode shorter. Otherwise the fast path counts colons:
in the body there is one after every key plus every colon inside a string; orjson's compact
re-encoding of what it parsed has the same colons inside the strings that survived and one per
key that survived. A repeated key overwrites an earlier one (and everything under it), so the two
counts are equal exactly when no key was repeated, provided the body never escapes a colon as
``\\u003a`` (no JSON encoder does, and whitespace and quote escaping do not matter). A body that
does takes the exact slow path, as does one with a difference, to name the key.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from webhook.errors import shown

_ESCAPED_COLONS = (b"\\u003a", b"\\u003A")
MAX_DEPTH = 254


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return result


def _slow_duplicate_key(body: bytes) -> str | None:
    """Parse again, checking every object; the repeated key, or None."""
    try:
        json.loads(body, object_pairs_hook=_unique_object)
    except _DuplicateKeyError as exc:
        return exc.key
    return None


def key_problem(body: bytes, data: Any) -> str | None:
    """Why ``body`` (``data`` is orjson's parse) is ambiguous: a repeated key or extreme nesting."""
    try:
        compact = orjson.dumps(data)
    except orjson.JSONEncodeError:  # orjson writes at most 254 levels; a Pod has fewer than 20
        return f"is nested deeper than {MAX_DEPTH} levels"
    if compact == body:  # canonical compact JSON (as Go writes it for most Pods): nothing was dropped
        return None
    escaped_colon = b"\\u003" in body and any(escaped in body for escaped in _ESCAPED_COLONS)
    if not escaped_colon and body.count(b":") == compact.count(b":"):
        return None
    repeated = _slow_duplicate_key(body)
    if repeated is None:
        return None
    return f"repeats the key {shown(repeated, limit=60)} in one object; its meaning is ambiguous"
