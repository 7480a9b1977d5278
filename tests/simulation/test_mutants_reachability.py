"""Policy reachability details mutation testing found unpinned (docs/mutation.md)."""

from __future__ import annotations

from tests.helpers import DEFAULT_TOLERATIONS, one_policy
from webhook.simulation.reachability import Finding, probe_pod, render_findings


def test_the_probe_pod_requests_the_literal_extended_resources_only() -> None:
    [policy] = one_policy(
        "{nodeSelector: {pool: gpu}}", match="{resources: [nvidia.com/gpu, 'example.com/*', cpu]}"
    ).policies
    assert probe_pod(policy) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe-p", "annotations": {"placement-webhook.io/policy": "p"}},
        "spec": {
            "containers": [
                {"name": "probe", "image": "probe", "resources": {"requests": {"nvidia.com/gpu": "1"}}}
            ],
            "tolerations": DEFAULT_TOLERATIONS,
            "nodeSelector": {"pool": "gpu"},
        },
    }


def test_the_probe_pod_with_extended_resource_toleration() -> None:
    [policy] = one_policy("{nodeSelector: {pool: gpu}}", match="{resources: [nvidia.com/gpu]}").policies
    assert probe_pod(policy)["spec"]["tolerations"] == DEFAULT_TOLERATIONS
    assert probe_pod(policy, extended_resource_toleration=True)["spec"]["tolerations"] == [
        *DEFAULT_TOLERATIONS,
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    ]


def test_render_findings_counts_in_words() -> None:
    assert render_findings([], nodes=3, where="n.yaml") == [
        "checked against 3 nodes from n.yaml:",
        "  no findings",
    ]
    one_each = [Finding("error", "a"), Finding("warning", "b")]
    assert render_findings(one_each, nodes=1, where="n.yaml") == [
        "checked against 1 nodes from n.yaml:",
        "  error: a",
        "  warning: b",
        "1 error, 1 warning",
    ]
    several = [Finding("error", "a"), Finding("error", "b"), Finding("warning", "c"), Finding("warning", "d")]
    assert render_findings(several, nodes=2, where="x")[-1] == "2 errors, 2 warnings"
    assert render_findings([Finding("warning", "c")], nodes=2, where="x")[-1] == "0 errors, 1 warning"
