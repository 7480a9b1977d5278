"""The namespace cache's state machine, pure: a LIST and watch events in, labels out, no I/O.

``webhook.cluster.namespaces.NamespaceCache`` keeps the labels of every Namespace as an informer
would and drives what is here from a daemon thread through the Kubernetes client (its subclass
``webhook.cluster.nodes.NodeCache`` keeps Nodes' taints the same way: what is kept of an object is
the state's ``extract``, a Namespace's labels by default):

- ``NamespaceState``: name -> labels and the ``resourceVersion`` to watch from. A LIST replaces
  everything (``replace``, after ``read_list``); watch events are applied in order (``apply``:
  ADDED/MODIFIED set a namespace's labels, DELETED drops it, BOOKMARK only moves the version, an
  ERROR ``410 Gone`` raises ``GoneError``, any other ERROR fails the watch); a namespace read by a
  direct GET is remembered without moving the watch's version (``remember``).
- ``WatchSchedule``: the loop's decisions. LIST first, unless a listed state was handed over; again
  every ``relist_interval`` so that a missed event cannot live forever, and at once after a 410; a
  watch the server ends on time (its ``timeoutSeconds``) is resumed from the last version seen;
  any other failure is retried after an exponential backoff (0.5 s doubling to 30 s, jitter added
  where it is slept), reset by the next watch that ends on time. A failure is remembered in one
  line (``describe_failure``) and as a refusal when the API server answered 401 or 403.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook.kube.objects import RawObject, as_dict, string_labels

BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0


class GoneError(Exception):
    """The watch's resourceVersion is too old (410 Gone, as an ERROR event or a status): LIST again."""


def _name(obj: RawObject) -> str | None:
    name = as_dict(obj.get("metadata")).get("name")
    return name if isinstance(name, str) and name else None


def _resource_version(obj: RawObject) -> str | None:
    version = as_dict(obj.get("metadata")).get("resourceVersion")
    return version if isinstance(version, str) and version else None


def read_list(listed: RawObject) -> tuple[list[RawObject], str]:
    """The namespaces of a NamespaceList (entries that are not objects skipped) and its
    ``resourceVersion`` (empty when missing)."""
    items = [i for i in listed.get("items") or [] if isinstance(i, dict)]
    return items, _resource_version(listed) or ""


@dataclass
class NamespaceState:
    """Namespace name -> labels, and the resourceVersion to watch from. Thread-safe.

    ``replace`` installs a LIST; ``apply`` one watch event and returns nothing but raises
    ``GoneError`` for a 410; ``labels`` reads. Label maps are replaced whole, never edited, so a
    reader holds a consistent map."""

    labels_by_name: dict[str, Any] = field(default_factory=dict)  # or what ``extract`` keeps
    resource_version: str | None = None
    extract: Callable[[RawObject], Any] = string_labels
    listed: bool = False  # a LIST has completed at least once
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def replace(self, items: list[RawObject], *, resource_version: str) -> None:
        fresh: dict[str, Any] = {}
        for item in items:
            name = _name(item)
            if name is not None:
                fresh[name] = self.extract(item)
        with self._lock:
            self.labels_by_name, self.resource_version, self.listed = fresh, resource_version, True

    def apply(self, event: Mapping[str, Any]) -> None:
        kind, obj = event.get("type"), as_dict(event.get("object"))
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise GoneError(str(obj.get("message", "resourceVersion too old")))
            raise RuntimeError(f"watch error: {obj.get('code')} {obj.get('message')}")
        version, name = _resource_version(obj), _name(obj)
        with self._lock:
            if kind in ("ADDED", "MODIFIED") and name is not None:
                self.labels_by_name[name] = self.extract(obj)
            elif kind == "DELETED" and name is not None:
                self.labels_by_name.pop(name, None)
            if version is not None and kind in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
                self.resource_version = version

    def remember(self, obj: RawObject) -> None:
        """A namespace read by a direct GET, kept until the watch reports it (not the version:
        the watch's own position must not move)."""
        name = _name(obj)
        if name is not None:
            with self._lock:
                self.labels_by_name.setdefault(name, self.extract(obj))

    def labels(self, name: str) -> Any:
        """What is kept of the object named ``name`` (a Namespace's labels), None when absent."""
        with self._lock:
            return self.labels_by_name.get(name)

    def __len__(self) -> int:
        with self._lock:
            return len(self.labels_by_name)


def next_backoff(previous: float | None) -> float:
    """0.5 s, then doubling up to 30 s (jitter is added where it is slept)."""
    return BACKOFF_FIRST if previous is None else min(previous * 2, BACKOFF_MAX)


def _first_line(text: str) -> str:
    return (text.splitlines() or [""])[0][:200]


def describe_failure(error: BaseException, *, status: int | None = None, reason: object = None) -> str:
    """A refusal of the API server (its HTTP ``status`` given) as the status and the first line of
    its ``reason`` (``403 Forbidden``); any other error as its type and the first line of its
    message. At most 200 characters of either line."""
    if status is not None:
        return f"{status} {_first_line(str(reason or ''))}".strip()
    return f"{type(error).__name__}: {_first_line(str(error))}"


@dataclass
class CacheStats:
    """What ``/metrics`` shows: watch restarts (every reconnect or relist after a failure) and
    lookups that missed the cache, by result (``found``, ``not_found``, ``error``)."""

    restarts: int = 0
    misses: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    #: the API server refused the last LIST or WATCH (401/403): no retry helps until RBAC changes
    refused: bool = False

    def missed(self, result: str) -> None:
        self.misses[result] = self.misses.get(result, 0) + 1


@dataclass
class WatchSchedule:
    """When the list + watch loop LISTs and how long it waits after a failure; times are the
    caller's monotonic clock, failures are counted in ``stats``."""

    relist_interval: float
    stats: CacheStats
    relist_at: float = 0.0  # LIST when the clock reaches it (0: at once)
    backoff: float | None = None  # the last backoff, None after a watch that ended on time

    @classmethod
    def start(cls, relist_interval: float, stats: CacheStats, *, listed: bool, now: float) -> WatchSchedule:
        """A state already listed (handed over) is watched from its version; a new one is listed first."""
        return cls(relist_interval, stats, relist_at=now + relist_interval if listed else 0.0)

    def must_list(self, *, listed: bool, now: float) -> bool:
        return not listed or now >= self.relist_at

    def listed(self, now: float) -> None:
        """A LIST completed at ``now``: the next one is due a ``relist_interval`` later."""
        self.relist_at = now + self.relist_interval

    def watch_ended(self) -> None:
        """A watch the server ended on time: no failure to remember, the next backoff starts over."""
        self.backoff, self.stats.last_error, self.stats.refused = None, None, False

    def gone(self) -> None:
        """A 410 Gone event: LIST again at once, without waiting."""
        self.stats.restarts += 1
        self.relist_at = 0.0

    def failed(self, error: BaseException, *, status: int | None = None, reason: object = None) -> float:
        """Any other failure (``status`` and ``reason``: the API server's answer, None for network
        errors, bad JSON...): the seconds to wait before the retry, jitter not included. A 410
        status lists again after it, a 401 or 403 is a refusal."""
        if status == 410:
            self.relist_at = 0.0
        self.stats.restarts += 1
        self.stats.refused = status in (401, 403)
        self.stats.last_error = describe_failure(error, status=status, reason=reason)
        self.backoff = next_backoff(self.backoff)
        return self.backoff
