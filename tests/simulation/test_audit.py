"""The audit core: a running Pod reviewed as the webhook would at CREATE today, grouped by owner."""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from tests.engine.test_guard import NLP_GPU
from tests.engine.test_properties import load
from tests.helpers import (
    BUNDLED_POLICIES,
    DEFAULT_TOLERATIONS,
    ROOT,
    bundled_policies,
    fixture,
    minimal_pod,
    policies,
    trusting,
)
from tests.strategies import pods, policy_documents
from webhook.engine.guard import DEFAULT_ACCESS
from webhook.engine.mutation import review_pod
from webhook.errors import NamespaceLabelsUnknownError
from webhook.kube.objects import RawObject
from webhook.policy.compiled import PolicySet
from webhook.simulation.admission_plugins import add_default_tolerations
from webhook.simulation.audit import audit_pod, audit_pods, creation_form, replicasets_to_resolve
from webhook.simulation.owners import Owner, owner_of
from webhook.simulation.scope import DEFAULT_SCOPE, scope_from_configuration, skip_reason

GPU_TOLERATION = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
POOL = {"key": "pool", "operator": "In", "values": ["infer-srv"]}


def running(pod: RawObject, *, node: str = "a100-40-1") -> RawObject:
    """What ``kubectl get pod -o yaml`` shows for ``pod`` once created, bound and started: the
    fields the API server, the scheduler and the kubelet set after admission."""
    out = copy.deepcopy(pod)
    out["metadata"] |= {
        "uid": "0b0f9a4e-5d0c-4c55-9d7b-2f0a3e3c1f00",
        "resourceVersion": "48213",
        "creationTimestamp": "2026-11-30T10:00:00Z",
        "generation": 1,
        "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}],
    }
    out["spec"]["nodeName"] = node
    out["status"] = {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
        "hostIP": "10.0.0.5",
        "podIP": "10.244.1.7",
    }
    return out


def placed(pod: RawObject, policy_set: PolicySet, *, namespace: str = "seldon-mesh") -> RawObject:
    """The Pod as the webhook left it at CREATE under ``policy_set``."""
    return review_pod(pod, namespace=namespace, policies=policy_set).pod


def owned(pod: RawObject, kind: str, name: str) -> RawObject:
    out = copy.deepcopy(pod)
    out["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": True}
    ]
    return out


# --- creation_form: only what was set after admission goes -------------------------------------------


def test_creation_form_drops_only_what_is_set_after_admission() -> None:
    pod = add_default_tolerations(fixture("triton-gpu-0"))
    created = creation_form(running(pod))
    assert created == pod  # the DefaultTolerationSeconds tolerations were there at CREATE: they stay
    assert created["spec"]["tolerations"][:2] == DEFAULT_TOLERATIONS


def test_creation_form_leaves_its_input_alone() -> None:
    pod = running(fixture("triton-gpu-0"))
    before = copy.deepcopy(pod)
    creation_form(pod)
    assert pod == before


# --- one Pod -----------------------------------------------------------------------------------------


def test_a_pod_placed_by_todays_policies_is_unchanged() -> None:
    result = audit_pod(
        running(placed(fixture("triton-gpu-0"), bundled_policies())),
        namespace="seldon-mesh",
        policies=bundled_policies(),
    )
    assert (result.status, result.policy, result.changes, result.message) == (
        "unchanged",
        "gpu-servers",
        (),
        None,
    )
    assert result.node == "a100-40-1" and not result.differs


def test_a_pod_created_before_the_policies_would_be_patched() -> None:
    result = audit_pod(running(fixture("triton-gpu-0")), namespace="seldon-mesh", policies=bundled_policies())
    assert result.status == "patched"
    assert result.policy == "gpu-servers"
    assert result.changes == ("toleration seldon-gpu-srv=true:NoSchedule", "required pool In [infer-srv]")


OLD = """
    version: 1
    policies:
    - name: gpu-old
      match: {servers: ["*"]}
      placement:
        tolerations: [{key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}]
        nodeAffinity: {required: [{key: pool, operator: In, values: [old-pool]}]}
    """


