"""The Pod a workload's controller creates (webhook.simulation.workloads), as review, test and
simulate review it (issue 28: "review workload templates")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import DEFAULT_TOLERATIONS, validate_pod
from webhook.errors import InputError
from webhook.policy.reservations import owned_by_daemonset
from webhook.simulation.seldon import read_seldon_manifests
from webhook.simulation.workloads import is_workload, workload_pod

TEMPLATE = {
    "metadata": {"labels": {"app": "triton", "seldon-server-name": "triton-gpu"}, "annotations": {"a": "b"}},
    "spec": {"containers": [{"name": "triton", "image": "triton:1"}]},
}


def workload(kind: str, api: str = "apps/v1", **spec: Any) -> dict[str, Any]:
    body = {"jobTemplate": {"spec": {"template": TEMPLATE}}} if kind == "CronJob" else {"template": TEMPLATE}
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "triton-gpu", "namespace": "seldon-mesh", "labels": {"not": "copied"}},
        "spec": {**body, **spec},
    }


@pytest.mark.parametrize(
    ("kind", "api"),
    [
        ("Deployment", "apps/v1"),
        ("ReplicaSet", "apps/v1"),
        ("StatefulSet", "apps/v1"),
        ("DaemonSet", "apps/v1"),
        ("Job", "batch/v1"),
        ("CronJob", "batch/v1"),
    ],
)
def test_every_workload_gives_its_template_pod(kind: str, api: str) -> None:
    made = workload_pod(workload(kind, api), where="w.yaml", namespace=None)
    pod, metadata = made.pod, made.pod["metadata"]
    validate_pod(pod)  # a Pod the API server would accept
    assert made.origin == f"{kind} seldon-mesh/triton-gpu" and made.namespace == "seldon-mesh"
    assert metadata["namespace"] == "seldon-mesh" and metadata["generateName"] == "triton-gpu-"
    assert metadata["annotations"] == {"a": "b"}
    assert {"app": "triton", "seldon-server-name": "triton-gpu"}.items() <= metadata["labels"].items()
    assert "not" not in metadata["labels"]  # the workload's own labels are not the Pod's
    assert pod["spec"]["containers"] == TEMPLATE["spec"]["containers"]
    for toleration in DEFAULT_TOLERATIONS:  # DefaultTolerationSeconds ran before the webhook, unless
        assert toleration in pod["spec"]["tolerations"] or kind == "DaemonSet"  # the controller's came first
    assert TEMPLATE["spec"] == {"containers": [{"name": "triton", "image": "triton:1"}]}  # not modified


def test_controller_specific_names_labels_and_tolerations() -> None:
    sts = workload_pod(workload("StatefulSet", serviceName="triton"), where="w", namespace=None).pod
    assert sts["metadata"]["name"] == "triton-gpu-0"
    assert sts["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "triton-gpu-0"
    assert (sts["spec"]["hostname"], sts["spec"]["subdomain"]) == ("triton-gpu-0", "triton")
    job = workload_pod(workload("Job", "batch/v1"), where="w", namespace=None).pod
    assert job["metadata"]["labels"]["job-name"] == "triton-gpu"
    assert "name" not in workload_pod(workload("Deployment"), where="w", namespace=None).pod["metadata"]
    doc = workload("DaemonSet")
    doc["spec"]["template"] = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "hostNetwork": True}}
    daemon = workload_pod(doc, where="w", namespace=None).pod
    assert owned_by_daemonset(daemon)  # the guard's daemonSets rule sees it
    assert {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"} in (
        daemon["spec"]["tolerations"]
    )
    assert {
        "key": "node.kubernetes.io/network-unavailable",
        "operator": "Exists",
        "effect": "NoSchedule",
    } in (daemon["spec"]["tolerations"])
    not_ready = [t for t in daemon["spec"]["tolerations"] if t["key"] == "node.kubernetes.io/not-ready"]
    assert not_ready == [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}]


def test_namespace_falls_back_to_the_given_one() -> None:
    doc = workload("Deployment")
    del doc["metadata"]["namespace"]
    assert workload_pod(doc, where="w", namespace="team-a").pod["metadata"]["namespace"] == "team-a"
    assert workload_pod(doc, where="w", namespace=None).namespace == "default"


def test_only_served_api_versions_are_workloads() -> None:
    assert is_workload(workload("Deployment"))
    assert not is_workload(workload("Deployment", "extensions/v1beta1"))
    assert (
        not is_workload({"kind": "Service"}) and not is_workload({"apiVersion": None}) and not is_workload([])
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {}}, "w: Deployment without metadata.name"),
        (
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}},
            "w: Deployment d: spec.template.spec.containers must be a list (the Pod template)",
        ),
        (
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": {"name": "c"},
                "spec": {"template": {}},
            },
            "w: CronJob c: spec.jobTemplate.spec.template.spec.containers must be a list (the Pod template)",
        ),
    ],
)
def test_shapeless_workloads_are_input_errors(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as raised:
        workload_pod(doc, where="w", namespace=None)
    assert str(raised.value) == message


def test_the_reader_reviews_workloads_skips_other_kinds_and_names_documents() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}}
    documents = [
        (service, "a.yaml"),
        (workload("Deployment"), "a.yaml"),
        (workload("Job", "batch/v1"), "b.yaml"),
    ]
    manifests = read_seldon_manifests(documents, namespace=None)
    assert [s.origin for s in manifests.subjects] == [
        "Deployment seldon-mesh/triton-gpu",
        "Job seldon-mesh/triton-gpu",
    ]
    assert manifests.subjects[0].source == "a.yaml (Deployment triton-gpu)"
    assert manifests.skipped == [
        "a.yaml: document 1: skipped Service svc: not a Pod, workload, Seldon Server or AdmissionReview"
    ]
    broken = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"}}
    with pytest.raises(InputError, match=r"^b.yaml: document 2: StatefulSet s: spec.template"):
        read_seldon_manifests([*documents, (broken, "b.yaml")], namespace=None)


def _owner(kind: str, api: str, uid: str) -> list[dict[str, Any]]:
    reference = {"apiVersion": api, "kind": kind, "name": "triton-gpu", "uid": uid}
    return [reference | {"controller": True, "blockOwnerDeletion": True}]


TEMPLATE_LABELS = {"app": "triton", "seldon-server-name": "triton-gpu"}


@pytest.mark.parametrize(
    ("kind", "api", "extra"),
    [
        ("Deployment", "apps/v1", {}),  # its ReplicaSet, unnamed offline, owns the Pod: no reference
        ("CronJob", "batch/v1", {}),  # its Job, likewise
        ("ReplicaSet", "apps/v1", {"ownerReferences": _owner("ReplicaSet", "apps/v1", "rs-uid")}),
        ("DaemonSet", "apps/v1", {"ownerReferences": _owner("DaemonSet", "apps/v1", "rs-uid")}),
        (
            "StatefulSet",
            "apps/v1",
            {
                "name": "triton-gpu-0",
                "labels": TEMPLATE_LABELS
                | {"statefulset.kubernetes.io/pod-name": "triton-gpu-0", "apps.kubernetes.io/pod-index": "0"},
                "ownerReferences": _owner("StatefulSet", "apps/v1", "rs-uid"),
            },
        ),
        (
            "Job",
            "batch/v1",
            {
                "labels": TEMPLATE_LABELS
                | {"batch.kubernetes.io/job-name": "triton-gpu", "job-name": "triton-gpu"},
                "ownerReferences": _owner("Job", "batch/v1", "rs-uid"),
            },
        ),
    ],
)
def test_the_pods_metadata_exactly(kind: str, api: str, extra: dict[str, Any]) -> None:
    doc = workload(kind, api)
    doc["metadata"]["uid"] = "rs-uid"
    template = (
        doc["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else doc["spec"]["template"]
    )
    template["metadata"] = {**template["metadata"], "finalizers": ["f"], "name": "ignored", "uid": "ignored"}
    metadata = workload_pod(doc, where="w", namespace=None).pod["metadata"]
    expected = {
        "generateName": "triton-gpu-",
        "namespace": "seldon-mesh",
        "labels": TEMPLATE_LABELS,
        "annotations": {"a": "b"},
        "finalizers": ["f"],
    } | extra
    assert metadata == expected


def test_a_workload_without_uid_is_owned_under_a_stable_stand_in() -> None:
    first = workload_pod(workload("ReplicaSet"), where="w", namespace=None).pod["metadata"]["ownerReferences"]
    again = workload_pod(workload("ReplicaSet"), where="w", namespace=None).pod["metadata"]["ownerReferences"]
    assert first == again == _owner("ReplicaSet", "apps/v1", "221b7f35-d792-5a5d-a7e2-71fe2f535182")
    doc = workload("ReplicaSet")
    doc["metadata"]["uid"] = ""
    assert workload_pod(doc, where="w", namespace=None).pod["metadata"]["ownerReferences"] == first
    other = workload("ReplicaSet")
    other["metadata"]["namespace"] = "other"
    assert workload_pod(other, where="w", namespace=None).pod["metadata"]["ownerReferences"] != first


def test_a_template_without_labels_gets_only_the_controllers() -> None:
    template = {"spec": {"containers": [{"name": "c", "image": "i"}]}}
    deployment = workload("Deployment")
    deployment["spec"]["template"] = template
    assert "labels" not in workload_pod(deployment, where="w", namespace=None).pod["metadata"]
    job = workload("Job", "batch/v1")
    job["spec"]["template"] = template
    labels = workload_pod(job, where="w", namespace=None).pod["metadata"]["labels"]
    assert labels == {"batch.kubernetes.io/job-name": "triton-gpu", "job-name": "triton-gpu"}


@pytest.mark.parametrize(
    ("service", "subdomain"), [("triton", "triton"), ("", None), (None, None), (5, None)]
)
def test_a_statefulset_pods_subdomain_is_its_service(service: Any, subdomain: str | None) -> None:
    spec = workload_pod(workload("StatefulSet", serviceName=service), where="w", namespace=None).pod["spec"]
    assert (spec["hostname"], spec.get("subdomain")) == ("triton-gpu-0", subdomain)


@pytest.mark.parametrize(("name", "namespace"), [(None, "ns"), ("", "ns"), (5, "ns")])
def test_a_workload_needs_a_string_name(name: Any, namespace: str) -> None:
    doc = workload("Deployment")
    doc["metadata"]["name"] = name
    with pytest.raises(InputError, match=r"^w: Deployment without metadata\.name$"):
        workload_pod(doc, where="w", namespace=namespace)


@pytest.mark.parametrize(("own", "chosen"), [("", "flag"), (5, "flag"), (None, "flag"), ("mine", "mine")])
def test_the_workloads_own_namespace_unless_it_has_none(own: Any, chosen: str) -> None:
    doc = workload("Deployment")
    doc["metadata"]["namespace"] = own
    assert workload_pod(doc, where="w", namespace="flag").pod["metadata"]["namespace"] == chosen


DAEMON = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def _daemon_pod_tolerations(tolerations: Any, **spec: Any) -> Any:
    doc = workload("DaemonSet")
    doc["spec"]["template"] = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "tolerations": tolerations, **spec}}
    return workload_pod(doc, where="w", namespace=None).pod["spec"]["tolerations"]


def test_a_daemonsets_pod_gets_the_daemon_tolerations_in_order() -> None:
    own = {"key": "gpu", "operator": "Exists"}
    assert _daemon_pod_tolerations([own]) == [own, *DAEMON]
    network = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"}
    assert _daemon_pod_tolerations([], hostNetwork=True) == [*DAEMON, network]
    assert _daemon_pod_tolerations([], hostNetwork="true") == DAEMON  # only a real true


def test_a_matching_toleration_is_replaced_in_place_others_are_kept() -> None:
    same = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "value": ""}
    timed = {**DAEMON[0], "tolerationSeconds": 300}  # the same toleration with a time limit: replaced
    equal = {"key": "node.kubernetes.io/disk-pressure", "operator": "Equal", "effect": "NoSchedule"}
    valued = {
        "key": "node.kubernetes.io/pid-pressure",
        "operator": "Exists",
        "value": "x",
        "effect": "NoSchedule",
    }
    other_effect = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoExecute"}
    given = [same, timed, equal, valued, other_effect, "odd"]
    assert _daemon_pod_tolerations(given) == [
        DAEMON[1],
        DAEMON[0],
        equal,
        valued,
        other_effect,
        "odd",
        DAEMON[2],
        DAEMON[3],
        DAEMON[4],
        DAEMON[5],
    ]
    # a template whose tolerations are no list gets none of the daemon ones (DefaultTolerationSeconds
    # then gives it its own two)
    assert _daemon_pod_tolerations("not a list") == DEFAULT_TOLERATIONS
