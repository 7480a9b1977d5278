"""Scenarios 4, 5 and 6: what the real API server does around the webhook call.

Reinvocation after a second mutator (a MutatingAdmissionPolicy, GA and on by default since 1.36),
server-side dry runs through kubectl, warnings and denials reaching the client, and the
``objectSelector``/``namespaceSelector``/``matchConditions`` evaluated by the API server itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Cluster, probe_pod
from tests.e2e.controlplane import wait_for
from tests.e2e.helpers import POLICY_ANNOTATION, policy_of, required_terms, tolerations, write_yaml
from tests.e2e.kube import create_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NS = "e2e-admission"
GPU_TOLERATION = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


@pytest.fixture(scope="module")
def admission(cluster: Cluster) -> Iterator[Cluster]:
    create_namespace(cluster.api, NS, {"e2e-reinvoke": "yes"})
    yield cluster


def pods_path(namespace: str = NS) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def calls_for(cluster: Cluster, pod: str) -> list[dict[str, Any]]:
    return [c for c in cluster.webhook.settled_admissions() if c["pod"] == pod]


SECOND_MUTATOR = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "MutatingAdmissionPolicy",
    "metadata": {"name": "e2e-second-mutator"},
    "spec": {
        "matchConstraints": {
            "resourceRules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
            ]
        },
        "failurePolicy": "Fail",
        "reinvocationPolicy": "IfNeeded",
        # records the placement-webhook annotation it sees: a change whenever the webhook has run
        # since, so the webhook (IfNeeded too) is called once more with the Pod it already placed
        "mutations": [
            {
                "patchType": "ApplyConfiguration",
                "applyConfiguration": {
                    "expression": (
                        "Object{metadata: Object.metadata{annotations: {'e2e/seen-policy': "
                        "has(object.metadata.annotations) && "
                        "'POLICY' in object.metadata.annotations ? "
                        "object.metadata.annotations['POLICY'] : 'none'}}}"
                    ).replace("POLICY", POLICY_ANNOTATION)
                },
            }
        ],
    },
}
SECOND_BINDING = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "MutatingAdmissionPolicyBinding",
    "metadata": {"name": "e2e-second-mutator"},
    "spec": {
        "policyName": "e2e-second-mutator",
        "matchResources": {"namespaceSelector": {"matchLabels": {"e2e-reinvoke": "yes"}}},
    },
}


def test_reinvoked_after_a_second_mutator_without_duplicates(admission: Cluster) -> None:
    cluster = admission
    base = "/apis/admissionregistration.k8s.io/v1"
    cluster.api.create(f"{base}/mutatingadmissionpolicies", SECOND_MUTATOR)
    cluster.api.create(f"{base}/mutatingadmissionpolicybindings", SECOND_BINDING)
    try:
        pod = probe_pod("reinvoked")
        pod["spec"]["affinity"] = {  # two ORed terms of its own: each gets the requirement once
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
                    ]
                }
            }
        }

        def created_once_seen() -> dict[str, Any] | None:
            # the policy's informer lags its creation: retry (dry run) until it has mutated
            out = cluster.api.create(pods_path(), pod, dryRun="All")
            seen = (out["metadata"].get("annotations") or {}).get("e2e/seen-policy")
            return out if seen == "gpu-servers" else None

        wait_for("the MutatingAdmissionPolicy to apply", created_once_seen, 30, interval=0.3)
        before = len(calls_for(cluster, "reinvoked"))
        created = cluster.api.create(pods_path(), pod)
        wait_for("the webhook's log lines", lambda: len(calls_for(cluster, "reinvoked")) >= before + 2, 10)
    finally:
        cluster.api.delete(f"{base}/mutatingadmissionpolicybindings/e2e-second-mutator")
        cluster.api.delete(f"{base}/mutatingadmissionpolicies/e2e-second-mutator")

    calls = calls_for(cluster, "reinvoked")[before:]
    assert [c["outcome"] for c in calls] == ["patched", "unchanged"]  # called again, nothing more to add
    assert created["metadata"]["annotations"]["e2e/seen-policy"] == "gpu-servers"
    assert policy_of(created) == "gpu-servers"
    assert tolerations(created).count(GPU_TOLERATION) == 1
    terms = required_terms(created)
    pool = {"key": "pool", "operator": "In", "values": ["infer-srv"]}
    assert len(terms) == 2 and all(t["matchExpressions"].count(pool) == 1 for t in terms)
    cluster.api.delete(f"{pods_path()}/reinvoked", gracePeriodSeconds=0)


def test_server_dry_run_returns_the_placed_pod_and_persists_nothing(admission: Cluster) -> None:
    cluster = admission
    manifest = write_yaml([probe_pod("dry")], cluster.plane.run_dir)
    before = len(calls_for(cluster, "dry"))
    result = cluster.plane.kubectl("create", "--dry-run=server", "-o", "yaml", "-n", NS, "-f", str(manifest))
    pod = yaml.safe_load(result.stdout)
    assert policy_of(pod) == "gpu-servers" and GPU_TOLERATION in tolerations(pod)
    assert required_terms(pod)
    assert cluster.api.maybe(f"{pods_path()}/dry") is None
    wait_for("the dry-run admission log line", lambda: len(calls_for(cluster, "dry")) > before, 10)
    assert calls_for(cluster, "dry")[-1]["dry_run"] is True


def with_gpu_servers(cluster: Cluster, **changes: str) -> str:
    """The shipped policies with ``gpu-servers`` changed (and denying conflicts)."""
    document = yaml.safe_load(cluster.default_policies)
    (policy,) = [p for p in document["policies"] if p["name"] == "gpu-servers"]
    policy.update(changes, onConflict="deny")
    return str(yaml.safe_dump(document, sort_keys=False))


def test_audit_warnings_and_a_denial_reach_the_client(admission: Cluster) -> None:
    cluster = admission
    audit, deny = with_gpu_servers(cluster, mode="audit"), with_gpu_servers(cluster, mode="enforce")
    manifest = write_yaml([probe_pod("warned")], cluster.plane.run_dir)
    cluster.webhook.set_policies(audit)
    try:
        result = cluster.plane.kubectl(
            "create", "--dry-run=server", "-o", "json", "-n", NS, "-f", str(manifest)
        )
        warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
        assert warnings and all("placement-webhook:" in w for w in warnings), result.stderr
        assert any("seldon-gpu-srv" in w for w in warnings) and any("pool" in w for w in warnings)
        pod = json.loads(result.stdout)
        assert GPU_TOLERATION not in tolerations(pod) and policy_of(pod) is None  # audit changes nothing

        cluster.webhook.set_policies(deny)
        conflicting = probe_pod("denied")
        conflicting["spec"]["nodeSelector"] = {"pool": "general"}
        manifest = write_yaml([conflicting], cluster.plane.run_dir)
        result = cluster.plane.kubectl("create", "-n", NS, "-f", str(manifest), check=False)
        assert result.returncode != 0
        assert 'admission webhook "pods.placement-webhook.io" denied the request' in result.stderr
        assert "gpu-servers" in result.stderr and "pool" in result.stderr
        assert cluster.api.maybe(f"{pods_path()}/denied") is None
    finally:
        cluster.webhook.set_policies(cluster.default_policies)


def test_pods_the_selectors_and_conditions_exclude_are_never_sent(admission: Cluster) -> None:
    cluster = admission
    unlabelled = probe_pod("unlabelled")
    unlabelled["metadata"]["labels"] = {"app": "not-a-server"}
    bound = probe_pod("prebound")
    bound["spec"]["nodeName"] = "a100-40-1"
    excluded = [(NS, unlabelled), ("kube-system", probe_pod("in-kube-system")), (NS, bound)]
    metric = "placement_webhook_admissions_total"
    metric_before, calls_before = cluster.webhook.metric(metric), len(cluster.webhook.settled_admissions())
    for namespace, pod in excluded:
        out = cluster.api.create(pods_path(namespace), pod, dryRun="All")
        assert policy_of(out) is None and GPU_TOLERATION not in tolerations(out)
    # a Pod the webhook is sent, last: once its log line is written, any earlier one would be too
    cluster.api.create(pods_path(), probe_pod("control"), dryRun="All")
    wait_for("the control Pod's admission", lambda: calls_for(cluster, "control"), 10)
    assert [c["pod"] for c in cluster.webhook.settled_admissions()[calls_before:]] == ["control"]
    assert cluster.webhook.metric(metric) == metric_before + 1
