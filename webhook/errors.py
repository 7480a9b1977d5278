"""Every error placement-webhook raises on purpose, mapped to exit codes and HTTP status at the edges.

PlacementWebhookError
├── PolicyError          the policy file is unreadable or invalid (CLI exit 1, server keeps last good)
├── InputError           a Pod / AdmissionReview document cannot be used (CLI exit 2, HTTP 400)
├── ClusterError         the Kubernetes API could not be reached or refused a call (CLI exit 1)
├── PodShapeError        a Pod field the engine owns has a type it cannot merge into
│                        (admission allows the Pod unchanged, with a warning)
└── UndecidableError     a cluster fact that decides is not known (HTTP 502: failurePolicy decides;
    │                    CLI exit 2)
    ├── NamespaceLabelsUnknownError  an enforce policy's namespaceSelector decides, but the
    │                    namespace's labels are not known
    └── NodeTaintsUnknownError  a Pod names a node (``spec.nodeName``) whose taints are not known
"""

from __future__ import annotations

import json
from typing import Any


def shown(value: Any, *, limit: int | None = None) -> str:
    """A value of the user's input in their words, JSON as YAML and JSON files spell it: a string
    in double quotes, ``null``, ``true``, ``5`` (never Python's ``'x'``, ``None``, ``True``);
    strings longer than ``limit`` characters are cut first."""
    if limit is not None and isinstance(value, str) and len(value) > limit:
        value = value[:limit]
    return json.dumps(value, ensure_ascii=False, default=str)


class PlacementWebhookError(Exception):
    """Base of every deliberate error of this project."""


class PolicyError(PlacementWebhookError):
    """A policy file could not be loaded; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        # one line each, always: a key or value may itself hold a line break
        self.problems = [p.replace("\r", "\\r").replace("\n", "\\n") for p in problems]
        super().__init__("\n".join(self.problems))


class InputError(PlacementWebhookError):
    """A Pod or AdmissionReview document is malformed; the message is one line."""


class PodShapeError(PlacementWebhookError):
    """A placement field of the Pod has an unexpected type (e.g. ``spec.tolerations`` is a string)."""


class ClusterError(PlacementWebhookError):
    """A Kubernetes API call failed; the message is one line naming the verb and the object."""


class UndecidableError(PlacementWebhookError):
    """A fact of the cluster that decides the answer is not known: the webhook gives no answer
    (HTTP 502) and the API server's ``failurePolicy`` decides, exactly as when the webhook is down.
    The message uses single quotes: kube-apiserver quotes a webhook's error body with Go's ``%q``,
    which would show double quotes escaped to the user."""


class NamespaceLabelsUnknownError(UndecidableError):
    """The namespace's labels are needed to decide and are not known (cache empty, lookup failed).

    Raised only when it matters: an enforce policy whose other criteria all hold has a
    ``namespaceSelector``, so which policy applies depends on labels we do not have. Guessing
    either way could place the Pod wrongly, so the webhook does not answer the review at all and
    the API server's ``failurePolicy`` decides, exactly as when the webhook is down.
    """

    def __init__(self, namespace: str, *, policy: str) -> None:
        self.namespace, self.policy = namespace, policy
        super().__init__(
            f"labels of namespace '{namespace}' are unknown and policy {policy} matches on namespaceSelector"
        )


class NodeTaintsUnknownError(UndecidableError):
    """A Pod created with ``spec.nodeName`` skips the scheduler, so the guard must know whether that
    node carries a reserved taint; its taints are not known (the node cache cannot start, the node
    does not exist yet, the API server did not answer). Admitting it could put a stowaway on a
    reserved node the moment a node of that name registers, so there is no answer either way."""

    def __init__(self, node: str, *, why: str = "unknown") -> None:
        self.node = node
        super().__init__(f"the taints of node '{node}' (the Pod's spec.nodeName) are {why}")
