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
``namespaceSelector`` keeps).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from webhook import POLICY_ANNOTATION
from webhook.admission.response import WARNING_PREFIX
from webhook.engine.handlers import Guard, Mutator, pod_request
from webhook.engine.memo import LoadedPolicies, PlanMemo
from webhook.engine.review import Review, conflict_message
from webhook.kube.objects import RawObject, as_dict
from webhook.policy.compiled import PolicySet
from webhook.simulation.owners import Owner, controller_of, owner_of
from webhook.simulation.scope import (
    DEFAULT_SCOPE,
    OBJECT_SELECTOR,
    WebhookScope,
    namespace_labels_of,
    skip_reason,
)

Status = Literal["unchanged", "patched", "conflict", "denied", "stale", "refused"]

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


MUTATOR, GUARD = Mutator(), Guard()


def guard_refusal(
    pod: RawObject,
    *,
    namespace: str,
    policies: PolicySet,
    namespace_labels: Mapping[str, str] | None = None,
) -> str | None:
    """``guard_pod`` at CREATE: its denial, without our prefix, or None (admitted, also with an
    audit-mode warning: that changes nothing for the Pod)."""
    request = pod_request(pod, namespace=namespace)
    verdict = GUARD.decide(request, LoadedPolicies(policies), namespace_labels)
    assert verdict is not None  # a Pod CREATE
    return None if verdict.allowed else (verdict.message or "").removeprefix(WARNING_PREFIX)


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
    memo: PlanMemo | None = None,
) -> PodAudit:
    """Review the Pod's CREATE form with today's policies (and the guard, after mutation).
    ``namespace_labels``: its Namespace's labels, None when unknown (then a policy whose
    ``namespaceSelector`` decides raises ``NamespaceLabelsUnknownError``, as in ``review_pod``)."""
    created = creation_form(pod)
    loaded = LoadedPolicies(policies, memo or PlanMemo())
    review = MUTATOR.decide(pod_request(created, namespace=namespace), loaded, namespace_labels)
    assert review is not None  # a Pod CREATE
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
    memo: PlanMemo | None = None,
) -> tuple[PodAudit | None, str]:
    """The Pod's audit, or None and why it is not audited. The webhook's namespaceSelector can
    always be judged (``namespace_labels_of``); the policies get the labels only when known."""
    labels = namespace_labels_of(namespace, known)
    reason = skip_reason(pod, namespace=namespace, scope=scope, namespace_labels=labels)
    if reason is None:
        own = labels if namespace in known else None
        audit = audit_pod(
            pod, namespace=namespace, policies=policies, namespace_labels=own, guard=guard, memo=memo
        )
        return audit, ""
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
    memo = PlanMemo()  # the Pods of one server share a template: one plan answers them all
    for pod in pods:
        metadata = as_dict(pod.get("metadata"))
        namespace = str(metadata.get("namespace") or default_namespace)
        result, reason = _audit_or_skip(
            pod, namespace=namespace, policies=policies, scope=scope, known=known, guard=guard, memo=memo
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
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            continue
        namespace = str(as_dict(pod.get("metadata")).get("namespace") or default_namespace)
        result, _ = _audit_or_skip(
            pod, namespace=namespace, policies=policies, scope=scope, known=namespaces, guard=guard
        )
        if result is not None and result.differs:
            wanted.add((namespace, str(ref.get("name", ""))))
    return wanted
