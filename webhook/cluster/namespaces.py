"""The labels of every Namespace, kept current by a list + watch, for ``match.namespaceSelector``.

The AdmissionReview carries the Pod but not its Namespace's labels, so the server keeps them here,
as an informer would: one LIST (which gives a ``resourceVersion``), then a WATCH from that version,
each event applied in order; a watch the server ends (its ``timeoutSeconds``) is resumed from the
last version seen (bookmarks keep it fresh); ``410 Gone`` (the version was compacted away) means a
new LIST; any other failure a retry after an exponential backoff (0.5 s doubling to 30 s). Every
``relist_interval`` the state is listed again from scratch, so a missed event cannot live forever.

Two parts: ``NamespaceState`` is the pure state machine (events in, labels out, no I/O, unit-tested
event by event); ``NamespaceCache`` drives it from a daemon thread through the ``kubernetes``
client. Reads come from the event loop while the thread writes, so both take one lock; a read is
a dict lookup. A namespace not in the state (created a moment ago, or the first LIST not done
yet) is fetched directly with a short timeout by ``fetch``. What the server makes of a namespace
whose labels stay unknown is the engine's rule (``NamespaceLabelsUnknownError``).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from webhook.kube.objects import RawObject, as_dict, string_labels

log = logging.getLogger("placement_webhook")  # the server's logger (webhook.server.logs.LOGGER)

LOOKUP_TIMEOUT = 2.0  # seconds for the direct GET of a namespace the cache does not have
LIST_TIMEOUT = 30.0
WATCH_SECONDS = 240  # the API server ends each watch after this; it is then resumed
RELIST_INTERVAL = 600.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0


@dataclass(frozen=True)
class WatchedKind:
    """What a cache lists and watches: the client's calls and what it keeps of each object.
    Namespaces keep their labels; ``webhook.cluster.nodes`` keeps Nodes' taints."""

    singular: str  # for logs: "namespace"
    plural: str  # for logs and messages: "Namespaces"
    list_call: str  # the CoreV1Api method that lists (and, with watch=True, watches)
    read_call: str  # the CoreV1Api method that reads one
    extract: Callable[[RawObject], Any]


NAMESPACES = WatchedKind("namespace", "Namespaces", "list_namespace", "read_namespace", string_labels)


class GoneError(Exception):
    """The watch's resourceVersion is too old (410 Gone, as an ERROR event or a status): LIST again."""


# --- the pure state machine -------------------------------------------------------------------------


def _name(obj: RawObject) -> str | None:
    name = as_dict(obj.get("metadata")).get("name")
    return name if isinstance(name, str) and name else None


def _resource_version(obj: RawObject) -> str | None:
    version = as_dict(obj.get("metadata")).get("resourceVersion")
    return version if isinstance(version, str) and version else None


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


def _one_line(exc: Exception) -> str:
    """An API refusal as its status and reason (``403 Forbidden``), anything else as its first line."""
    if isinstance(exc, ApiException):
        reason = (str(exc.reason or "").splitlines() or [""])[0][:200]
        return f"{exc.status} {reason}".strip()
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"


def next_backoff(previous: float | None) -> float:
    """0.5 s, then doubling up to 30 s (jitter is added where it is slept)."""
    return BACKOFF_FIRST if previous is None else min(previous * 2, BACKOFF_MAX)


# --- the thread that feeds it -------------------------------------------------------------------------


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


