"""Audit of running Pods: which ones the policies of today would place differently, by owner.

The webhook acts only at CREATE, so a policy change leaves the Pods placed under the old rules as
they are. For each running Pod this module answers what the webhook would do if that Pod were
created now, and groups the ones that differ by the controller that recreates them, with the
command that rolls it. Pure: Pods, ReplicaSets, Namespaces and the webhook configuration come in
as dicts (the CLI reads them from files or the cluster).

**From a running Pod back to what the webhook saw at CREATE** (``creation_form``): the API server
sets a few fields after admission, and only those are removed: ``status``, ``spec.nodeName`` (the
scheduler's binding) and the server's bookkeeping in ``metadata`` (uid, resourceVersion,
creationTimestamp, generation, managedFields, deletion fields). Everything else was already there
when the webhook was called: defaults, the ServiceAccount volume, and the tolerations that the
``DefaultTolerationSeconds`` (``node.kubernetes.io/not-ready``/``unreachable``, NoExecute, 300 s)
and ``ExtendedResourceToleration`` plugins add, since both run before ``MutatingAdmissionWebhook``
(see ``admission_plugins``). They stay, so the review is the one the webhook made then; a Pod the
current policies already placed reviews as ``unchanged`` (the engine is idempotent).

**Which Pods are audited** is what the webhook configuration sends (``WebhookScope``): its
``objectSelector`` over the Pod's labels and its ``namespaceSelector`` over the namespace's labels
(``kubernetes.io/metadata.name`` is always one of them, the API server sets it). Its
``matchConditions`` are CEL, which is not evaluated here: the shipped condition (the Pod is not
created bound to a node) is known and holds for every Pod the scheduler bound, so only mirror Pods
(the kubelet's static Pods, created bound) are left out by it; any other condition is reported as
not evaluated, and the Pods are audited as if it held. Pods that are terminating or finished are
not audited: nothing will be recreated from them by a rollout.

**Outcomes** (per Pod): ``unchanged``; ``patched`` (would get these additions); ``conflict`` (the
policy that applies today conflicts with the Pod's placement, which the old policy may have
added; admitted unchanged with a warning at CREATE); ``denied`` (``onConflict: deny``); ``stale``
(the annotation says a policy placed it, but no enforce policy applies to it today); ``refused``
(the reservation guard, ``webhook.engine.guard``, would refuse it at CREATE, judged after the
mutation as ``/validate`` is; also a Pod the mutating webhook is not sent, in a namespace its
``namespaceSelector`` keeps). ``DIFFERING`` lists all but ``unchanged``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from webhook.engine.admission import WARNING_PREFIX, Review, conflict_message, review_pod
from webhook.engine.guard import guard_pod
from webhook.kube.objects import RawObject, as_dict, as_list, string_labels
from webhook.kube.selectors import LABEL_OPERATORS, label_selector_matches
from webhook.policy.compiled import PolicySet

POLICY_ANNOTATION = "placement-webhook.io/policy"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
WEBHOOK_NAME = "pods.placement-webhook.io"
OBJECT_SELECTOR = "not selected by the webhook's objectSelector"
#: the shipped matchCondition (charts/placement-webhook values.yaml ``webhook.matchConditions``)
NOT_BOUND_CONDITION = "!has(object.spec.nodeName) || object.spec.nodeName == ''"

Status = Literal["unchanged", "patched", "conflict", "denied", "stale", "refused"]
DIFFERING: tuple[Status, ...] = ("patched", "conflict", "denied", "stale", "refused")

_SERVER_SET_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
)


# --- the seams: the reservation guard (issue 13) ------------------------------------------------------


class GuardCheck(Protocol):
    """The reservation guard's decision on a Pod as the validating webhook sees it (after every
    mutation): None when admitted, else the message of the refusal. A seam for tests; the audit
    uses ``guard_refusal``."""

    def __call__(
        self,
        pod: RawObject,
        *,
        namespace: str,
        policies: PolicySet,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> str | None: ...


def guard_refusal(
    pod: RawObject,
    *,
    namespace: str,
    policies: PolicySet,
    namespace_labels: Mapping[str, str] | None = None,
) -> str | None:
    """``guard_pod`` at CREATE: its denial, without our prefix, or None (admitted, also with an
    audit-mode warning: that changes nothing for the Pod)."""
    verdict = guard_pod(pod, namespace=namespace, policies=policies, namespace_labels=namespace_labels)
    return None if verdict.allowed else (verdict.message or "").removeprefix(WARNING_PREFIX)


# --- which Pods the webhook configuration sends ------------------------------------------------------


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
            return (
                f"matchExpressions: {expr!r} is not a key with an operator In, NotIn, Exists or DoesNotExist"
            )
    return None


def namespace_labels_of(namespace: str, known: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The namespace's labels; ``kubernetes.io/metadata.name`` is always among them (the API server
    sets it on every Namespace), so a namespace not given still has that one."""
    return {**known.get(namespace, {}), NAMESPACE_NAME_LABEL: namespace}


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