@pytest.mark.parametrize(
    ("today", "status", "message"),
    [
        (  # the new pool contradicts what the old policy required: rolling gives the new placement
            OLD.replace("gpu-old", "gpu-new").replace("old-pool", "new-pool"),
            "conflict",
            "policy gpu-new conflicts with the Pod's own placement on pool",
        ),
        (
            OLD.replace("gpu-old", "gpu-new")
            .replace("old-pool", "new-pool")
            .replace("placement:", "onConflict: deny\n      placement:"),
            "denied",
            "policy gpu-new conflicts with the Pod's own placement on pool",
        ),
        (  # nothing applies any more, but the Pod carries the old placement
            OLD.replace('servers: ["*"]', 'servers: ["nothing-*"]'),
            "stale",
            "placed by policy gpu-old, but no enforce policy applies to it today",
        ),
        (  # only an audit policy matches today: it changes nothing, so the old placement is stale
            OLD.replace("placement:", "mode: audit\n      placement:").replace("old-pool", "new-pool"),
            "stale",
            "placed by policy gpu-old, but no enforce policy applies to it today",
        ),
        (OLD, "unchanged", None),  # the same policy: nothing to do
        (OLD.replace("gpu-old", "gpu-renamed"), "unchanged", None),  # renamed, same placement: nothing
    ],
)
def test_a_pod_placed_by_an_old_policy(today: str, status: str, message: str | None) -> None:
    pod = running(placed(fixture("triton-gpu-0"), policies(OLD)))
    result = audit_pod(pod, namespace="seldon-mesh", policies=policies(today))
    assert (result.status, result.message) == (status, message)
    # a stale Pod is reported under the policy that placed it, the others under today's
    placed_by = "gpu-old" if status == "stale" else result.policy
    assert result.policy == placed_by and (result.name, result.namespace, result.node) == (
        "triton-gpu-0",
        "seldon-mesh",
        "a100-40-1",
    )
    assert result.changes == ()


def test_a_denied_pod_never_meets_the_guard_and_an_unbound_one_has_no_node() -> None:
    denying = (
        textwrap.dedent(OLD)
        .replace("old-pool", "new-pool")
        .replace("placement:", "onConflict: deny\n  placement:")
    )
    pod = running(placed(fixture("triton-gpu-0"), policies(OLD)))

    def guard(*_: Any, **__: Any) -> str:
        raise AssertionError("the guard was asked")

    denied = audit_pod(pod, namespace="seldon-mesh", policies=policies(denying), guard=guard)
    assert denied.status == "denied"
    unbound = fixture("triton-gpu-0")
    unbound["spec"]["nodeName"] = ""
    del unbound["metadata"]["name"]
    result = audit_pod(unbound, namespace="seldon-mesh", policies=bundled_policies(), guard=None)
    assert (result.name, result.node, result.status) == ("", None, "patched")


def test_a_pod_never_placed_and_matched_by_nothing_is_unchanged() -> None:
    pod = running(fixture("mlserver-0"))
    result = audit_pod(pod, namespace="seldon-mesh", policies=bundled_policies())
    assert (result.status, result.policy) == ("unchanged", None)


def test_the_guard_judges_the_pod_after_mutation() -> None:
    seen: list[RawObject] = []

    def guard(
        pod: RawObject,
        *,
        namespace: str,
        policies: PolicySet,
        namespace_labels: Mapping[str, str] | None = None,
    ) -> str | None:
        seen.append(pod)
        return "tolerates the reserved taint seldon-gpu-srv" if namespace == "team-a" else None

    pod = running(fixture("triton-gpu-0"))
    refused = audit_pod(pod, namespace="team-a", policies=bundled_policies(), guard=guard)
    admitted = audit_pod(pod, namespace="seldon-mesh", policies=bundled_policies(), guard=guard)
    assert (refused.status, refused.message) == ("refused", "tolerates the reserved taint seldon-gpu-srv")
    assert admitted.status == "patched"
    assert GPU_TOLERATION in seen[0]["spec"]["tolerations"]  # the validating webhook runs after mutation


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod=pods(), document=policy_documents())
def test_reviewing_our_own_output_is_unchanged(pod: dict[str, Any], document: str) -> None:
    """Every Pod the webhook patched, once running, audits as unchanged under the same policies."""
    policy_set = load(document)
    review = review_pod(pod, namespace="seldon-mesh", policies=policy_set)
    if review.outcome != "patched":
        return
    result = audit_pod(running(review.pod), namespace="seldon-mesh", policies=policy_set)
    assert (result.status, result.changes) == ("unchanged", ())


