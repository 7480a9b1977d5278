"""The labels of every Namespace, kept current by a list + watch, for ``match.namespaceSelector``.

The AdmissionReview carries the Pod but not its Namespace's labels, so the server keeps them here,
as an informer would: one LIST (which gives a ``resourceVersion``), then a WATCH from that version,
each event applied in order; a watch the server ends (its ``timeoutSeconds``) is resumed from the
last version seen (bookmarks keep it fresh); ``410 Gone`` (the version was compacted away) means a
new LIST; any other failure a retry after an exponential backoff (0.5 s doubling to 30 s). Every
``relist_interval`` the state is listed again from scratch, so a missed event cannot live forever.

Two parts: the pure state machine is ``webhook.kube.namespace_state`` (events in, labels out,
and when to LIST or back off; no I/O, unit-tested event by event); ``NamespaceCache`` here is its
adapter, which drives it from a daemon thread through the ``kubernetes`` client. Reads come from
the event loop while the thread writes, so both take one lock; a read is a dict lookup. A
namespace not in the state (created a moment ago, or the first LIST not done yet) is fetched
directly with a short timeout by ``fetch``. What the server makes of a namespace whose labels stay
unknown is the engine's rule (``NamespaceLabelsUnknownError``).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from webhook.cluster.client import NAMESPACES as NAMESPACES_PATH
from webhook.cluster.client import request
from webhook.kube.namespace_state import CacheStats, GoneError, NamespaceState, WatchSchedule, read_list
from webhook.kube.objects import RawObject, string_labels

log = logging.getLogger("placement_webhook")  # the server's logger (webhook.server.logs.LOGGER)

LOOKUP_TIMEOUT = 2.0  # seconds for the direct GET of a namespace the cache does not have
LIST_TIMEOUT = 30.0
WATCH_SECONDS = 240  # the API server ends each watch after this; it is then resumed
LIST_CHUNK = 500  # objects per list call, as client-go's reflector pages its first list
LIST_RESTARTS = 3  # times a list starts over after its continue token expired
RELIST_INTERVAL = 600.0


@dataclass(frozen=True)
class WatchedKind:
    """What a cache lists and watches: the collection's path and what it keeps of each object.
    Namespaces keep their labels; ``webhook.cluster.nodes`` keeps Nodes' taints."""

    singular: str  # for logs: "namespace"
    plural: str  # for logs and messages: "Namespaces"
    path: str  # the collection: listed, watched (watch=true), and read by name below it
    extract: Callable[[RawObject], Any]


NAMESPACES = WatchedKind("namespace", "Namespaces", NAMESPACES_PATH, string_labels)


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
        #: ``webhook.cluster.client.request`` on ``api``: (verb, path, names=, query=, timeout=)
        self.request: Callable[..., Any] = partial(request, api)
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
            path = f"{self.kind.path}/{{name}}"
            response: Any = self.request("GET", path, names={"name": name}, timeout=self.lookup_timeout)
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
        """The whole list, page by page as a client-go reflector reads it (``LIST_CHUNK`` objects
        per call), installed at once when the last page is in: until then ``ready`` stays false.
        A continue token that expired between pages (410) starts the list over."""
        for attempt in range(LIST_RESTARTS + 1):
            items: list[Any] = []
            token: str | None = None
            try:
                while True:
                    query = [("limit", LIST_CHUNK), *([("continue", token)] if token else [])]
                    response: Any = self.request("GET", self.kind.path, query=query, timeout=LIST_TIMEOUT)
                    listed = json.loads(response.data)
                    page, version = read_list(listed)
                    items += page
                    token = (listed.get("metadata") or {}).get("continue") or None
                    if token is None:
                        break
            except ApiException as exc:
                if exc.status == 410 and token is not None and attempt < LIST_RESTARTS:
                    continue
                raise
            break
        self.state.replace(items, resource_version=version)
        fields = {self.kind.plural.lower(): len(items), "resourceVersion": version}
        log.info(f"{self.kind.plural.lower()} listed", extra={"fields": fields})

    def _events(self) -> Iterator[dict[str, Any]]:
        version = self.state.resource_version
        query = [
            ("watch", True),
            *([("resourceVersion", version)] if version else []),
            ("allowWatchBookmarks", True),
            ("timeoutSeconds", self.watch_seconds),
        ]
        response: Any = self.request(  # a urllib3 response, read line by line as it streams
            "GET", self.kind.path, query=query, timeout=(LIST_TIMEOUT, self.watch_seconds + 30)
        )
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if line:
                    yield json.loads(line)
        finally:
            response.release_conn()

    def _run(self) -> None:
        schedule = WatchSchedule.start(
            self.relist_interval, self.stats, listed=self.state.listed, now=time.monotonic()
        )
        while not self._stop.is_set():
            try:
                if schedule.must_list(listed=self.state.listed, now=time.monotonic()):
                    self._list()
                    schedule.listed(time.monotonic())
                for event in self._events():
                    self.state.apply(event)
                    if self._stop.is_set():
                        return
                schedule.watch_ended()
            except GoneError:
                schedule.gone()
            except Exception as exc:  # network, API errors, bad JSON: back off and retry
                if isinstance(exc, ApiException):  # an answer: its status and reason
                    backoff = schedule.failed(exc, status=exc.status, reason=exc.reason)
                else:
                    backoff = schedule.failed(exc)
                log.warning(
                    f"{self.kind.singular} watch failed; retrying",
                    extra={"fields": {"error": self.stats.last_error, "retry_in_s": backoff}},
                )
                if self._sleep(backoff * random.uniform(0.8, 1.2)):
                    return
