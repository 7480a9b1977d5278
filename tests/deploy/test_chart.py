"""charts/placement-webhook: lint, several value sets rendered by the real helm and checked like
deploy/ (strict schemas, the safety assertions), and deploy/ plus the values table kept current."""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml

from tests.deploy import chart
from tests.deploy.test_deploy import (
    VERSIONS,
    assert_bootstrap,
    assert_cert_manager,
    assert_deployment,
    assert_guard_configuration,
    assert_one_namespace,
    assert_valid_strictly,
    assert_webhook_configuration,
    one,
)
from tests.render import Obj
from webhook.native import inert_policy

if chart.helm_binary() is None:  # pragma: no cover - depends on the machine
    if os.environ.get("PLACEMENT_WEBHOOK_REQUIRE_E2E") == "1":
        raise RuntimeError("PLACEMENT_WEBHOOK_REQUIRE_E2E=1 but helm is missing: run `make control-plane`")
    pytest.skip("helm not built: run `make control-plane`", allow_module_level=True)

RELEASE, NAMESPACE = "gpu", "team-gpu"  # any name: nothing may still say placement-webhook
NAME = "gpu-placement-webhook"
CA_BUNDLE = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
ALL_ON: dict[str, Any] = {
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    "networkPolicy": {"enabled": True, "from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]},
    "priorityClassName": "system-cluster-critical",
    "image": {"repository": "registry.example.com/pw", "digest": "sha256:" + "a" * 64, "pullSecrets": [{"name": "r"}]},
    "nodeSelector": {"pool": "system"},
    "tolerations": [{"key": "system", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]}]}}},
    "webhook": {"excludeNamespaces": ["monitoring"], "failurePolicy": "Ignore", "timeoutSeconds": 3},
    "guard": {"failurePolicy": "Fail"},
    "server": {"logLevel": "debug", "reloadInterval": 0.5},
    "dashboard": {"enabled": True},
}  # fmt: skip
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "cert-manager": {"certificates": {"mode": "certManager"}},
    "existing-secret": {"certificates": {"mode": "existingSecret", "existingSecret": {"name": "mine", "caBundle": CA_BUNDLE}}},
    "all-optional-on": ALL_ON,
    "metrics-port": {"metrics": {"port": 9090, "serviceMonitor": {"enabled": True}}, "networkPolicy": {"enabled": True}},
    "no-guard": {"guard": {"enabled": False}},
    "namespace-selector": {"namespaceSelector": {"enabled": True}, "networkPolicy": {"enabled": True}},
}  # fmt: skip
SERVER_RBAC = ("ClusterRole", "ClusterRoleBinding")


def without_namespace_rbac(objects: list[Obj], *, part: str = "namespaces") -> list[Obj]:
    """The objects less the server's Namespace RBAC (``namespaceSelector.enabled``), or its
    guard RBAC (``part="guard"``: Nodes and the native policy)."""
    return [
        o for o in objects if not (o["kind"] in SERVER_RBAC and o["metadata"]["name"] == f"{NAME}-{part}")
    ]


NOT_IN_SCHEMAS = ("cert-manager.io/", "monitoring.coreos.com/")


def rendered(name: str) -> list[Obj]:
    return chart.template(VALUE_SETS[name], release=RELEASE, namespace=NAMESPACE)


@pytest.fixture(scope="module")
def renders() -> dict[str, list[Obj]]:
    return {name: rendered(name) for name in VALUE_SETS}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_lint_strict(name: str, tmp_path: Any) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(VALUE_SETS[name]))
    result = chart.helm(
        "lint", "--strict", str(chart.CHART), "--values", str(values), "--namespace", NAMESPACE
    )
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout, result.stdout


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_rendered_object_validates_strictly(
    renders: dict[str, list[Obj]], name: str, version: str
) -> None:
    assert_valid_strictly(renders[name], version, unless=NOT_IN_SCHEMAS)  # CRDs: checked field by field below