# --- which Pods the webhook is sent ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "namespace", "reason"),
    [
        ({}, "seldon-mesh", None),
        ({"labels": {"app": "x"}}, "seldon-mesh", "not selected by the webhook's objectSelector"),
        ({}, "kube-system", "namespace kube-system not selected by the webhook's namespaceSelector"),
        (
            {},
            "placement-webhook",
            "namespace placement-webhook not selected by the webhook's namespaceSelector",
        ),
        ({"deletionTimestamp": "2026-12-01T00:00:00Z"}, "seldon-mesh", "terminating"),
        (
            {"annotations": {"kubernetes.io/config.mirror": "abc"}},
            "seldon-mesh",
            "a mirror Pod (created bound to its node: the matchCondition not-bound-to-a-node excludes it)",
        ),
    ],
)
def test_the_shipped_scope(change: dict[str, Any], namespace: str, reason: str | None) -> None:
    pod = running(minimal_pod())
    pod["metadata"] |= change
    labels = {"kubernetes.io/metadata.name": namespace}
    assert skip_reason(pod, namespace=namespace, scope=DEFAULT_SCOPE, namespace_labels=labels) == reason


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_finished_pods_are_not_audited(phase: str) -> None:
    pod = running(minimal_pod())
    pod["status"]["phase"] = phase
    labels = {"kubernetes.io/metadata.name": "seldon-mesh"}
    assert skip_reason(pod, namespace="seldon-mesh", scope=DEFAULT_SCOPE, namespace_labels=labels) == (
        f"finished ({phase})"
    )


CONFIGURATION = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "MutatingWebhookConfiguration",
    "metadata": {"name": "placement-webhook"},
    "webhooks": [
        {"name": "other.example.com"},
        {
            "name": "pods.placement-webhook.io",
            "objectSelector": {"matchLabels": {"placement": "yes"}},
            "namespaceSelector": {"matchLabels": {"team": "nlp"}},
            "matchConditions": [
                {
                    "name": "not-bound-to-a-node",
                    "expression": "!has(object.spec.nodeName) || object.spec.nodeName == ''",
                },
                {"name": "only-gpu", "expression": "object.spec.containers.exists(c, has(c.resources))"},
            ],
        },
    ],
}


def test_a_configuration_from_the_cluster_decides_which_pods_are_audited() -> None:
    scope = scope_from_configuration(CONFIGURATION, source="mutatingwebhookconfiguration placement-webhook")
    selected = running(minimal_pod())
    selected["metadata"]["labels"]["placement"] = "yes"
    unlabelled = running(minimal_pod())
    unlabelled["metadata"]["name"] = "srv-1"
    elsewhere = copy.deepcopy(selected)
    elsewhere["metadata"] |= {"name": "srv-2", "namespace": "other"}
    report = audit_pods(
        [selected, unlabelled, elsewhere],
        policies=bundled_policies(),
        scope=scope,
        namespaces={"seldon-mesh": {"team": "nlp"}, "other": {"team": "cv"}},
    )
    assert [p.name for p in report.audited] == ["srv-0"]
    assert report.skipped == [
        ("other/srv-2", "namespace other not selected by the webhook's namespaceSelector"),
        ("seldon-mesh/srv-1", "not selected by the webhook's objectSelector"),
    ]
    assert report.notes == [
        "matchCondition only-gpu of mutatingwebhookconfiguration placement-webhook is not evaluated:"
        " Pods are audited as if it held"
    ]


def test_the_default_scope_is_what_deploy_base_installs() -> None:
    """From files without a MutatingWebhookConfiguration the shipped one's selectors apply."""
    documents = yaml.safe_load_all((ROOT / "deploy" / "base" / "webhook.yaml").read_text())
    shipped = next(d for d in documents if d["kind"] == "MutatingWebhookConfiguration")
    scope = scope_from_configuration(shipped, source="deploy/base")
    assert (scope.object_selector, scope.namespace_selector, scope.match_conditions) == (
        DEFAULT_SCOPE.object_selector,
        DEFAULT_SCOPE.namespace_selector,
        DEFAULT_SCOPE.match_conditions,
    )
    assert scope.checks_binding and scope.unevaluated_conditions == []


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        ("yes", "not a LabelSelector"),
        ({"matchLabels": {"a": 1}}, "matchLabels must map keys to strings"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            'matchExpressions: {"key": "a", "operator": "Gt", "values": ["1"]} is not a key with an operator'
            " In, NotIn, Exists or DoesNotExist",
        ),
    ],
)
def test_a_selector_that_cannot_be_evaluated_is_refused(selector: Any, problem: str) -> None:
    config = {"webhooks": [{"name": "pods.placement-webhook.io", "objectSelector": selector}]}
    with pytest.raises(ValueError) as raised:
        scope_from_configuration(config, source="f.yaml")
    assert str(raised.value) == f"f.yaml: webhooks[pods.placement-webhook.io].objectSelector: {problem}"


