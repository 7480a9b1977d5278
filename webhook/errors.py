"""Every error placement-webhook raises on purpose, mapped to exit codes and HTTP status at the edges.

PlacementWebhookError
├── PolicyError          the policy file is unreadable or invalid (CLI exit 1, server keeps last good)
├── InputError           a Pod / AdmissionReview document cannot be used (CLI exit 2, HTTP 400)
├── ClusterError         the Kubernetes API could not be reached or refused a call (CLI exit 1)
└── PodShapeError        a Pod field the engine owns has a type it cannot merge into
                         (admission allows the Pod unchanged, with a warning)
"""

from __future__ import annotations


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
