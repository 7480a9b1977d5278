"""The fast path of ``review_pod`` (policies pre-selected by namespace and server name, plans and
ops remembered by the Pod's placement fields, patch and Pod built when read) against the long way
(``reference_review_pod``): the same review, to the byte, for every Pod."""

from __future__ import annotations

import copy
import datetime
import math
from typing import Any

import jsonpatch
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from tests.helpers import minimal_pod
from tests.strategies import hostile_pods, pods, policy_documents
from webhook import POLICY_ANNOTATION
from webhook.admission.response import encode_patch
from webhook.engine.matching import matching_policies
from webhook.engine.memo import PLAN_KEY_BYTES, PlanMemo
from webhook.engine.mutation import reference_review_pod, review_pod
from webhook.engine.placement import plan_placement
from webhook.engine.placement_fields import placement_key, read_placement_fields
from webhook.engine.review import Review
from webhook.errors import NamespaceLabelsUnknownError, PodShapeError, PolicyError
from webhook.kube.objects import read_pod_facts
from webhook.policy.compiled import PolicySet
from webhook.policy.loading import load_policies_text

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMESPACE = "seldon-mesh"


_MEMOS: dict[int, tuple[PolicySet, PlanMemo]] = {}


def memo_of(policies: PolicySet) -> PlanMemo:
    """The plan memo of ``policies`` in these tests: one per policy set, as the server keeps one
    per generation of the policy file (``LoadedPolicies``)."""
    kept = _MEMOS.get(id(policies))
    if kept is None or kept[0] is not policies:
        kept = _MEMOS[id(policies)] = (policies, PlanMemo())
    return kept[1]


def load(document: str) -> PolicySet:
    try:
        return load_policies_text(document)
    except PolicyError:
        reject()


def assert_same_review(
    pod: dict[str, Any],
    policies: PolicySet,
    *,
    pod_first: bool = False,
    namespace_labels: dict[str, str] | None = None,
) -> Review:
    """``review_pod`` equals ``reference_review_pod`` in every field and in JSON bytes (key order
    included), leaves ``pod`` alone, and its patch turns ``pod`` into its Pod."""
    original = copy.deepcopy(pod)
    fast = review_pod(
        pod, namespace=NAMESPACE, policies=policies, memo=memo_of(policies), namespace_labels=namespace_labels
    )
    reference = reference_review_pod(
        pod, namespace=NAMESPACE, policies=policies, namespace_labels=namespace_labels
    )
    assert fast.patch_ops == len(reference.patch)
    if pod_first:  # the lazy fields give the same whichever is read first
        assert orjson.dumps(fast.pod) == orjson.dumps(reference.pod)
    assert orjson.dumps(fast.patch) == orjson.dumps(reference.patch)
    assert orjson.dumps(fast.pod) == orjson.dumps(reference.pod)
    assert fast.encoded_patch() == (encode_patch(reference.patch) if reference.patch else None)
    assert (fast.outcome, fast.policy, fast.warnings, fast.denial, fast.plan, fast.audits) == (
        reference.outcome,
        reference.policy,
        reference.warnings,
        reference.denial,
        reference.plan,
        reference.audits,
    )
    assert fast == reference
    assert pod == original
    assert jsonpatch.apply_patch(original, fast.patch) == fast.pod
    return fast


