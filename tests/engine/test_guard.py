"""The reservation guard, rule by rule: what tolerates a reserved taint, what entitles a Pod to it,
audit mode, UPDATE, and the ``/validate`` envelope."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.helpers import (
    BUNDLED_POLICIES,
    DEFAULT_TOLERATIONS,
    admission_review,
    fixture,
    minimal_pod,
    mutate,
    policies,
    trusting,
    validate,
)
from webhook.engine.guard import DEFAULT_ACCESS, guard_pod
from webhook.errors import InputError, NamespaceLabelsUnknownError
from webhook.policy.compiled import PolicySet

GPU_TOLERATION = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


def reserving(reservations: str, *, policy_file: str | None = None) -> PolicySet:
    """The bundled policies (or ``policy_file``) plus the given ``reservations:`` list (YAML)."""
    text = policy_file if policy_file is not None else BUNDLED_POLICIES.read_text()
    return policies(trusting(text + "\nreservations:\n" + reservations))


GUARDED = reserving("- taint: {key: seldon-gpu-srv, effect: NoSchedule}\n")


def plain_pod(*tolerations: dict[str, Any], namespace: str = "team-a", **metadata: Any) -> dict[str, Any]:
    """A Pod no policy matches (no seldon-server-name), with the given tolerations."""
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": namespace, **metadata},
        "spec": {"containers": [{"name": "web", "image": "nginx"}], "tolerations": list(tolerations)},
    }
    return pod


def placed(pod: dict[str, Any], policy_set: PolicySet = GUARDED) -> dict[str, Any]:
    """The Pod as ``/validate`` receives it: after our own mutation."""
    review = mutate(admission_review(pod), policies=policy_set).review
    assert review is not None
    return review.pod


def refusal(
    who: str, taint: str, tolerations: str, *, access: str = DEFAULT_ACCESS, verb: str = "tolerates"
) -> str:
    return (
        f"placement-webhook: Pod {who} {verb} the reserved taint {taint} (toleration {tolerations}), but no"
        f" enforce policy places it there and no allow rule admits it; {access}"
    )


# --- what tolerates a reserved taint -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("toleration", "described"),
    [
        ({"operator": "Exists"}, "*"),  # empty key + Exists tolerates everything
        ({"operator": "Exists", "effect": "NoSchedule"}, "*:NoSchedule"),
        ({"key": "seldon-gpu-srv", "operator": "Exists"}, "seldon-gpu-srv"),  # empty effect: every effect
        (
            {"key": "seldon-gpu-srv", "operator": "Equal", "value": "x", "effect": "NoSchedule"},
            "seldon-gpu-srv=x:NoSchedule",
        ),
        (
            {"key": "seldon-gpu-srv", "operator": "Gt", "value": "0", "effect": "NoSchedule"},
            "seldon-gpu-srv=0:NoSchedule",
        ),
        (GPU_TOLERATION, "seldon-gpu-srv=true:NoSchedule"),
    ],
)
def test_a_plain_pod_tolerating_the_reserved_taint_is_denied(
    toleration: dict[str, Any], described: str
) -> None:
    verdict = guard_pod(plain_pod(toleration, *DEFAULT_TOLERATIONS), namespace="team-a", policies=GUARDED)
    assert verdict.outcome == "denied" and not verdict.allowed
    assert verdict.message == refusal("team-a/web-1", "seldon-gpu-srv:NoSchedule", described)
    assert verdict.taints == ("seldon-gpu-srv:NoSchedule",)
    assert [j.granted_by for j in verdict.judgements] == [None]
    assert verdict.warnings == []


@pytest.mark.parametrize(
    "tolerations",
    [
        [],
        DEFAULT_TOLERATIONS,
        [{"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoExecute"}],  # another effect
        [{"key": "seldon-gpu-srv", "operator": "Exists", "effect": "PreferNoSchedule"}],
        [{"key": "other", "operator": "Exists"}],
        [{"operator": "Exists", "effect": "NoExecute"}],
        ["not a toleration", None],
    ],
)
def test_a_pod_tolerating_no_reserved_taint_is_untouched(tolerations: list[Any]) -> None:
    verdict = guard_pod(plain_pod(*tolerations), namespace="team-a", policies=GUARDED)
    assert (verdict.outcome, verdict.allowed, verdict.message, verdict.judgements) == (
        "untouched",
        True,
        None,
        (),
    )


def test_a_fixed_value_reserves_only_that_value_an_open_effect_every_effect() -> None:
    fixed = reserving('- taint: {key: seldon-gpu-srv, value: "true"}\n')
    other_value = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "false", "effect": "NoSchedule"}
    assert guard_pod(plain_pod(other_value), namespace="team-a", policies=fixed).outcome == "untouched"
    no_execute = {"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoExecute"}
    verdict = guard_pod(plain_pod(no_execute), namespace="team-a", policies=fixed)
    assert verdict.message == refusal("team-a/web-1", "seldon-gpu-srv=true", "seldon-gpu-srv:NoExecute")


def test_malformed_tolerations_are_untouched_and_no_reservation_means_untouched() -> None:
    pod = plain_pod()
    pod["spec"]["tolerations"] = "everything"
    assert guard_pod(pod, namespace="team-a", policies=GUARDED).outcome == "untouched"
    assert guard_pod({}, namespace="team-a", policies=GUARDED).outcome == "untouched"
    unreserved = policies(BUNDLED_POLICIES.read_text())
    assert (
        guard_pod(plain_pod({"operator": "Exists"}), namespace="team-a", policies=unreserved).outcome
        == "untouched"
    )


# --- placed there by the first matching enforce policy -------------------------------------------------


def test_a_seldon_gpu_server_placed_by_a_policy_is_allowed() -> None:
    pod = placed(fixture("triton-gpu-0"))
    assert GPU_TOLERATION in pod["spec"]["tolerations"]
    verdict = guard_pod(pod, namespace="seldon-mesh", policies=GUARDED)
    assert verdict.outcome == "allowed" and verdict.message is None and verdict.warnings == []
    (judgement,) = verdict.judgements
    assert (judgement.taint, judgement.tolerations, judgement.granted_by) == (
        "seldon-gpu-srv:NoSchedule",
        ("seldon-gpu-srv=true:NoSchedule",),
        "policy gpu-servers",
    )


def test_the_policy_grants_the_taint_even_through_the_pods_own_broader_toleration() -> None:
    pod = fixture("triton-gpu-0")
    pod["spec"]["tolerations"].append({"operator": "Exists"})
    verdict = guard_pod(placed(pod), namespace="seldon-mesh", policies=GUARDED)
    assert verdict.outcome == "allowed"
    assert verdict.judgements[0].tolerations == ("*",)  # covered, so the policy added none of its own


CONFLICTS_WARN = """
version: 1
policies:
- name: gpu
  match: {servers: ["*"], resources: [nvidia.com/gpu]}
  placement:
    tolerations: [{key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}]
    nodeAffinity: {required: [{key: pool, operator: In, values: [infer-srv]}]}
  onConflict: warn