def test_a_configuration_without_our_webhook_is_refused() -> None:
    config = {"webhooks": [{"name": "a.example.com"}, {"name": "b.example.com"}]}
    with pytest.raises(
        ValueError, match=r"^x: no webhook named pods.placement-webhook.io \(and not exactly one webhook\)$"
    ):
        scope_from_configuration(config, source="x")


# --- owners and their commands -----------------------------------------------------------------------


def replicaset(name: str, deployment: str | None, namespace: str = "seldon-mesh") -> RawObject:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if deployment:
        metadata["ownerReferences"] = [{"kind": "Deployment", "name": deployment, "controller": True}]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": metadata}


@pytest.mark.parametrize(
    ("pod", "replicasets", "owner", "command"),
    [
        (
            owned(minimal_pod(), "StatefulSet", "triton"),
            [],
            Owner("seldon-mesh", "StatefulSet", "triton"),
            "kubectl rollout restart statefulset/triton -n seldon-mesh",
        ),
        (
            owned(minimal_pod(), "ReplicaSet", "triton-7d9f8"),
            [replicaset("triton-7d9f8", "triton")],
            Owner("seldon-mesh", "Deployment", "triton", "ReplicaSet triton-7d9f8"),
            "kubectl rollout restart deployment/triton -n seldon-mesh",
        ),
        (  # no ReplicaSet among the inputs: the Deployment controller's naming tells
            owned(minimal_pod(), "ReplicaSet", "my-app-7d9f8"),
            [],
            Owner("seldon-mesh", "Deployment", "my-app", "ReplicaSet my-app-7d9f8 (by name)"),
            "kubectl rollout restart deployment/my-app -n seldon-mesh",
        ),
        (  # a ReplicaSet of its own (no Deployment): delete the Pods, it recreates them
            owned(minimal_pod(), "ReplicaSet", "solo"),
            [replicaset("solo", None)],
            Owner("seldon-mesh", "ReplicaSet", "solo"),
            "kubectl delete pod -n seldon-mesh <the Pods below>: the ReplicaSet solo creates them again",
        ),
        (
            owned(minimal_pod(), "DaemonSet", "exporter"),
            [],
            Owner("seldon-mesh", "DaemonSet", "exporter"),
            "kubectl rollout restart daemonset/exporter -n seldon-mesh",
        ),
        (
            minimal_pod(),
            [],
            Owner("seldon-mesh", "Pod", "srv-0"),
            "kubectl delete pod srv-0 -n seldon-mesh, then create it again from its own manifest"
            " (not from kubectl get: that copy is bound to its node and the webhook skips it)",
        ),
    ],
)
def test_owners_and_how_to_roll_them(
    pod: RawObject, replicasets: list[RawObject], owner: Owner, command: str
) -> None:
    if "ownerReferences" in pod["metadata"] and pod["metadata"]["ownerReferences"][0]["name"].endswith(
        "7d9f8"
    ):
        pod["metadata"]["labels"]["pod-template-hash"] = "7d9f8"
    by_name = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in replicasets}
    found = owner_of(pod, namespace="seldon-mesh", replicasets=by_name)
    # a command only where one rolls the owner; else null and the way as a note (issue 28: -o json)
    rollable = command.startswith("kubectl rollout")
    assert (found, found.command, found.note) == (
        owner,
        command if rollable else None,
        None if rollable else command,
    )