# --- owners and how to roll them ---------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Owner:
    """The controller that recreates a Pod (``kind`` ``Pod`` for a bare one), and how it was found."""

    namespace: str
    kind: str
    name: str
    via: str = field(default="", compare=False)  # e.g. "ReplicaSet triton-7d9f" for a Deployment

    @property
    def command(self) -> str:
        """How to have the Pods recreated (and so reviewed again at CREATE)."""
        ns = self.namespace
        if self.kind in ("StatefulSet", "Deployment", "DaemonSet"):
            return f"kubectl rollout restart {self.kind.lower()}/{self.name} -n {ns}"
        if self.kind == "Pod":
            return (
                f"kubectl delete pod {self.name} -n {ns}, then create it again from its own manifest"
                " (not from kubectl get: that copy is bound to its node and the webhook skips it)"
            )
        return f"kubectl delete pod -n {ns} <the Pods below>: the {self.kind} {self.name} creates them again"


def _controller(obj: RawObject) -> dict[str, Any] | None:
    refs = [as_dict(r) for r in as_list(as_dict(obj.get("metadata")).get("ownerReferences"))]
    return next((r for r in refs if r.get("controller") is True), None)


def owner_of(pod: RawObject, *, namespace: str, replicasets: Mapping[tuple[str, str], RawObject]) -> Owner:
    """The Pod's controller; a ReplicaSet stands for its Deployment. With the ReplicaSet at hand its
    own controller reference decides; without it (a Pod export alone), a ReplicaSet named
    ``<deployment>-<pod-template-hash>`` (the Deployment controller's naming) is taken for it."""
    ref = _controller(pod)
    name = str(as_dict(as_dict(pod.get("metadata"))).get("name", ""))
    if ref is None:
        return Owner(namespace, "Pod", name)
    kind, owner_name = str(ref.get("kind", "")), str(ref.get("name", ""))
    if kind != "ReplicaSet":
        return Owner(namespace, kind, owner_name)
    via = f"ReplicaSet {owner_name}"
    replicaset = replicasets.get((namespace, owner_name))
    if replicaset is not None:
        parent = _controller(replicaset)
        if parent is not None and parent.get("kind") == "Deployment":
            return Owner(namespace, "Deployment", str(parent.get("name", "")), via)
        return Owner(namespace, "ReplicaSet", owner_name)
    template_hash = string_labels(pod).get("pod-template-hash")
    if template_hash and owner_name.endswith(f"-{template_hash}"):
        return Owner(
            namespace, "Deployment", owner_name.removesuffix(f"-{template_hash}"), f"{via} (by name)"
        )
    return Owner(namespace, "ReplicaSet", owner_name)


# --- one Pod -----------------------------------------------------------------------------------------


def creation_form(pod: RawObject) -> RawObject:
    """The Pod as the webhook received it at CREATE (see the module docstring); ``pod`` unchanged."""
    metadata = {k: v for k, v in as_dict(pod.get("metadata")).items() if k not in _SERVER_SET_METADATA}
    spec = {k: v for k, v in as_dict(pod.get("spec")).items() if k != "nodeName"}
    return {**{k: v for k, v in pod.items() if k != "status"}, "metadata": metadata, "spec": spec}