@pytest.mark.parametrize("name", VALUE_SETS)
def test_safety_assertions_hold_in_any_namespace(renders: dict[str, list[Obj]], name: str) -> None:
    objects = renders[name]
    image = "registry.example.com/pw@sha256:" + "a" * 64 if name == "all-optional-on" else None
    assert_one_namespace(objects, NAMESPACE)
    assert not any(o["kind"] == "Namespace" for o in objects)  # helm install -n makes it
    if name == "all-optional-on":
        # the chart's exclusions stay whatever else is excluded; the rest of the fields as asked
        (hook,) = one(objects, "MutatingWebhookConfiguration", NAME)["webhooks"]
        (excluded,) = hook["namespaceSelector"]["matchExpressions"]
        assert excluded["values"] == ["kube-system", NAMESPACE, "monitoring"]
        assert (hook["failurePolicy"], hook["timeoutSeconds"]) == ("Ignore", 3)
        assert_guard_configuration(objects, NAMESPACE, NAME, excluded=("monitoring",), failure_policy="Fail")
    elif name == "no-guard":
        assert not any(o["kind"] == "ValidatingWebhookConfiguration" for o in objects)
        assert len([o for o in objects if o["kind"] == "MutatingWebhookConfiguration"]) == 1
    else:
        assert_webhook_configuration(objects, NAMESPACE, NAME, ca_bundle=name == "existing-secret")
    assert_deployment(
        objects,
        NAME,
        image,
        metrics_port=9090 if name == "metrics-port" else None,
        token=name != "no-guard",
    )
    objects = without_namespace_rbac(without_namespace_rbac(objects), part="guard")
    if name == "cert-manager":
        assert_cert_manager(objects, NAMESPACE, NAME)
    elif name == "existing-secret":
        assert not any(o["kind"] in ("Job", "CronJob", "Role", "ClusterRole") for o in objects)
        pod = one(objects, "Deployment")["spec"]["template"]["spec"]
        assert {"name": "certs", "secret": {"secretName": "mine", "defaultMode": 0o440}} in pod["volumes"]
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            for hook in one(objects, kind)["webhooks"]:
                assert hook["clientConfig"]["caBundle"] == CA_BUNDLE
    else:
        assert_bootstrap(objects, NAMESPACE, NAME, image)


CERTS_SELECTOR = {"app.kubernetes.io/component": "certs", "app.kubernetes.io/instance": RELEASE}


def test_one_label_selector_finds_the_certificate_pods_of_every_revision(
    renders: dict[str, list[Obj]],
) -> None:
    """The Job is renamed per revision (NAME-certs, NAME-certs-2, ...) and deleted after its TTL:
    troubleshooting reads its logs by label (``kubectl logs -l app.kubernetes.io/component=certs,
    app.kubernetes.io/instance=RELEASE``), so the Pods of the Job and of the renewal CronJob carry
    those labels, nothing that changes per revision, and no other Pod has them."""
    objects = renders["defaults"]
    templates = {o["kind"]: o["spec"]["template"] for o in objects if o["kind"] in ("Job", "Deployment")}
    templates["CronJob"] = one(objects, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]
    selected = sorted(
        k for k, t in templates.items() if CERTS_SELECTOR.items() <= t["metadata"]["labels"].items()
    )
    assert selected == ["CronJob", "Job"]
    job = one(objects, "Job")
    assert CERTS_SELECTOR.items() <= job["metadata"]["labels"].items()
    for labels in (job["metadata"]["labels"], templates["Job"]["metadata"]["labels"]):
        assert job["metadata"]["name"] not in labels.values() and "revision" not in str(labels)


