"""Which Pods the webhook configuration sends to ``/mutate``, judged as the API server does.

The installed MutatingWebhookConfiguration's ``namespaceSelector`` and ``objectSelector`` (label
selectors) decide; of its ``matchConditions`` only the shipped one (not yet bound to a node) is
understood, the others are named in the audit's notes and assumed to hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook.errors import shown
from webhook.kube.objects import (
    NAMESPACE_NAME_LABEL,
    RawObject,
    as_dict,
    as_list,
    stored_namespace_labels,
    string_labels,
)
from webhook.kube.selectors import LABEL_OPERATORS, label_selector_matches

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
WEBHOOK_NAME = "pods.placement-webhook.io"
OBJECT_SELECTOR = "not selected by the webhook's objectSelector"
#: the shipped matchCondition (charts/placement-webhook values.yaml ``webhook.matchConditions``)
NOT_BOUND_CONDITION = "!has(object.spec.nodeName) || object.spec.nodeName == ''"


@dataclass(frozen=True)
class WebhookScope:
    """The selectors of the webhook that calls ``/mutate``, as the API server evaluates them."""

    object_selector: Mapping[str, Any]
    namespace_selector: Mapping[str, Any]
    match_conditions: tuple[Mapping[str, Any], ...] = ()
    source: str = "the shipped webhook configuration"

    @property
    def unevaluated_conditions(self) -> list[str]:
        """The names of matchConditions this audit cannot evaluate (any but the shipped one)."""
        return [
            str(c.get("name", "?"))
            for c in self.match_conditions
            if c.get("expression") != NOT_BOUND_CONDITION
        ]

    @property
    def checks_binding(self) -> bool:
        return any(c.get("expression") == NOT_BOUND_CONDITION for c in self.match_conditions)


#: what ``deploy/base`` (the chart's defaults) installs
DEFAULT_SCOPE = WebhookScope(
    object_selector={"matchExpressions": [{"key": "seldon-server-name", "operator": "Exists"}]},
    namespace_selector={
        "matchExpressions": [
            {"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": ["kube-system", "placement-webhook"]}
        ]
    },
    match_conditions=({"name": "not-bound-to-a-node", "expression": NOT_BOUND_CONDITION},),
)


def scope_from_configuration(configuration: RawObject, *, source: str) -> WebhookScope:
    """The scope of a MutatingWebhookConfiguration: its webhook named ``pods.placement-webhook.io``
    or, when it has only one, that one. ``ValueError`` names what is missing."""
    hooks = [as_dict(h) for h in as_list(configuration.get("webhooks"))]
    named = [h for h in hooks if h.get("name") == WEBHOOK_NAME]
    if not named and len(hooks) == 1:
        named = hooks
    if len(named) != 1:
        raise ValueError(f"{source}: no webhook named {WEBHOOK_NAME} (and not exactly one webhook)")
    hook = named[0]
    for field_name in ("objectSelector", "namespaceSelector"):
        problem = _selector_problem(hook.get(field_name))
        if problem:
            raise ValueError(f"{source}: webhooks[{WEBHOOK_NAME}].{field_name}: {problem}")
    return WebhookScope(
        object_selector=as_dict(hook.get("objectSelector")),
        namespace_selector=as_dict(hook.get("namespaceSelector")),
        match_conditions=tuple(as_dict(c) for c in as_list(hook.get("matchConditions"))),
        source=source,
    )


def _selector_problem(selector: Any) -> str | None:
    """Why a LabelSelector from a file cannot be evaluated (the API server would have refused it)."""
    if selector is None:
        return None
    if not isinstance(selector, dict):
        return "not a LabelSelector"
    labels = selector.get("matchLabels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return "matchLabels must map keys to strings"
    for expr in as_list(selector.get("matchExpressions")):
        if (
            not isinstance(expr, dict)
            or expr.get("operator") not in LABEL_OPERATORS
            or not isinstance(expr.get("key"), str)
        ):
            operators = "In, NotIn, Exists or DoesNotExist"
            return f"matchExpressions: {shown(expr)} is not a key with an operator {operators}"
    return None


def namespace_labels_of(namespace: str, known: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The namespace's labels; ``kubernetes.io/metadata.name`` is always among them (the API server
    sets it on every Namespace), so a namespace not given still has that one."""
    return stored_namespace_labels(namespace, known.get(namespace, {}))


def skip_reason(
    pod: RawObject, *, namespace: str, scope: WebhookScope, namespace_labels: Mapping[str, str]
) -> str | None:
    """Why this Pod is not audited (the webhook is not sent it, or it is going away), or None."""
    metadata = as_dict(pod.get("metadata"))
    if metadata.get("deletionTimestamp"):
        return "terminating"
    phase = as_dict(pod.get("status")).get("phase")
    if phase in ("Succeeded", "Failed"):
        return f"finished ({phase})"
    if not label_selector_matches(scope.namespace_selector, namespace_labels):
        return f"namespace {namespace} not selected by the webhook's namespaceSelector"
    if not label_selector_matches(scope.object_selector, string_labels(pod)):
        return OBJECT_SELECTOR
    if scope.checks_binding and MIRROR_ANNOTATION in as_dict(metadata.get("annotations")):
        return "a mirror Pod (created bound to its node: the matchCondition not-bound-to-a-node excludes it)"
    return None