"""


@pytest.mark.parametrize("on_conflict", ["warn", "deny"])
def test_a_policy_that_conflicts_entitles_to_nothing(on_conflict: str) -> None:
    """Issue 23: a Pod matching ``gpu`` but pinned elsewhere by its own required affinity is left
    unchanged (conflict) and must not keep the taint through its own ``Exists`` toleration."""
    policy_set = reserving(
        "- taint: {key: seldon-gpu-srv, effect: NoSchedule}\n",
        policy_file=CONFLICTS_WARN.replace("onConflict: warn", f"onConflict: {on_conflict}"),
    )
    pod = fixture("triton-gpu-0")
    pod["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["t4-pool"]}]}
                ]
            }
        }
    }
    pod["spec"]["tolerations"].append({"operator": "Exists"})
    review = mutate(admission_review(pod), policies=policy_set).review
    assert review is not None and review.outcome == ("conflict" if on_conflict == "warn" else "denied")
    verdict = guard_pod(review.pod, namespace="seldon-mesh", policies=policy_set)
    assert verdict.outcome == "denied"
    assert verdict.judgements[0].granted_by is None


def test_a_policy_whose_placement_the_pod_lacks_entitles_to_nothing() -> None:
    """A Pod ``/mutate`` never placed (its objectSelector, a failurePolicy Ignore outage) that wrote
    its own toleration: the policy that would match is not applied, so it grants nothing."""
    pod = fixture("triton-gpu-0")
    pod["spec"]["tolerations"].append(GPU_TOLERATION)
    verdict = guard_pod(pod, namespace="seldon-mesh", policies=GUARDED)
    assert verdict.outcome == "denied"
    assert guard_pod(placed(pod), namespace="seldon-mesh", policies=GUARDED).outcome == "allowed"


def test_a_placement_taken_away_after_mutation_entitles_to_nothing() -> None:
    """A later mutation (another webhook) dropping the policy's node affinity leaves the Pod free to
    land anywhere it tolerates: the policy no longer entitles it."""
    pod = placed(fixture("triton-gpu-0"))
    del pod["spec"]["affinity"]
    assert guard_pod(pod, namespace="seldon-mesh", policies=GUARDED).outcome == "denied"


def test_only_the_first_matching_enforce_policy_counts() -> None:
    first_places_elsewhere = """
