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