@dataclass(frozen=True)
class PodAudit:
    """What the webhook would do to one running Pod if it were created now."""

    name: str
    namespace: str
    status: Status
    policy: str | None = None  # the policy that applies today (or that placed it, for ``stale``)
    changes: tuple[str, ...] = ()  # what would be added, one phrase each
    message: str | None = None  # the conflict, denial, refusal or staleness, in words
    node: str | None = None

    @property
    def differs(self) -> bool:
        return self.status != "unchanged"


def _enforce_names(policies: PolicySet) -> set[str]:
    return {p.name for p in policies.policies if p.policy.mode == "enforce"}


def _status_of(review: Review, *, placed_by: str | None, enforce: set[str]) -> tuple[Status, str | None]:
    if review.outcome == "patched":
        return "patched", None
    if review.outcome == "denied":
        return "denied", (review.denial or "").removeprefix(WARNING_PREFIX)
    if review.outcome == "conflict" and review.plan is not None and review.policy is not None:
        return "conflict", conflict_message(review.policy, review.plan)
    if placed_by is not None and review.policy not in enforce:
        return "stale", f"placed by policy {placed_by}, but no enforce policy applies to it today"
    return "unchanged", None


def audit_pod(
    pod: RawObject,
    *,
    namespace: str,
    policies: PolicySet,
    namespace_labels: Mapping[str, str] | None = None,
    guard: GuardCheck | None = guard_refusal,
) -> PodAudit:
    """Review the Pod's CREATE form with today's policies (and the guard, after mutation).
    ``namespace_labels``: its Namespace's labels, None when unknown (then a policy whose
    ``namespaceSelector`` decides raises ``NamespaceLabelsUnknownError``, as in ``review_pod``)."""
    created = creation_form(pod)
    review = review_pod(created, namespace=namespace, policies=policies, namespace_labels=namespace_labels)
    placed_by = as_dict(as_dict(pod.get("metadata")).get("annotations")).get(POLICY_ANNOTATION)
    status, message = _status_of(
        review, placed_by=placed_by if isinstance(placed_by, str) else None, enforce=_enforce_names(policies)
    )
    policy = review.policy if status != "stale" else str(placed_by)
    if status != "denied" and guard is not None:  # a denied Pod never reaches /validate
        refusal = guard(review.pod, namespace=namespace, policies=policies, namespace_labels=namespace_labels)
        if refusal is not None:
            status, message = "refused", refusal
    changes = tuple(review.plan.describe()) if status == "patched" and review.plan else ()
    node = as_dict(pod.get("spec")).get("nodeName")
    return PodAudit(
        name=str(as_dict(pod.get("metadata")).get("name", "")),
        namespace=namespace,
        status=status,
        policy=policy,
        changes=changes,
        message=message,
        node=node if isinstance(node, str) and node else None,
    )


def _refused(pod: RawObject, namespace: str, refusal: str) -> PodAudit:
    """A Pod the mutating webhook is not sent, which the guard would refuse."""
    node = as_dict(pod.get("spec")).get("nodeName")
    name = str(as_dict(pod.get("metadata")).get("name", ""))
    return PodAudit(
        name, namespace, "refused", message=refusal, node=node if isinstance(node, str) and node else None
    )


# --- many Pods -----------------------------------------------------------------------------------------


@dataclass
class OwnerGroup:
    owner: Owner
    pods: list[PodAudit] = field(default_factory=list)


@dataclass
class AuditReport:
    """Every audited Pod, grouped by owner, and the Pods left out with why."""

    groups: list[OwnerGroup]
    skipped: list[tuple[str, str]]  # (namespace/name, reason)
    notes: list[str]

    @property
    def audited(self) -> list[PodAudit]:
        return [p for g in self.groups for p in g.pods]

    @property
    def differing(self) -> list[OwnerGroup]:
        """Owners with at least one differing Pod, only those Pods in each."""
        out = [OwnerGroup(g.owner, [p for p in g.pods if p.differs]) for g in self.groups]
        return [g for g in out if g.pods]