class NamespaceCache:
    """List + watch of Namespaces in a daemon thread; ``labels`` and ``fetch`` for the server."""

    kind = NAMESPACES

    def __init__(
        self,
        api: client.ApiClient,
        *,
        lookup_timeout: float = LOOKUP_TIMEOUT,
        relist_interval: float = RELIST_INTERVAL,
        watch_seconds: int = WATCH_SECONDS,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.state = NamespaceState(extract=self.kind.extract)
        self.stats = CacheStats()
        self.lookup_timeout = lookup_timeout
        self.relist_interval = relist_interval
        self.watch_seconds = watch_seconds
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        """The first LIST has completed (``/readyz`` waits for it)."""
        return self.state.listed

    @property
    def failure(self) -> str | None:
        """Why the last LIST or WATCH failed (None since one succeeded); a refusal (401/403) names
        the permission the server lacks."""
        if self.stats.last_error is None:
            return None
        if self.stats.refused:
            return f"the API server refused to list {self.kind.plural} ({self.stats.last_error})"
        return self.stats.last_error

    def start(self) -> None:
        if self._thread is None:
            name = f"{self.kind.singular}-cache"
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def labels(self, name: str) -> Any:
        """What the cache keeps of ``name`` (a Namespace's labels), None when it has nothing."""
        return self.state.labels(name)

    def fetch(self, name: str) -> Any:
        """GET one namespace the cache does not have (blocking, ``lookup_timeout``); None when it
        does not exist or cannot be read in time."""
        try:
            read = getattr(self.core, self.kind.read_call)
            response: Any = read(name, _preload_content=False, _request_timeout=self.lookup_timeout)
            namespace: RawObject = json.loads(response.data)
        except ApiException as exc:
            self.stats.missed("not_found" if exc.status == 404 else "error")
            return None
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            self.stats.missed("error")
            fields = {self.kind.singular: name, "error": str(exc)[:200]}
            log.warning(f"{self.kind.singular} lookup failed", extra={"fields": fields})
            return None
        self.stats.missed("found")
        self.state.remember(namespace)
        return self.kind.extract(namespace)

    # the loop -----------------------------------------------------------------------------------------

    def _list(self) -> None:
        list_call = getattr(self.core, self.kind.list_call)
        response: Any = list_call(_preload_content=False, _request_timeout=LIST_TIMEOUT)
        listed: RawObject = json.loads(response.data)
        items = [i for i in listed.get("items") or [] if isinstance(i, dict)]
        version = _resource_version(listed) or ""
        self.state.replace(items, resource_version=version)
        fields = {self.kind.plural.lower(): len(items), "resourceVersion": version}
        log.info(f"{self.kind.plural.lower()} listed", extra={"fields": fields})

    def _events(self) -> Iterator[dict[str, Any]]:
        list_call = getattr(self.core, self.kind.list_call)
        response: Any = list_call(  # raw: a urllib3 response, read line by line
            watch=True,
            resource_version=self.state.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_seconds,
            _preload_content=False,
            _request_timeout=(LIST_TIMEOUT, self.watch_seconds + 30),  # (connect, read)
        )
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if line:
                    yield json.loads(line)
        finally:
            response.release_conn()

    def _run(self) -> None:
        backoff: float | None = None
        # a state already listed (handed over) is watched from its version; a new one is listed first
        relist_at = time.monotonic() + self.relist_interval if self.state.listed else 0.0
        while not self._stop.is_set():
            try:
                if not self.state.listed or time.monotonic() >= relist_at:
                    self._list()
                    relist_at = time.monotonic() + self.relist_interval
                for event in self._events():
                    self.state.apply(event)
                    if self._stop.is_set():
                        return
                backoff, self.stats.last_error = None, None  # a watch the server ended on time
                self.stats.refused = False
            except GoneError:
                self.stats.restarts += 1
                relist_at = 0.0  # list again at once: the version is gone
            except Exception as exc:  # network, API errors, bad JSON: back off and retry
                if isinstance(exc, ApiException) and exc.status == 410:
                    relist_at = 0.0
                self.stats.restarts += 1
                self.stats.refused = isinstance(exc, ApiException) and exc.status in (401, 403)
                self.stats.last_error = _one_line(exc)
                backoff = next_backoff(backoff)
                log.warning(
                    f"{self.kind.singular} watch failed; retrying",
                    extra={"fields": {"error": self.stats.last_error, "retry_in_s": backoff}},
                )
                if self._sleep(backoff * random.uniform(0.8, 1.2)):
                    return