def test_the_optional_objects(renders: dict[str, list[Obj]]) -> None:
    assert {o["kind"] for o in renders["defaults"]} >= {"PodDisruptionBudget"}
    assert not {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"} & {
        o["kind"] for o in renders["defaults"]
    }
    objects = renders["all-optional-on"]
    monitor = one(objects, "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "https" and endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"] == {
        "serverName": f"{NAME}.{NAMESPACE}.svc",
        "ca": {"secret": {"name": f"{NAME}-tls", "key": "ca.crt"}},
    }
    service = one(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    alerts = [r["alert"] for g in one(objects, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    assert alerts == [
        "PlacementWebhookPolicyReloadFailing",
        "PlacementWebhookCertificateReloadFailing",
        "PlacementWebhookCertificateExpiring",
        "PlacementWebhookErrors",
        "PlacementWebhookUndecided",
        "PlacementWebhookGuardDenials",
        "PlacementWebhookNotAdmitting",
        "PlacementWebhookCallsFailing",
        "PlacementWebhookFailingOpen",
    ]
    policy = one(objects, "NetworkPolicy")["spec"]
    # egress only to the API server (the guard's Node cache and native policy)
    assert policy["egress"] == [
        {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}
    ]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [{"ports": [{"port": "https", "protocol": "TCP"}], "from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]  # fmt: skip
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert one(objects, "Job")["spec"]["template"]["spec"]["priorityClassName"] == "system-cluster-critical"
    assert pod["imagePullSecrets"] == [{"name": "r"}] and pod["nodeSelector"] == {"pool": "system"}
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert (env["PLACEMENT_WEBHOOK_LOG_LEVEL"], env["PLACEMENT_WEBHOOK_RELOAD_INTERVAL"]) == ("debug", "0.5")


def test_a_metrics_port_is_plain_http_beside_the_tls_port(renders: dict[str, list[Obj]]) -> None:
    objects = renders["metrics-port"]
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e["value"] for e in container["env"]}["PLACEMENT_WEBHOOK_METRICS_PORT"] == "9090"
    assert container["ports"] == [
        {"name": "https", "containerPort": 8443, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
    ]
    assert one(objects, "Service")["spec"]["ports"][1] == {
        "name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"
    }  # fmt: skip
    (endpoint,) = one(objects, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint == {"port": "metrics", "scheme": "http", "path": "/metrics", "interval": "30s"}
    ports = one(objects, "NetworkPolicy")["spec"]["ingress"][0]["ports"]
    assert ports == [{"port": "https", "protocol": "TCP"}, {"port": "metrics", "protocol": "TCP"}]
    defaults = one(renders["defaults"], "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "PLACEMENT_WEBHOOK_METRICS_PORT" not in {e["name"] for e in defaults["env"]}


def test_the_guard_reads_nodes_and_keeps_only_its_own_native_policy(renders: dict[str, list[Obj]]) -> None:
    """Least privilege: Nodes read-only; the two native policies the chart installs, by name, get
    and patch only (server-side apply): no create, no delete, no bindings."""
    role = one(renders["defaults"], "ClusterRole", f"{NAME}-guard")
    names = [f"{NAME}-guard", f"{NAME}-guard-audit"]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["validatingadmissionpolicies"],
            "resourceNames": names,
            "verbs": ["get", "patch"],
        },
    ]
    binding = one(renders["defaults"], "ClusterRoleBinding", f"{NAME}-guard")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    env = {
        e["name"]: e["value"]
        for e in one(renders["defaults"], "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["PLACEMENT_WEBHOOK_NATIVE_GUARD"] == f"{NAME}-guard"
    # the chart installs both policies inert, as the server would write them with no reservation,
    # and binds them to the guard webhook's namespaces
    for name, actions in ((f"{NAME}-guard", ["Deny"]), (f"{NAME}-guard-audit", ["Warn", "Audit"])):
        policy = one(renders["defaults"], "ValidatingAdmissionPolicy", name)
        assert policy["spec"] == inert_policy(name)["spec"]
        binding = one(renders["defaults"], "ValidatingAdmissionPolicyBinding", name)["spec"]
        hook = one(renders["all-optional-on"], "ValidatingWebhookConfiguration")["webhooks"][0]
        all_on = one(renders["all-optional-on"], "ValidatingAdmissionPolicyBinding", name)["spec"]
        assert (binding["policyName"], binding["validationActions"]) == (name, actions)
        assert all_on["matchResources"]["namespaceSelector"] == hook["namespaceSelector"]
    assert not any(o["kind"].startswith("ValidatingAdmissionPolicy") for o in renders["no-guard"])
    nodes_only = chart.template(
        {"guard": {"native": {"enabled": False}}}, release=RELEASE, namespace=NAMESPACE
    )
    assert one(nodes_only, "ClusterRole", f"{NAME}-guard")["rules"] == role["rules"][:1]
    assert "PLACEMENT_WEBHOOK_NATIVE_GUARD" not in str(one(nodes_only, "Deployment"))


def test_the_server_reads_namespaces_only_when_enabled(renders: dict[str, list[Obj]]) -> None:
    objects = renders["namespace-selector"]
    role = one(objects, "ClusterRole", f"{NAME}-namespaces")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]}
    ]
    binding = one(objects, "ClusterRoleBinding", f"{NAME}-namespaces")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": f"{NAME}-namespaces",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == (NAME, True)
    policy = one(objects, "NetworkPolicy")["spec"]
    assert policy["egress"] == [
        {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}
    ]
    # off (the default): no Namespace RBAC
    for name in ("defaults", "metrics-port", "all-optional-on", "no-guard"):
        assert without_namespace_rbac(renders[name]) == renders[name]
    # nothing calls the API server without the guard's Node cache and native policy: no token, no egress
    no_api = chart.template(
        {"guard": {"nodeName": {"enabled": False}, "native": {"enabled": False}}, "metrics": {"port": 9090},
         "networkPolicy": {"enabled": True}}
    )  # fmt: skip
    for objects in (no_api, renders["no-guard"]):
        assert without_namespace_rbac(objects, part="guard") == objects
        assert one(objects, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert one(no_api, "NetworkPolicy")["spec"]["egress"] == []
    peers = [{"ipBlock": {"cidr": "10.96.0.1/32"}}]
    limited = chart.template(
        {"namespaceSelector": {"enabled": True}, "networkPolicy": {"enabled": True, "apiServer": peers}}
    )
    assert one(limited, "NetworkPolicy")["spec"]["egress"][0]["to"] == peers


def test_the_server_environment_names_only_serve_settings(
    renders: dict[str, list[Obj]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from webhook.server.settings import ServerSettings

    env = one(renders["metrics-port"], "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    names = {e["name"].removeprefix("PLACEMENT_WEBHOOK_").lower() for e in env}
    assert names <= set(ServerSettings.model_fields)  # a typo would be refused by the server at start
    for e in env:  # as the container gets them: environment variables (lists are JSON)
        monkeypatch.setenv(e["name"], e["value"])
    values = ServerSettings()
    assert values.model_dump(include={"max_body_bytes", "shutdown_timeout"}) == {
        "max_body_bytes": ServerSettings.model_fields["max_body_bytes"].default,
        "shutdown_timeout": ServerSettings.model_fields["shutdown_timeout"].default,
    }


def test_inline_policies_and_an_existing_config_map() -> None:
    text = "version: 1\npolicies: []\n"
    objects = chart.template({"policies": text})
    assert one(objects, "ConfigMap")["data"] == {"policies.yaml": text}
    objects = chart.template({"existingPoliciesConfigMap": "ours"})
    assert not any(o["kind"] == "ConfigMap" for o in objects)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "policies", "configMap": {"name": "ours"}} in pod["volumes"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"replicas": 3, "podDisruptionBudget": {"minAvailable": 3}},
            "podDisruptionBudget.minAvailable (3) must be below replicas (3): a PodDisruptionBudget that allows no eviction blocks every node drain",
        ),
        ({"certificates": {"mode": "existingSecret", "existingSecret": {"caBundle": "x"}}}, "certificates.existingSecret.name is required"),
        ({"certificates": {"mode": "existingSecret", "existingSecret": {"name": "x"}}}, "certificates.existingSecret.caBundle is required"),
        (
            {"policies": "version: 1\npolicies:\n- name: a\n  match:\n    namespaceSelector: {matchLabels: {team: nlp}}\n  placement: {nodeSelector: {a: b}}\n"},
            "the policies use match.namespaceSelector: set namespaceSelector.enabled=true (the server then reads Namespaces)",
        ),
    ],
)  # fmt: skip
def test_bad_values_are_refused(values: dict[str, Any], message: str, tmp_path: Any) -> None:
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    result = chart.helm(
        "template", "x", str(chart.CHART), "--kube-version", chart.KUBE_VERSION, "-f", str(file), check=False
    )
    assert result.returncode == 1 and message in result.stderr, result.stderr


def test_a_kubernetes_older_than_1_30_is_refused() -> None:
    result = chart.helm("template", "x", str(chart.CHART), "--kube-version", "1.29.0", check=False)
    assert "chart requires kubeVersion: >=1.30.0-0" in result.stderr


# --- one source of truth ----------------------------------------------------------------------------


def test_deploy_and_the_values_table_are_rendered_from_the_chart() -> None:
    assert chart.stale() == [], "run: .venv/bin/python -m tests.deploy.chart --write"


def test_every_value_is_documented() -> None:
    text = (chart.CHART / "values.yaml").read_text()
    documented = {row[0] for row in chart.values_rows(text)}

    def leaves(value: Any, path: str) -> list[str]:
        if isinstance(value, dict) and value and path not in documented:
            return [leaf for k, v in value.items() for leaf in leaves(v, f"{path}.{k}".lstrip("."))]
        return [path]

    assert [leaf for leaf in leaves(yaml.safe_load(text), "") if leaf not in documented] == []


def test_the_values_table_generator() -> None:
    text = "# -- the a\na: 1\nb:\n  # -- b's c | d\n  c: {x: [1]}\n  e: 2\n"
    assert chart.values_rows(text) == [("a", "1", "the a"), ("b.c", "{x: [1]}", "b's c | d")]
    split = chart.split_by_template(
        "---\n# Source: c/templates/x.yaml\na: 1\n---\n# Source: c/templates/x.yaml\nb: 2\n"
    )
    assert split == {"x.yaml": "a: 1\n---\nb: 2\n"}
