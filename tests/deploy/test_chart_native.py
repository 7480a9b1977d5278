"""The chart's ``mode``: native installs the placement policies inert (the server keeps them
compiled) and no MutatingWebhookConfiguration; both installs the two; webhook, the default, neither."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy import chart
from tests.deploy.test_chart import NAME, NAMESPACE, RELEASE
from tests.deploy.test_deploy import assert_valid_strictly, one
from tests.render import Obj
from webhook.native.placement_policy import inert_placement_policies

POLICY_KINDS = ("MutatingAdmissionPolicy", "ValidatingAdmissionPolicy")


def render(values: dict[str, Any]) -> list[Obj]:
    return chart.template(values, release=RELEASE, namespace=NAMESPACE, kube_version="1.36.0")


def placement_objects(objects: list[Obj]) -> list[Obj]:
    return [
        o for o in objects if o["kind"].startswith(POLICY_KINDS) and "-guard" not in o["metadata"]["name"]
    ]


@pytest.mark.parametrize("mode", ["native", "both"])
def test_native_modes_install_the_policies_inert_with_bindings_like_the_webhooks(mode: str) -> None:
    objects = render({"mode": mode, "webhook": {"excludeNamespaces": ["monitoring"]}})
    assert_valid_strictly(objects, "1.37", unless=())
    for inert in inert_placement_policies(NAME):
        installed = one(objects, inert["kind"], inert["metadata"]["name"])
        assert installed["spec"] == inert["spec"]  # the server's compiled objects replace these fields
    bindings = [o for o in placement_objects(objects) if o["kind"].endswith("Binding")]
    assert sorted(
        (o["kind"], o["metadata"]["name"], str(o["spec"].get("validationActions"))) for o in bindings
    ) == [
        ("MutatingAdmissionPolicyBinding", NAME, "None"),
        ("ValidatingAdmissionPolicyBinding", f"{NAME}-deny", "['Deny']"),
        ("ValidatingAdmissionPolicyBinding", f"{NAME}-warn", "['Warn']"),
    ]
    excluded = {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kube-system", NAMESPACE, "monitoring"],
    }
    for binding in bindings:
        resources = binding["spec"]["matchResources"]
        assert resources["namespaceSelector"]["matchExpressions"] == [excluded]
        assert resources["objectSelector"] == {
            "matchExpressions": [{"key": "seldon-server-name", "operator": "Exists"}]
        }
    env = {
        e["name"]: e.get("value")
        for e in one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["PLACEMENT_WEBHOOK_NATIVE_PLACEMENT"] == NAME
    rules = one(objects, "ClusterRole", f"{NAME}-native")["rules"]
    assert rules == [
        {"apiGroups": ["admissionregistration.k8s.io"], "resources": ["mutatingadmissionpolicies"],
         "resourceNames": [NAME], "verbs": ["get", "patch"]},
        {"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingadmissionpolicies"],
         "resourceNames": [f"{NAME}-deny", f"{NAME}-warn"], "verbs": ["get", "patch"]},
    ]  # fmt: skip
    mutating_webhooks = [o for o in objects if o["kind"] == "MutatingWebhookConfiguration"]
    job_args = one(objects, "Job")["spec"]["template"]["spec"]["containers"][0]["args"]
    guard_hooks = [h["name"] for h in one(objects, "ValidatingWebhookConfiguration")["webhooks"]]
    if mode == "native":  # no webhook in the Pod create path; the certificates Job does not look for one
        assert mutating_webhooks == [] and "--no-mutating" in job_args
        # the native guard judges; only Pods created with spec.nodeName (a Node's taints) go to /validate
        assert guard_hooks == ["nodename.guard.placement-webhook.io"]
    else:
        assert len(mutating_webhooks) == 1 and "--no-mutating" not in job_args
        assert guard_hooks == ["guard.placement-webhook.io", "nodename.guard.placement-webhook.io"]


def test_native_mode_without_the_native_guard_keeps_the_guard_webhook() -> None:
    objects = render({"mode": "native", "guard": {"native": {"enabled": False}}})
    hooks = [h["name"] for h in one(objects, "ValidatingWebhookConfiguration")["webhooks"]]
    assert hooks == ["guard.placement-webhook.io", "nodename.guard.placement-webhook.io"]
    no_node_name = render({"mode": "native", "guard": {"nodeName": {"enabled": False}}})
    assert not [o for o in no_node_name if o["kind"] == "ValidatingWebhookConfiguration"]


def test_webhook_mode_installs_no_native_placement() -> None:
    objects = render({})
    assert placement_objects(objects) == []
    assert "PLACEMENT_WEBHOOK_NATIVE_PLACEMENT" not in str(one(objects, "Deployment"))
    assert not [o for o in objects if o["metadata"]["name"] == f"{NAME}-native"]


def test_native_mode_is_refused_before_kubernetes_1_36() -> None:
    result = chart.helm(
        "template", "x", str(chart.CHART), "--kube-version", "1.35.0", "--set", "mode=native", check=False
    )
    assert result.returncode != 0 and "mode native needs Kubernetes 1.36 or later" in result.stderr
    unknown = chart.helm(
        "template",
        "x",
        str(chart.CHART),
        "--kube-version",
        chart.KUBE_VERSION,
        "--set",
        "mode=wrong",
        check=False,
    )
    assert unknown.returncode != 0 and "value must be one of 'webhook', 'native', 'both'" in unknown.stderr