def variants(pod: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """``pod`` and Pods with the same placement fields but other labels, env and annotations
    (one carries our policy annotation): they share memo entries with ``pod``."""
    other = copy.deepcopy(pod)
    other["metadata"]["name"] = "srv-1"
    other["metadata"]["labels"]["team"] = "cv"
    other["spec"]["containers"][0]["env"] = [{"name": "X", "value": "1"}]
    marked = copy.deepcopy(pod)
    marked["metadata"].setdefault("annotations", {})[POLICY_ANNOTATION] = names[0]
    return [pod, other, marked]


@SETTINGS
@given(batch=st.lists(pods(), min_size=1, max_size=3), document=policy_documents(), order=st.booleans())
def test_the_fast_path_reviews_like_the_long_way(
    batch: list[dict[str, Any]], document: str, order: bool
) -> None:
    policies = load(document)
    names = [p.name for p in policies.policies]
    subjects = [v for pod in batch for v in variants(pod, names)]
    for _ in range(2):  # the first round fills the memo, the second answers from it
        for pod in subjects:
            assert_same_review(pod, policies, pod_first=order)
    for pod in subjects:  # and the memo was used: every policy that reviewed a keyed Pod has its entry
        key = placement_key(pod)
        if key is not None:
            matched = matching_policies(policies, read_pod_facts(pod, namespace=NAMESPACE))
            assert all((p.index, key) in memo_of(policies) for p in matched)


@SETTINGS
@given(pod=hostile_pods(), document=policy_documents())
def test_the_fast_path_reviews_hostile_pods_like_the_long_way(pod: dict[str, Any], document: str) -> None:
    policies = load(document)
    for _ in range(2):
        assert_same_review(pod, policies)


TEAM_POLICY = {
    "name": "team",
    "match": {"namespaceSelector": {"matchLabels": {"team": "nlp"}}},
    "placement": {"nodeSelector": {"pool": "nlp"}},
}


@SETTINGS
@given(
    pod=pods(),
    document=policy_documents(),
    position=st.integers(0, 3),
    audit=st.booleans(),
    labels=st.sampled_from([None, {"team": "nlp"}, {"team": "cv"}, {}]),
)
def test_the_fast_path_reviews_namespace_selectors_like_the_long_way(
    pod: dict[str, Any], document: str, position: int, audit: bool, labels: dict[str, str] | None
) -> None:
    """With a namespaceSelector policy anywhere in the file and the labels known or not: the
    same review, or the same NamespaceLabelsUnknownError, both ways."""
    data = yaml.safe_load(document)
    data["policies"].insert(position, {**TEAM_POLICY, "mode": "audit" if audit else "enforce"})
    policies = load(yaml.safe_dump(data))
    try:
        reference_review_pod(pod, namespace=NAMESPACE, policies=policies, namespace_labels=labels)
    except NamespaceLabelsUnknownError as expected:
        for _ in range(2):
            with pytest.raises(NamespaceLabelsUnknownError) as raised:
                review_pod(
                    pod,
                    namespace=NAMESPACE,
                    policies=policies,
                    memo=memo_of(policies),
                    namespace_labels=labels,
                )
            assert str(raised.value) == str(expected)
        return
    for _ in range(2):
        assert_same_review(pod, policies, namespace_labels=labels)


POLICY = """
version: 1
policies:
- name: gpu
  match: {servers: ["*"]}
  placement:
    tolerations: [{key: seldon-gpu-srv, operator: Exists, effect: NoSchedule}]
    nodeSelector: {pool: infer-srv}
    nodeAffinity:
      required: [{key: zone, operator: In, values: [a]}]
      preferred: [{weight: 5, matchExpressions: [{key: gpu, operator: Exists}]}]
"""

SECONDS = {"key": "k", "operator": "Exists", "effect": "NoExecute"}


# Pairs of placement fields Python calls equal (or YAML can produce from similar text) that the
# engine treats differently: the second Pod must never get the first one's memo entry.
@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"tolerations": [{**SECONDS, "tolerationSeconds": 1}]}, {"tolerations": [{**SECONDS, "tolerationSeconds": True}]}),
        ({"tolerations": [{**SECONDS, "tolerationSeconds": 1}]}, {"tolerations": [{**SECONDS, "tolerationSeconds": 1.0}]}),
        ({"tolerations": [{**SECONDS, "tolerationSeconds": None}]}, {"tolerations": [{**SECONDS, "tolerationSeconds": math.nan}]}),
        ({"tolerations": [SECONDS]}, {"tolerations": (SECONDS,)}),
        ({"nodeSelector": {"zone": "a"}}, {"nodeSelector": {"zone": ("a",)}}),
        ({"nodeSelector": {"zone": "2026-12-01"}}, {"nodeSelector": {"zone": datetime.date(2026, 12, 1)}}),
        ({"nodeSelector": {"zone": "b"}}, {"nodeSelector": {"zone": "a"}}),
        ({"affinity": {}}, {"affinity": None}),
        ({"affinity": {"nodeAffinity": None}}, {"affinity": {"nodeAffinity": {}}}),
        ({"affinity": {"podAffinity": {}}}, {"affinity": []}),
        ({"tolerations": []}, {"tolerations": None}),
    ],
    ids=repr,
)  # fmt: skip
def test_look_alike_placements_do_not_share_a_memo_entry(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    policies = load_policies_text(POLICY)
    for spec in (first, second, first):
        assert_same_review(minimal_pod(**copy.deepcopy(spec)), policies)


@pytest.mark.parametrize(
    ("metadata", "annotation"),
    [
        ({}, None),
        ({"annotations": None}, None),
        ({"annotations": {}}, None),
        ({}, "gpu"),
        ({}, "other"),
        ({}, 1),
    ],
)
def test_our_annotation_and_its_absence_are_in_the_key(metadata: dict[str, Any], annotation: Any) -> None:
    policies = load_policies_text(POLICY)
    for _ in range(2):
        pod = minimal_pod()
        pod["metadata"].update(copy.deepcopy(metadata))
        if annotation is not None:
            pod["metadata"].setdefault("annotations", {})[POLICY_ANNOTATION] = annotation
        assert_same_review(pod, policies)


def test_a_pod_whose_placement_marshal_cannot_write_takes_the_long_way() -> None:
    class Label(str):
        pass

    pod = minimal_pod(nodeSelector={"zone": Label("a")})
    assert placement_key(pod) is None
    assert_same_review(pod, load_policies_text(POLICY))


def test_a_remembered_review_builds_fresh_values_for_each_pod() -> None:
    policies = load_policies_text(POLICY)
    first = review_pod(minimal_pod(), namespace=NAMESPACE, policies=policies, memo=memo_of(policies))
    second = review_pod(minimal_pod(), namespace=NAMESPACE, policies=policies, memo=memo_of(policies))
    first.pod["spec"]["tolerations"].append({"key": "changed"})
    first.patch[0]["value"].append({"key": "changed"})
    assert second.pod["spec"]["tolerations"] == [
        {"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert second.patch == reference_review_pod(minimal_pod(), namespace=NAMESPACE, policies=policies).patch
    assert second.pod["spec"]["tolerations"] is second.patch[0]["value"]  # one value, shared by both


MATCHES = [
    {},
    {"namespaces": ["seldon-*"]},
    {"namespaces": ["other", "team-?"]},
    {"servers": ["srv"]},
    {"servers": ["mlserver-*"]},
    {"serverTypes": ["mlserver"]},
    {"resources": ["nvidia.com/gpu"]},
    {"podSelector": {"matchLabels": {"team": "nlp"}}},
]


@pytest.mark.parametrize("match", MATCHES, ids=repr)
@pytest.mark.parametrize("namespace", ["seldon-mesh", "team-a", "other"])
@pytest.mark.parametrize("server", ["srv", "mlserver-0", None])
def test_candidates_keep_every_policy_that_matches(
    match: dict[str, Any], namespace: str, server: str | None
) -> None:
    """The pre-selection by namespace and server name only drops policies the criteria refuse."""
    policy = {
        "name": "p",
        "placement": {"nodeSelector": {"pool": "a"}},
        **({"match": match} if match else {}),
    }
    policies = load_policies_text(orjson.dumps({"version": 1, "policies": [policy]}).decode())
    pod = minimal_pod()
    labels = pod["metadata"]["labels"]
    labels.pop("seldon-server-name")
    if server is not None:
        labels["seldon-server-name"] = server
    facts = read_pod_facts(pod, namespace=namespace)
    matches = bool(matching_policies(policies, facts))
    kept = policies.candidates(namespace, facts.server_name).policies
    assert kept in ((), policies.policies)
    assert bool(kept) or not matches


@pytest.mark.parametrize(
    ("match", "namespace", "server", "kept"),
    [
        ({"namespaces": ["other", "team-?"]}, "team-a", "srv", True),
        ({"namespaces": ["other", "team-?"]}, "team-ab", "srv", False),
        ({"servers": ["mlserver-*"]}, "seldon-mesh", "mlserver-0", True),
        ({"servers": ["mlserver-*"]}, "seldon-mesh", "srv", False),
        ({"serverTypes": ["mlserver"]}, "seldon-mesh", None, False),
        ({"resources": ["nvidia.com/gpu"]}, "seldon-mesh", None, True),
    ],
)
def test_candidates_drop_policies_for_other_namespaces_and_servers(
    match: dict[str, Any], namespace: str, server: str | None, kept: bool
) -> None:
    policy = {"name": "p", "match": match, "placement": {"nodeSelector": {"pool": "a"}}}
    policies = load_policies_text(orjson.dumps({"version": 1, "policies": [policy]}).decode())
    assert policies.candidates(namespace, server).policies == (policies.policies if kept else ())


def test_a_long_placement_key_is_not_remembered() -> None:
    """Keys over ``PLAN_KEY_BYTES`` take the long way every time: the memo's size stays bounded."""
    policies = load_policies_text(POLICY)
    many = [{"key": f"k{i}", "operator": "Exists"} for i in range(200)]
    pod = minimal_pod(tolerations=many)
    key = placement_key(pod)
    assert key is not None and len(key) > PLAN_KEY_BYTES
    for _ in range(2):
        assert_same_review(pod, policies)
    assert len(memo_of(policies)) == 0
    assert_same_review(minimal_pod(tolerations=many[:3]), policies)
    assert len(memo_of(policies)) == 1


def test_setting_the_patch_of_a_remembered_review_keeps_its_pod() -> None:
    policies = load_policies_text(POLICY)
    review_pod(minimal_pod(), namespace=NAMESPACE, policies=policies, memo=memo_of(policies))
    remembered = review_pod(minimal_pod(), namespace=NAMESPACE, policies=policies, memo=memo_of(policies))
    wanted = reference_review_pod(minimal_pod(), namespace=NAMESPACE, policies=policies)
    remembered.patch = []
    assert (remembered.patch, remembered.encoded_patch(), remembered.patch_ops) == ([], None, 0)
    assert remembered.pod == wanted.pod


def only_placement_fields(pod: dict[str, Any]) -> dict[str, Any]:
    """A Pod rebuilt from ``read_placement_fields`` alone (plus what ``apply_plan`` creates into:
    whether ``spec`` and ``metadata`` exist): every other field of ``pod`` dropped."""
    fields = read_placement_fields(pod)
    spec: dict[str, Any] = {}
    for name, value in (("tolerations", fields.tolerations), ("nodeSelector", fields.node_selector)):
        if value is not None or (isinstance(pod.get("spec"), dict) and name in pod["spec"]):
            spec[name] = value
    if fields.affinity is not None:
        spec["affinity"] = fields.affinity
    rebuilt: dict[str, Any] = {"spec": spec, "metadata": {}}
    if fields.annotations is not None:
        rebuilt["metadata"]["annotations"] = fields.annotations
    return rebuilt


@SETTINGS
@given(pod=st.one_of(pods(), hostile_pods()), document=policy_documents())
def test_the_planner_reads_the_pod_only_through_its_placement_fields(
    pod: dict[str, Any], document: str
) -> None:
    """``placement_key`` is made of ``read_placement_fields``; that is sound only if the plan of a
    Pod and the plan of a Pod rebuilt from those fields alone are always the same."""
    if not isinstance(pod.get("spec"), dict) or not isinstance(pod.get("metadata"), dict):
        reject()
    policies = load(document)
    rebuilt = only_placement_fields(pod)
    assert placement_key(rebuilt) == placement_key(pod)
    for policy in policies.policies:
        try:
            plan = plan_placement(pod, policy)
        except PodShapeError as exc:
            with pytest.raises(PodShapeError) as again:
                plan_placement(rebuilt, policy)
            assert str(again.value) == str(exc)
            continue
        assert plan_placement(rebuilt, policy) == plan