def test_pods_are_grouped_by_owner_and_only_differing_ones_reported() -> None:
    before = running(owned(fixture("triton-gpu-0"), "StatefulSet", "triton-gpu"))
    after = running(placed(owned(fixture("triton-gpu-0"), "StatefulSet", "triton-gpu"), bundled_policies()))
    after["metadata"]["name"] = "triton-gpu-1"
    bare = running(fixture("triton-gpu-0"))
    bare["metadata"]["name"] = "adhoc"
    del bare["metadata"]["ownerReferences"]
    report = audit_pods([after, before, bare], policies=bundled_policies())
    assert [(g.owner.kind, g.owner.name, [p.name for p in g.pods]) for g in report.groups] == [
        ("Pod", "adhoc", ["adhoc"]),
        ("StatefulSet", "triton-gpu", ["triton-gpu-0", "triton-gpu-1"]),
    ]
    assert [(g.owner.name, [p.name for p in g.pods]) for g in report.differing] == [
        ("adhoc", ["adhoc"]),
        ("triton-gpu", ["triton-gpu-0"]),
    ]


def test_only_replicasets_of_differing_pods_are_fetched() -> None:
    differs = owned(running(fixture("triton-gpu-0")), "ReplicaSet", "srv-abc")
    same = owned(running(placed(fixture("triton-gpu-0"), bundled_policies())), "ReplicaSet", "ok-abc")
    other = owned(minimal_pod(), "ReplicaSet", "web-abc")
    other["metadata"]["labels"] = {"app": "web"}
    system = owned(running(fixture("triton-gpu-0")), "ReplicaSet", "dns-abc")
    system["metadata"]["namespace"] = "kube-system"
    wanted = replicasets_to_resolve(
        [differs, same, other, system], policies=bundled_policies(), scope=DEFAULT_SCOPE, namespaces={}
    )
    assert wanted == {("seldon-mesh", "srv-abc")}


def test_pods_of_two_replicasets_of_one_deployment_are_one_group() -> None:
    first = owned(running(fixture("triton-gpu-0")), "ReplicaSet", "dep-aaa")
    second = owned(running(fixture("triton-gpu-0")), "ReplicaSet", "dep-bbb")
    second["metadata"]["name"] = "triton-gpu-1"
    sets = [
        {
            "metadata": {
                "name": n,
                "namespace": "seldon-mesh",
                "ownerReferences": [{"kind": "Deployment", "name": "dep", "controller": True}],
            }
        }
        for n in ("dep-aaa", "dep-bbb")
    ]
    report = audit_pods([first, second], policies=bundled_policies(), replicasets=sets)
    assert [(g.owner.kind, g.owner.name, len(g.pods)) for g in report.groups] == [("Deployment", "dep", 2)]


# --- the reservation guard ----------------------------------------------------------------------------


def reserving(reservations: str, policy_file: str | None = None) -> PolicySet:
    text = policy_file if policy_file is not None else BUNDLED_POLICIES.read_text()
    return policies(trusting(text + "\nreservations:\n" + reservations))


GUARDED = reserving("- taint: {key: seldon-gpu-srv, effect: NoSchedule}\n  allow: [{daemonSets: true}]\n")