version: 1
policies:
- name: cpu-first
  match: {servers: ["*"]}
  placement: {nodeSelector: {pool: cpu}}
- name: gpu-servers
  match: {servers: ["*"]}
  placement: {tolerations: [{key: seldon-gpu-srv, operator: Exists}]}
"""
    policy_set = reserving("- taint: {key: seldon-gpu-srv}\n", policy_file=first_places_elsewhere)
    pod = minimal_pod(tolerations=[{"key": "seldon-gpu-srv", "operator": "Exists"}])
    verdict = guard_pod(pod, namespace="seldon-mesh", policies=policy_set)
    assert verdict.message == refusal("seldon-mesh/srv-0", "seldon-gpu-srv", "seldon-gpu-srv")


def test_an_audit_policy_grants_nothing() -> None:
    """The MIG server matches only the audit policy mig-servers, which never adds its toleration."""
    pod = fixture("triton-gpu-0")
    for container in pod["spec"]["containers"]:
        for kind in ("requests", "limits"):
            if "nvidia.com/gpu" in container.get("resources", {}).get(kind, {}):
                del container["resources"][kind]["nvidia.com/gpu"]
                container["resources"][kind]["nvidia.com/mig-1g.5gb"] = "1"
    pod["spec"]["tolerations"].append(GPU_TOLERATION)
    verdict = guard_pod(pod, namespace="seldon-mesh", policies=GUARDED)
    assert verdict.message == refusal(
        "seldon-mesh/triton-gpu-0", "seldon-gpu-srv:NoSchedule", "seldon-gpu-srv=true:NoSchedule"
    )


def test_a_policy_tolerating_another_taint_grants_nothing() -> None:
    other = reserving("- taint: {key: other-pool, effect: NoSchedule}\n")
    pod = placed(fixture("triton-gpu-0"), other)
    pod["spec"]["tolerations"].append({"key": "other-pool", "operator": "Exists"})
    verdict = guard_pod(pod, namespace="seldon-mesh", policies=other)
    assert verdict.message == refusal("seldon-mesh/triton-gpu-0", "other-pool:NoSchedule", "other-pool")


# --- allow rules ------------------------------------------------------------------------------------------

ALLOWING = reserving("""\
- taint: {key: seldon-gpu-srv, effect: NoSchedule}
  allow:
  - {namespaces: ["gpu-*", kube-system]}
  - {podSelector: {matchLabels: {app: nvidia-device-plugin-daemonset}}}
  - {namespaces: [monitoring], daemonSets: true}
  - {daemonSets: true, podSelector: {matchExpressions: [{key: app, operator: In, values: [dcgm-exporter]}]}}