def _audit_or_skip(
    pod: RawObject,
    *,
    namespace: str,
    policies: PolicySet,
    scope: WebhookScope,
    known: Mapping[str, Mapping[str, str]],
    guard: GuardCheck | None,
) -> tuple[PodAudit | None, str]:
    """The Pod's audit, or None and why it is not audited. The webhook's namespaceSelector can
    always be judged (``namespace_labels_of``); the policies get the labels only when known."""
    labels = namespace_labels_of(namespace, known)
    reason = skip_reason(pod, namespace=namespace, scope=scope, namespace_labels=labels)
    if reason is None:
        own = labels if namespace in known else None
        return audit_pod(pod, namespace=namespace, policies=policies, namespace_labels=own, guard=guard), ""
    if reason == OBJECT_SELECTOR and guard is not None:
        own = labels if namespace in known else None
        refusal = guard(creation_form(pod), namespace=namespace, policies=policies, namespace_labels=own)
        if refusal is not None:
            return _refused(pod, namespace, refusal), ""
    return None, reason


def audit_pods(
    pods: Iterable[RawObject],
    *,
    policies: PolicySet,
    scope: WebhookScope = DEFAULT_SCOPE,
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
    replicasets: Sequence[RawObject] = (),
    guard: GuardCheck | None = guard_refusal,
    default_namespace: str = "default",
) -> AuditReport:
    """Audit every Pod the webhook configuration would send; groups and Pods sorted by name.

    A Pod the mutating webhook is not sent (its objectSelector) still meets the reservation guard,
    which judges Pods that tolerate something: those it would refuse are reported ``refused``
    too; the others count as not audited."""
    known = namespaces or {}
    by_name = {
        (
            str(as_dict(r.get("metadata")).get("namespace", "")),
            str(as_dict(r.get("metadata")).get("name", "")),
        ): r
        for r in replicasets
    }
    groups: dict[Owner, OwnerGroup] = {}
    skipped: list[tuple[str, str]] = []
    for pod in pods:
        metadata = as_dict(pod.get("metadata"))
        namespace = str(metadata.get("namespace") or default_namespace)
        result, reason = _audit_or_skip(
            pod, namespace=namespace, policies=policies, scope=scope, known=known, guard=guard
        )
        if result is None:
            skipped.append((f"{namespace}/{metadata.get('name', '')}", reason))
            continue
        owner = owner_of(pod, namespace=namespace, replicasets=by_name)
        groups.setdefault(owner, OwnerGroup(owner)).pods.append(result)
    for group in groups.values():
        group.pods.sort(key=lambda p: p.name)
    notes = [
        f"matchCondition {name} of {scope.source} is not evaluated: Pods are audited as if it held"
        for name in scope.unevaluated_conditions
    ]
    return AuditReport(sorted(groups.values(), key=lambda g: g.owner), sorted(skipped), notes)


def replicasets_to_resolve(
    pods: Iterable[RawObject],
    *,
    policies: PolicySet,
    scope: WebhookScope,
    namespaces: Mapping[str, Mapping[str, str]],
    guard: GuardCheck | None = guard_refusal,
    default_namespace: str = "default",
) -> set[tuple[str, str]]:
    """(namespace, name) of the ReplicaSets that control Pods which differ: the only ones worth
    fetching, to name their Deployments."""
    wanted: set[tuple[str, str]] = set()
    for pod in pods:
        ref = _controller(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            continue
        namespace = str(as_dict(pod.get("metadata")).get("namespace") or default_namespace)
        result, _ = _audit_or_skip(
            pod, namespace=namespace, policies=policies, scope=scope, known=namespaces, guard=guard
        )
        if result is not None and result.differs:
            wanted.add((namespace, str(ref.get("name", ""))))
    return wanted