def plain(name: str, *tolerations: dict[str, Any], namespace: str = "team-a") -> RawObject:
    """A running Pod that is not a Seldon server (the mutating webhook is never sent it)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "nginx"}], "tolerations": list(tolerations)},
    }
    return running(pod)


def test_the_guard_reports_pods_it_would_refuse_even_those_the_webhook_is_not_sent() -> None:
    server = running(placed(fixture("triton-gpu-0"), GUARDED))  # granted by gpu-servers
    sneaky = owned(plain("web-1", {"key": "seldon-gpu-srv", "operator": "Exists"}), "ReplicaSet", "web-5d9f")
    sneaky["metadata"]["labels"]["pod-template-hash"] = "5d9f"
    exporter = owned(plain("dcgm-x", {"operator": "Exists"}), "DaemonSet", "dcgm")  # allowed
    ordinary = plain("db-0")
    system = plain("dns", {"operator": "Exists"}, namespace="kube-system")
    report = audit_pods([server, sneaky, exporter, ordinary, system], policies=GUARDED)
    assert [
        (g.owner.kind, g.owner.name, [(p.name, p.status, p.message) for p in g.pods])
        for g in report.differing
    ] == [
        (
            "Deployment",
            "web",
            [
                (
                    "web-1",
                    "refused",
                    "Pod team-a/web-1 tolerates the reserved taint seldon-gpu-srv:NoSchedule (toleration"
                    " seldon-gpu-srv), but no enforce policy places it there and no allow rule admits it; "
                    + DEFAULT_ACCESS,
                )
            ],
        )
    ]
    assert [p.name for p in report.audited] == ["triton-gpu-0", "web-1"]  # by namespace
    refused = report.audited[1]
    assert (refused.namespace, refused.node, refused.policy, refused.changes) == (
        "team-a",
        "a100-40-1",
        None,
        (),
    )
    assert report.skipped == [
        ("kube-system/dns", "namespace kube-system not selected by the webhook's namespaceSelector"),
        ("team-a/db-0", "not selected by the webhook's objectSelector"),
        ("team-a/dcgm-x", "not selected by the webhook's objectSelector"),
    ]


def test_an_audit_mode_reservation_refuses_nothing() -> None:
    audit_only = reserving("- taint: {key: seldon-gpu-srv, effect: NoSchedule}\n  mode: audit\n")
    report = audit_pods([plain("web-1", {"operator": "Exists"})], policies=audit_only)
    assert (report.audited, report.differing) == ([], [])


def test_a_stale_server_that_tolerates_a_reserved_taint_is_refused() -> None:
    pod = running(placed(fixture("triton-gpu-0"), policies(OLD)))  # gpu-old granted the toleration
    today = reserving(
        "- taint: {key: seldon-gpu-srv, effect: NoSchedule}\n",
        textwrap.dedent(OLD).replace('["*"]', '["none-*"]'),
    )
    result = audit_pod(pod, namespace="seldon-mesh", policies=today)
    assert result.status == "refused"
    assert result.message is not None and result.message.startswith(
        "Pod seldon-mesh/triton-gpu-0 tolerates the reserved taint seldon-gpu-srv:NoSchedule"
    )


def test_the_guard_gets_the_namespace_labels_the_policies_need() -> None:
    """namespaceSelector and reservations together: the guard decides on the same labels as the
    policies (no 'labels unknown' error for a namespace whose labels were given)."""
    gpu = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    pods = [plain("web-1", gpu, namespace="team-a"), plain("web-2", gpu, namespace="team-b")]
    labels = {"team-a": {"team": "nlp"}, "team-b": {"team": "cv"}}
    report = audit_pods(pods, policies=NLP_GPU, namespaces=labels)
    # web-1 is admitted by the guard (nlp-gpu grants it) and not sent to /mutate: not audited
    assert [(p.name, p.status) for p in report.audited] == [("web-2", "refused")]
    with pytest.raises(NamespaceLabelsUnknownError):  # the labels of an unknown namespace are unknown
        audit_pods(pods, policies=NLP_GPU, namespaces={"team-a": {"team": "nlp"}})


def test_a_server_pod_is_audited_with_its_namespaces_labels_when_known() -> None:
    by_team = policies("""
        version: 1
        policies:
        - name: nlp
          match: {namespaceSelector: {matchLabels: {team: nlp}}}
          placement: {nodeSelector: {pool: gpu}}
        """)
    server = running(fixture("triton-gpu-0"))
    report = audit_pods([server], policies=by_team, namespaces={"seldon-mesh": {"team": "nlp"}})
    assert [(p.name, p.status, p.policy, p.node) for p in report.audited] == [
        ("triton-gpu-0", "patched", "nlp", "a100-40-1")
    ]
    assert report.skipped == []
    other = audit_pods([server], policies=by_team, namespaces={"seldon-mesh": {"team": "cv"}})
    assert [(p.status, p.policy) for p in other.audited] == [("unchanged", None)]
    with pytest.raises(NamespaceLabelsUnknownError):  # labels unknown: no answer, as the server gives none
        audit_pods([server], policies=by_team, namespaces={"elsewhere": {"team": "nlp"}})


def test_a_pod_without_namespace_or_name_is_named_as_the_api_server_would() -> None:
    pod = plain("db-0")
    del pod["metadata"]["namespace"]
    nameless = plain("x", namespace="team-a")
    del nameless["metadata"]["name"]
    report = audit_pods([pod, nameless], policies=GUARDED)
    assert report.skipped == [
        ("default/db-0", "not selected by the webhook's objectSelector"),
        ("team-a/", "not selected by the webhook's objectSelector"),
    ]
    moved = audit_pods([pod], policies=GUARDED, default_namespace="team-b")
    assert moved.skipped == [("team-b/db-0", "not selected by the webhook's objectSelector")]