""")

DAEMONSET_OWNER = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "x", "uid": "1", "controller": True}


@pytest.mark.parametrize(
    ("namespace", "metadata", "granted_by"),
    [
        ("gpu-operator", {}, "allow[0] (namespaces [gpu-*, kube-system])"),
        ("kube-system", {}, "allow[0] (namespaces [gpu-*, kube-system])"),
        ("team-a", {"labels": {"app": "nvidia-device-plugin-daemonset"}}, "allow[1] (podSelector)"),
        (
            "monitoring",
            {"ownerReferences": [DAEMONSET_OWNER]},
            "allow[2] (namespaces [monitoring], DaemonSet Pods)",
        ),
        (
            "team-a",
            {
                "labels": {"app": "dcgm-exporter"},
                "ownerReferences": [{"kind": "ReplicaSet"}, DAEMONSET_OWNER],
            },
            "allow[3] (podSelector, DaemonSet Pods)",
        ),
        ("gpu", {}, None),  # the glob needs the dash
        ("team-a", {"labels": {"app": "nvidia-device-plugin"}}, None),
        ("team-a", {"ownerReferences": [DAEMONSET_OWNER]}, None),  # the DaemonSet rules AND another field
        ("monitoring", {"ownerReferences": [{**DAEMONSET_OWNER, "controller": False}]}, None),
        ("monitoring", {"ownerReferences": [{**DAEMONSET_OWNER, "controller": "true"}]}, None),
        ("monitoring", {"ownerReferences": [{**DAEMONSET_OWNER, "apiVersion": "extensions/v1beta1"}]}, None),
        ("monitoring", {"ownerReferences": [{**DAEMONSET_OWNER, "kind": "StatefulSet"}]}, None),
        ("monitoring", {"ownerReferences": DAEMONSET_OWNER}, None),  # not a list
        ("team-a", {"labels": {"app": "dcgm-exporter"}}, None),
    ],
)
def test_allow_rules(namespace: str, metadata: dict[str, Any], granted_by: str | None) -> None:
    pod = plain_pod({"operator": "Exists"}, namespace=namespace, **metadata)
    verdict = guard_pod(pod, namespace=namespace, policies=ALLOWING)
    assert verdict.outcome == ("allowed" if granted_by else "denied")
    assert verdict.judgements[0].granted_by == granted_by


def test_the_request_namespace_decides_not_the_pods_metadata() -> None:
    pod = plain_pod({"operator": "Exists"}, namespace="gpu-operator")
    assert guard_pod(pod, namespace="team-a", policies=ALLOWING).outcome == "denied"
    del pod["metadata"]["namespace"]
    assert guard_pod(pod, namespace="gpu-operator", policies=ALLOWING).outcome == "allowed"


# --- audit mode, several reservations, messages --------------------------------------------------------


def test_audit_mode_admits_with_a_warning() -> None:
    audit = reserving("- taint: {key: seldon-gpu-srv, effect: NoSchedule}\n  mode: audit\n")
    verdict = guard_pod(plain_pod({"operator": "Exists"}), namespace="team-a", policies=audit)
    assert (verdict.outcome, verdict.allowed, verdict.message) == ("audit", True, None)
    assert verdict.warnings == [
        "placement-webhook: audit: Pod team-a/web-1 tolerates the reserved taint seldon-gpu-srv:NoSchedule"
        " (toleration *), but no enforce policy places it there and no allow rule admits it"
    ]


def test_only_the_refused_taints_are_named_with_their_own_messages() -> None:
    several = reserving("""\
- taint: {key: seldon-gpu-srv, effect: NoSchedule}
  message: 'request GPU access in #ml-platform'
- taint: {key: tpu, effect: NoSchedule}
  allow: [{namespaces: [team-a]}]
- taint: {key: fpga}
  message: ask the FPGA team
- taint: {key: spot}
  mode: audit
  message: spot is audited
