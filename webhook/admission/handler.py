"""The seam between the server and what decides: one ``Handler`` per webhook path.

The server decodes the request, asks the handler whether it needs the labels of the request's
Namespace or the taints of the node the Pod names (looked up only then: that may cost a GET),
calls ``handle`` and encodes the ``Response``;
it logs one line (``log_message`` and the response's ``details``) and counts it with the
handler's own counter (``counter``, labelled by the response's ``counts``) and one latency
histogram labelled by ``name``. A new webhook is a new handler and a new route, nothing else.

``C`` is what the handler decides on (the policies in force, for this project's handlers), passed
by the server with every request so that one admission sees one generation of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from webhook.admission.request import AdmissionRequest, parse_admission_review
from webhook.admission.response import Response

C = TypeVar("C", contravariant=True)


@dataclass(frozen=True)
class CounterSpec:
    """A handler's Prometheus counter: its name (without ``_total``), help text and label names."""

    name: str
    documentation: str
    labels: tuple[str, ...]


class Handler(Protocol[C]):
    """Decides admission requests; pure: no I/O, the same answer for the same inputs."""

    #: the webhook's name: its latency histogram's ``webhook`` label (``mutate``, ``validate``)
    name: str
    #: the ``msg`` of the log line written for each request it answers
    log_message: str
    counter: CounterSpec

    def wants_namespace_labels(self, request: AdmissionRequest, context: C) -> bool:
        """Whether ``handle`` may need the labels of the request's Namespace."""
        ...

    def wants_node(self, request: AdmissionRequest, context: C) -> str | None:
        """The node whose taints ``handle`` may need (the Pod's ``spec.nodeName``), or None."""
        ...

    def handle(
        self,
        request: AdmissionRequest,
        context: C,
        namespace_labels: Mapping[str, str] | None,
        node_taints: Sequence[Mapping[str, Any]] | None = None,
    ) -> Response:
        """The answer; raises ``InputError`` for a request it cannot judge (HTTP 400) and an
        ``UndecidableError`` when a cluster fact it needs is unknown (HTTP 502): the namespace's
        labels, the node's taints (None: unknown)."""
        ...


def answer_review(
    handler: Handler[C],
    data: Any,
    context: C,
    namespace_labels: Mapping[str, str] | None = None,
    node_taints: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """AdmissionReview in, AdmissionReview out, without HTTP: what the server answers ``data``
    with (``InputError`` where it answers 400). For offline callers: benchmarks, the soak test."""
    request = parse_admission_review(data)
    return handler.handle(request, context, namespace_labels, node_taints).review(request.uid)
