"""The server's side of the namespace cache: started only when the policies need it, async lookups.

The node cache (``webhook.cluster.nodes``, Node taints for the guard's ``spec.nodeName`` rule) is
looked up the same way (``subject="node"``), started while the policies have reservations; unlike
the namespace cache it never holds ``/readyz`` back: only Pods created with ``spec.nodeName`` need
it, and those get no answer (HTTP 502, the guard's fail-closed ``nodeName`` webhook refuses them)
while a node's taints cannot be read.

``serve`` starts nothing for policies without ``namespaceSelector`` (and then needs no cluster
credentials, as before). When the policies at start-up or after a reload use one, the cache is
started once and kept. ``labels`` answers from the cache, else by a direct GET in a worker thread
(the event loop never blocks on the API server), else None: unknown, and the engine's rule decides.

A reload that newly needs the cache is only taken once the cache can serve it (``serving_problem``):
a valid file the server cannot serve (no credentials, no RBAC to list Namespaces) is refused like
an invalid one, instead of turning ``/readyz`` 503 on every replica at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from webhook.errors import PlacementWebhookError
from webhook.server.logs import LOGGER

log = logging.getLogger(LOGGER)

#: How to give the server what ``namespaceSelector`` needs, named in every refusal.
PERMISSION_HINT = (
    "policies with match.namespaceSelector need the server to get, list and watch Namespaces:"
    " install the chart with namespaceSelector.enabled=true (its ClusterRole and a mounted token)"
)
#: Seconds a reload waits for the cache's first LIST before it is refused (retried at each poll).
FIRST_LIST_WAIT = 10.0


V = TypeVar("V", covariant=True)


class LabelSource(Protocol[V]):
    """What the server needs of a namespace cache (``webhook.cluster.namespaces.NamespaceCache``;
    ``V``: what it keeps per object, a Namespace's labels or a Node's taints)."""

    @property
    def ready(self) -> bool: ...

    def start(self) -> None: ...

    @property
    def failure(self) -> str | None:
        """Why the last LIST or WATCH failed, None while it works (or has not failed yet)."""
        ...

    def labels(self, name: str) -> V | None: ...

    def fetch(self, name: str) -> V | None: ...


class NamespaceLookup(Generic[V]):
    """Starts the cache on first need (``ensure_started``) and looks labels up for the endpoint."""

    def __init__(self, make_source: Callable[[], LabelSource[V]], *, subject: str = "namespace") -> None:
        self._make_source = make_source
        self.subject = subject  # "namespace" or "node": what its logs and problems say
        self.source: LabelSource[V] | None = None
        self.problem: str | None = None  # why the cache could not be started (no credentials)

    def ensure_started(self) -> None:
        if self.source is not None:
            return
        try:
            source = self._make_source()
        except PlacementWebhookError as exc:
            if self.problem is None:
                log.error(f"{self.subject} cache cannot start", extra={"fields": {"error": str(exc)}})
            self.problem = f"{self.subject} cache cannot start: {exc}"
            return
        source.start()
        self.source, self.problem = source, None
        log.info(f"{self.subject} cache started", extra={"fields": {}})

    def readiness_problem(self) -> str | None:
        """Why ``/readyz`` must say not ready while the policies need namespace labels, or None."""
        if self.source is None:
            return self.problem or f"{self.subject} cache not started"
        if not self.source.ready:
            return f"{self.subject} cache: first list of {self.subject}s not complete"
        return None

    def serving_problem(self, *, wait: float = FIRST_LIST_WAIT) -> str | None:
        """Why policies with namespaceSelector cannot be served now, or None once they can.

        Starts the cache if needed and waits up to ``wait`` seconds for its first LIST; a LIST that
        fails (401/403 from missing RBAC, an unreachable API server) or takes longer is a problem.
        Blocking: called from the reload's worker thread, never from the event loop.
        """
        self.ensure_started()
        deadline = time.monotonic() + wait
        while True:
            source = self.source
            if source is None:
                return f"{self.problem}; {PERMISSION_HINT}"
            if source.ready:
                return None
            failure = source.failure
            if failure is not None:
                return f"namespace cache: first list of namespaces failed: {failure}; {PERMISSION_HINT}"
            if time.monotonic() >= deadline:
                return f"namespace cache: first list of namespaces not complete after {wait:g} s"
            time.sleep(min(0.05, wait))

    async def labels(self, name: str) -> V | None:
        source = self.source
        if source is None or not name:
            return None
        cached = source.labels(name)
        if cached is not None:
            return cached
        return await asyncio.to_thread(source.fetch, name)


#: the lookups the server keeps: Namespace labels, Node taints
NamespaceLabels = NamespaceLookup[Mapping[str, str]]
NodeTaints = NamespaceLookup[Sequence[Mapping[str, Any]]]