""")
    pod = plain_pod({"operator": "Exists"}, {"key": "spot", "operator": "Exists"})
    verdict = guard_pod(pod, namespace="team-a", policies=several)
    assert verdict.outcome == "denied"
    assert verdict.taints == ("seldon-gpu-srv:NoSchedule", "tpu:NoSchedule", "fpga", "spot")
    assert [j.granted_by for j in verdict.judgements] == [None, "allow[0] (namespaces [team-a])", None, None]
    assert verdict.message == (
        "placement-webhook: Pod team-a/web-1 tolerates the reserved taints seldon-gpu-srv:NoSchedule"
        " (toleration *), fpga (toleration *), but no enforce policy places it there and no allow rule"
        " admits it; request GPU access in #ml-platform; ask the FPGA team"
    )
    assert verdict.warnings == [
        "placement-webhook: audit: Pod team-a/web-1 tolerates the reserved taint spot (tolerations *, spot),"
        " but no enforce policy places it there and no allow rule admits it; spot is audited"
    ]
    assert [j.taint for j in verdict.refused] == ["seldon-gpu-srv:NoSchedule", "fpga", "spot"]


def test_a_deployment_pod_is_named_by_its_generate_name() -> None:
    pod = plain_pod({"operator": "Exists"})
    pod["metadata"] = {"generateName": "web-5d9c-"}
    verdict = guard_pod(pod, namespace="team-a", policies=GUARDED)
    assert verdict.message == refusal("team-a/web-5d9c-*", "seldon-gpu-srv:NoSchedule", "*")


# --- UPDATE --------------------------------------------------------------------------------------------


def test_an_update_adding_a_reserved_toleration_is_denied() -> None:
    old = plain_pod(*DEFAULT_TOLERATIONS)
    new = copy.deepcopy(old)
    new["spec"]["tolerations"].append({"key": "seldon-gpu-srv", "operator": "Exists"})
    verdict = guard_pod(new, namespace="team-a", policies=GUARDED, operation="UPDATE", old_pod=old)
    assert verdict.message == refusal(
        "team-a/web-1", "seldon-gpu-srv:NoSchedule", "seldon-gpu-srv", verb="is updated to tolerate"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # a Pod admitted before the reservation existed: its label and status updates keep working
        ([{"operator": "Exists"}], [{"operator": "Exists"}]),
        # a toleration the old Pod's already covers adds nothing
        ([{"operator": "Exists"}], [{"operator": "Exists"}, {"key": "seldon-gpu-srv", "operator": "Exists"}]),
        # tolerationSeconds may change on UPDATE (validateOnlyAddedTolerations) and tolerates nothing more
        (
            [{"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}],
            [{"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 50}],
        ),
    ],
)
def test_an_update_that_adds_no_reserved_toleration_is_allowed(
    old: list[dict[str, Any]], new: list[dict[str, Any]]
) -> None:
    open_effect = reserving("- taint: {key: seldon-gpu-srv}\n")
    new_pod = plain_pod(*new, labels={"touched": "yes"})
    verdict = guard_pod(
        new_pod, namespace="team-a", policies=open_effect, operation="UPDATE", old_pod=plain_pod(*old)
    )
    assert verdict.outcome == "allowed"
    assert verdict.judgements[0].granted_by == "the update adds no toleration of it"


def test_an_update_widening_a_reserved_toleration_is_denied() -> None:
    old = plain_pod({"key": "seldon-gpu-srv", "operator": "Equal", "value": "a"})
    new = plain_pod(
        {"key": "seldon-gpu-srv", "operator": "Equal", "value": "a"},
        {"key": "seldon-gpu-srv", "operator": "Equal", "value": "b"},
    )
    open_value = reserving("- taint: {key: seldon-gpu-srv}\n")
    verdict = guard_pod(new, namespace="team-a", policies=open_value, operation="UPDATE", old_pod=old)
    assert verdict.outcome == "denied"
    assert verdict.judgements[0].tolerations == ("seldon-gpu-srv=a", "seldon-gpu-srv=b")


def test_an_update_of_a_placed_pod_or_an_allowed_one_is_allowed_on_its_own_merits() -> None:
    pod = placed(fixture("triton-gpu-0"))
    verdict = guard_pod(
        pod, namespace="seldon-mesh", policies=GUARDED, operation="UPDATE", old_pod=fixture("triton-gpu-0")
    )
    assert verdict.judgements[0].granted_by == "policy gpu-servers"


# --- POST /validate: the envelope --------------------------------------------------------------------------


def test_validate_denies_with_403_the_message_and_audit_annotations() -> None:
    answer = validate(
        admission_review(plain_pod({"operator": "Exists"}), namespace="team-a"), policies=GUARDED
    ).answer
    assert answer == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "allowed": False,
            "status": {"code": 403, "message": refusal("team-a/web-1", "seldon-gpu-srv:NoSchedule", "*")},
            "auditAnnotations": {"guard": "denied", "taints": "seldon-gpu-srv:NoSchedule"},
        },
    }


def test_validate_allows_a_placed_server_and_an_untouched_pod_without_annotations() -> None:
    placed_answer = validate(admission_review(placed(fixture("triton-gpu-0"))), policies=GUARDED).answer
    assert placed_answer["response"] == {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "allowed": True,
        "auditAnnotations": {"guard": "allowed", "taints": "seldon-gpu-srv:NoSchedule"},
    }
    untouched = validate(admission_review(fixture("mlserver-0")), policies=GUARDED)
    assert untouched.outcome == "untouched"
    assert untouched.answer["response"] == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


def test_validate_judges_an_update_against_its_old_object() -> None:
    old = plain_pod()
    new = plain_pod({"operator": "Exists"})
    decision = validate(admission_review(new, operation="UPDATE", oldObject=old), policies=GUARDED)
    assert decision.outcome == "denied"
    assert decision.answer["response"]["status"]["message"].startswith(
        "placement-webhook: Pod seldon-mesh/web-1 is updated to tolerate the reserved taint"
    )
    same = validate(admission_review(new, operation="UPDATE", oldObject=new), policies=GUARDED)
    assert same.outcome == "allowed"


@pytest.mark.parametrize(
    "request_fields",
    [
        {"operation": "DELETE", "object": None},
        {"operation": "CONNECT"},
        {"kind": {"group": "apps", "version": "v1", "kind": "Deployment"}},
        {"subResource": "status", "operation": "UPDATE"},
        {"subResource": "ephemeralcontainers", "operation": "UPDATE"},
    ],
)
def test_validate_allows_everything_but_pod_create_and_update_unseen(request_fields: dict[str, Any]) -> None:
    decision = validate(
        admission_review(plain_pod({"operator": "Exists"}), **request_fields), policies=GUARDED
    )
    assert decision.outcome == "skipped" and decision.verdict is None
    assert decision.answer["response"] == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"object": None}, "request.object: a Pod CREATE must carry the Pod object"),
        ({"operation": "UPDATE", "object": "pod"}, "request.object: a Pod UPDATE must carry the Pod object"),
        (
            {"operation": "UPDATE", "oldObject": None},
            "request.oldObject: a Pod UPDATE must carry the old Pod object",
        ),
    ],
)
def test_validate_refuses_a_malformed_request(request_fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as raised:
        validate(admission_review(plain_pod(), **request_fields), policies=GUARDED)
    assert str(raised.value) == message


# --- namespace labels: which policy grants a toleration may depend on them ---------------------------

NLP_GPU = reserving(
    "- taint: {key: seldon-gpu-srv, effect: NoSchedule}\n",
    policy_file="""\
version: 1
policies:
- name: nlp-gpu
  match: {namespaceSelector: {matchLabels: {team: nlp}}}
  placement:
    tolerations: [{key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}]
""",
)


def test_a_namespace_selector_policy_grants_its_toleration_only_where_it_matches() -> None:
    pod = plain_pod(GPU_TOLERATION, namespace="team-a")
    nlp = guard_pod(pod, namespace="team-a", policies=NLP_GPU, namespace_labels={"team": "nlp"})
    cv = guard_pod(pod, namespace="team-a", policies=NLP_GPU, namespace_labels={"team": "cv"})
    assert (nlp.outcome, cv.outcome) == ("allowed", "denied")
    assert nlp.judgements[0].granted_by is not None and "nlp-gpu" in nlp.judgements[0].granted_by


def test_unknown_namespace_labels_that_would_decide_give_no_guard_answer() -> None:
    pod = plain_pod(GPU_TOLERATION, namespace="team-a")
    with pytest.raises(NamespaceLabelsUnknownError, match="nlp-gpu"):
        guard_pod(pod, namespace="team-a", policies=NLP_GPU)


def test_validate_passes_the_labels_to_the_guard() -> None:
    review = admission_review(plain_pod(GPU_TOLERATION, namespace="team-a"), namespace="team-a")
    decision = validate(review, policies=NLP_GPU, namespace_labels={"team": "nlp"})
    assert decision.outcome == "allowed"
    decision = validate(review, policies=NLP_GPU, namespace_labels={"team": "cv"})
    assert decision.outcome == "denied"
