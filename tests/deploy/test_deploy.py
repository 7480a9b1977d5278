"""deploy/: every rendered object is valid Kubernetes, and the pieces agree with each other."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.helpers import BUNDLED_POLICIES, ROOT
from tests.render import Obj, UnsupportedError, object_key, render
from webhook import __version__
from webhook.cluster.certs import service_hostnames
from webhook.policy.loading import load_policies_text

BASE, CERT_MANAGER = ROOT / "deploy" / "base", ROOT / "deploy" / "overlays" / "cert-manager"
CHART_POLICIES = ROOT / "charts" / "placement-webhook" / "files" / "policies.yaml"
FOLDERS = {"base": BASE, "cert-manager": CERT_MANAGER}
# 1.30: the oldest release with matchConditions GA; the others: recent releases
VERSIONS = ["1.30", "1.33", "1.37"]
NAMESPACE, SERVICE = "placement-webhook", "placement-webhook"


def one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


@pytest.fixture(scope="module")
def base() -> list[Obj]:
    return render(BASE)


@pytest.fixture(scope="module")
def overlay() -> list[Obj]:
    return render(CERT_MANAGER)


# --- validity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("folder", FOLDERS)
def test_every_object_validates_strictly(folder: str, version: str) -> None:
    # cert-manager's objects are not in the Kubernetes schemas: test_cert_manager_objects_are_consistent
    assert_valid_strictly(render(FOLDERS[folder]), version, unless=("cert-manager.io/",))


def assert_valid_strictly(objects: list[Obj], version: str, *, unless: tuple[str, ...]) -> None:
    """Every object but those whose apiVersion starts with ``unless`` passes the schema, strictly."""
    checked = 0
    for obj in objects:
        if obj["apiVersion"].startswith(unless):
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{object_key(obj)}: {str(exc).splitlines()[0]}")
        checked += 1
    assert checked >= 6


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed (optional check)")
@pytest.mark.parametrize("folder", FOLDERS)
def test_the_python_renderer_agrees_with_kubectl_kustomize(folder: str) -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(FOLDERS[folder])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    theirs = {object_key(o): o for o in yaml.safe_load_all(result.stdout) if o}
    assert {object_key(o): o for o in render(FOLDERS[folder])} == theirs


def test_the_renderer_refuses_what_kustomize_would(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()
    (tmp_path / "policies.yaml").write_text("version: 1\n")
    (tmp_path / "k" / "kustomization.yaml").write_text(
        "configMapGenerator:\n- {name: p, files: [../policies.yaml]}\ngeneratorOptions: {disableNameSuffixHash: true}\n"
    )
    with pytest.raises(UnsupportedError, match="load restrictor"):
        render(tmp_path / "k")
    (tmp_path / "k" / "kustomization.yaml").write_text("namePrefix: x-\n")
    with pytest.raises(UnsupportedError, match="namePrefix"):
        render(tmp_path / "k")


# --- policies ---------------------------------------------------------------------------------------


def test_the_policies_copy_is_the_top_level_file(base: list[Obj]) -> None:
    assert CHART_POLICIES.read_text() == BUNDLED_POLICIES.read_text(), (
        "the chart's files/policies.yaml differs from policies.yaml: "
        "cp policies.yaml charts/placement-webhook/files/ && python -m tests.deploy.chart --write"
    )
    config_map = one(base, "ConfigMap", "placement-webhook-policies")
    assert config_map["data"] == {"policies.yaml": BUNDLED_POLICIES.read_text()}


def test_the_policies_config_map_is_mounted_as_a_directory(base: list[Obj]) -> None:
    config_map = one(base, "ConfigMap", "placement-webhook-policies")
    assert len(load_policies_text(config_map["data"]["policies.yaml"], source="configmap")) >= 1
    pod = one(base, "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["policies"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert all("subPath" not in m for m in mounts.values())  # a subPath mount never sees updates
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["PLACEMENT_WEBHOOK_POLICIES"] == f"{mounts['policies']['mountPath']}/policies.yaml"
    assert env["PLACEMENT_WEBHOOK_CERT_DIR"] == mounts["certs"]["mountPath"]
    assert env["PLACEMENT_WEBHOOK_DEV_CERTS"] == "false"


# --- the webhook configuration ----------------------------------------------------------------------


@pytest.mark.parametrize("folder", FOLDERS)
def test_webhook_configuration_fields(folder: str) -> None:
    assert_webhook_configuration(render(FOLDERS[folder]))


def assert_webhook_configuration(
    objects: list[Obj], namespace: str = NAMESPACE, name: str = SERVICE, ca_bundle: bool = False
) -> None:
    (hook,) = one(objects, "MutatingWebhookConfiguration", name)["webhooks"]
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["sideEffects"] == "None"
    assert hook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    assert hook["objectSelector"] == {
        "matchExpressions": [{"key": "seldon-server-name", "operator": "Exists"}]
    }
    (excluded,) = hook["namespaceSelector"]["matchExpressions"]
    assert excluded["key"] == "kubernetes.io/metadata.name" and excluded["operator"] == "NotIn"
    assert set(excluded["values"]) == {"kube-system", namespace}
    assert hook["failurePolicy"] == "Fail"
    assert 1 <= hook["timeoutSeconds"] <= 10
    assert hook["reinvocationPolicy"] == "IfNeeded"
    assert [c["name"] for c in hook["matchConditions"]] == ["not-bound-to-a-node"]
    # filled in by the Job or cert-manager (and kept by apply), or given with an existing Secret
    assert ("caBundle" in hook["clientConfig"]) is ca_bundle
    service = one(objects, "Service", name)
    assert hook["clientConfig"]["service"] == {
        "name": name, "namespace": service["metadata"]["namespace"], "path": "/mutate", "port": 443
    }  # fmt: skip
    assert service["metadata"]["namespace"] == namespace
    assert_guard_configuration(objects, namespace, name, ca_bundle=ca_bundle)


GUARD_CONDITION = (
    "has(object.spec.tolerations) && object.spec.tolerations.exists(t, !has(t.key)"
    " || !t.key.startsWith('node.kubernetes.io/'))"
)


def assert_node_name_guard(bound: Obj, hook: Obj, *, failure_policy: str = "Fail") -> None:
    """The guard's second webhook: Pods created with spec.nodeName (they skip the scheduler), to
    the same path and with the same exclusions as the toleration guard, fail-closed by default."""
    assert bound["name"] == "nodename.guard.placement-webhook.io"
    assert bound["clientConfig"] == hook["clientConfig"]
    assert bound["namespaceSelector"] == hook["namespaceSelector"]
    assert bound["rules"] == [{**hook["rules"][0], "operations": ["CREATE"]}]
    assert bound["matchConditions"] == [
        {"name": "bound-to-a-node", "expression": "has(object.spec.nodeName) && object.spec.nodeName != ''"}
    ]
    assert (bound["failurePolicy"], bound["timeoutSeconds"], bound["matchPolicy"]) == (
        failure_policy,
        3,
        "Equivalent",
    )
    assert "objectSelector" not in bound


def assert_guard_configuration(
    objects: list[Obj],
    namespace: str = NAMESPACE,
    name: str = SERVICE,
    *,
    ca_bundle: bool = False,
    excluded: tuple[str, ...] = (),
    failure_policy: str = "Ignore",
) -> None:
    """The reservation guard: Pod CREATE and UPDATE, the mutating webhook's namespace exclusions,
    only Pods with a toleration besides the node-condition ones, fail open by default."""
    hook, bound = one(objects, "ValidatingWebhookConfiguration", name)["webhooks"]
    assert_node_name_guard(bound, hook)
    assert hook["name"] == "guard.placement-webhook.io"
    assert (hook["admissionReviewVersions"], hook["sideEffects"], hook["matchPolicy"]) == (
        ["v1"],
        "None",
        "Equivalent",
    )
    assert hook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    assert "objectSelector" not in hook  # every Pod may tolerate the reserved taint
    assert hook["namespaceSelector"] == {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": ["kube-system", namespace, *excluded],
            }
        ]
    }
    assert hook["matchConditions"] == [
        {"name": "tolerates-more-than-node-conditions", "expression": GUARD_CONDITION}
    ]
    assert (hook["failurePolicy"], hook["timeoutSeconds"]) == (failure_policy, 3)
    assert ("caBundle" in hook["clientConfig"]) is ca_bundle
    assert hook["clientConfig"]["service"] == {
        "name": name,
        "namespace": namespace,
        "path": "/validate",
        "port": 443,
    }


def test_the_webhook_namespace_is_excluded_and_holds_everything(base: list[Obj]) -> None:
    assert_one_namespace(base, one(base, "Namespace")["metadata"]["name"])


def assert_one_namespace(objects: list[Obj], namespace: str) -> None:
    cluster_scoped = (
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    )
    namespaced = [o for o in objects if o["kind"] not in cluster_scoped]
    assert {o["metadata"]["namespace"] for o in namespaced} == {namespace}
    for binding in (o for o in objects if o["kind"].endswith("RoleBinding")):
        assert {s["namespace"] for s in binding["subjects"]} == {namespace}


# --- the server Deployment --------------------------------------------------------------------------


def _pod_is_locked_down(pod: dict[str, Any], image: str | None = None) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert (
            set(container["resources"]["requests"])
            == set(container["resources"]["limits"])
            == {"cpu", "memory"}
        )
        assert container["image"] == (image or f"placement-webhook:{__version__}")


def test_deployment_is_replicated_spread_and_locked_down(base: list[Obj]) -> None:
    assert_deployment(base)


def assert_deployment(
    base: list[Obj],
    name: str = SERVICE,
    image: str | None = None,
    *,
    metrics_port: int | None = None,
    token: bool = True,
) -> None:
    """The server Deployment and its Service; ``metrics_port``: the one extra (plain-HTTP) port
    expected; ``token``: the ServiceAccount token is mounted (the guard reads Nodes and keeps its
    native policy; namespaceSelector.enabled reads Namespaces)."""
    deployment = one(base, "Deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pdb = one(base, "PodDisruptionBudget")
    assert (
        pdb["spec"]["minAvailable"] == 1 and pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    )
    assert "kubernetes.io/hostname" in [c["topologyKey"] for c in pod["topologySpreadConstraints"]]
    assert all(
        c["labelSelector"]["matchLabels"].items() <= labels.items() for c in pod["topologySpreadConstraints"]
    )
    _pod_is_locked_down(pod, image)
    assert pod["automountServiceAccountToken"] is token
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
    container_ports = [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]
    service_ports = [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]
    if metrics_port is not None:
        container_ports.append({"name": "metrics", "containerPort": metrics_port, "protocol": "TCP"})
        service_ports.append(
            {"name": "metrics", "port": metrics_port, "targetPort": "metrics", "protocol": "TCP"}
        )
    assert container["ports"] == container_ports
    service = one(base, "Service", name)
    assert service["spec"]["ports"] == service_ports
    assert service["spec"]["selector"].items() <= labels.items()


# --- certificates: the bootstrap Job and its RBAC, or cert-manager ----------------------------------


def _job_flags(base: list[Obj]) -> dict[str, str]:
    (container,) = one(base, "Job")["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["placement-webhook"] and container["args"][:2] == ["certs", "--install"]
    return dict(arg.removeprefix("--").split("=", 1) for arg in container["args"][2:])


def test_bootstrap_job_names_match_the_deployment_and_its_rbac(base: list[Obj]) -> None:
    assert_bootstrap(base)


def assert_bootstrap(
    base: list[Obj], namespace: str = NAMESPACE, name: str = SERVICE, image: str | None = None
) -> None:
    flags = _job_flags(base)
    cron = one(base, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert cron == one(base, "Job")["spec"]["template"]["spec"]  # renewal runs the same command
    pod = one(base, "Deployment")["spec"]["template"]["spec"]
    secret_volume = next(v["secret"] for v in pod["volumes"] if "secret" in v)
    assert flags["secret"] == secret_volume["secretName"]
    assert (flags["service"], flags["namespace"], flags["webhook"]) == (name, namespace, name)
    job_pod = one(base, "Job")["spec"]["template"]["spec"]
    _pod_is_locked_down(job_pod, image)
    account = job_pod["serviceAccountName"]
    rules = one(base, "Role")["rules"] + one(base, "ClusterRole", f"{name}-certs")["rules"]
    job_bindings = [
        b for b in base if b["kind"].endswith("RoleBinding") and b["roleRef"]["name"] == f"{name}-certs"
    ]
    assert job_bindings and all(s["name"] == account for b in job_bindings for s in b["subjects"])
    named = [r for r in rules if "resourceNames" in r]
    assert {n for r in named for n in r["resourceNames"]} == {
        flags["secret"],
        flags["ca-secret"],
        flags["webhook"],
    }
    assert [r for r in rules if "resourceNames" not in r] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}
    ]
    assert {v for r in rules for v in r["verbs"]} == {"get", "create", "update", "patch"}


def test_cert_manager_objects_are_consistent(overlay: list[Obj], base: list[Obj]) -> None:
    certs = {object_key(o) for o in base if o["metadata"]["name"].startswith("placement-webhook-certs")}
    assert {k[1] for k in certs} == {"Job", "CronJob", "ServiceAccount", "Role", "RoleBinding"} | {
        "ClusterRole", "ClusterRoleBinding"
    }  # fmt: skip
    assert not certs & {object_key(o) for o in overlay}  # no Job, no CronJob, no RBAC
    assert {object_key(o) for o in base} - {object_key(o) for o in overlay} == certs
    assert_cert_manager(overlay)


def assert_cert_manager(overlay: list[Obj], namespace: str = NAMESPACE, name: str = SERVICE) -> None:
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        annotation = one(overlay, kind)["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        assert annotation == f"{namespace}/{name}-serving"
    serving = one(overlay, "Certificate", f"{name}-serving")
    assert serving["metadata"]["namespace"] == namespace
    pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
    assert serving["spec"]["secretName"] == next(
        v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v
    )
    assert serving["spec"]["dnsNames"] == service_hostnames(name, namespace)
    assert "server auth" in serving["spec"]["usages"]
    issuers = {o["metadata"]["name"]: o["spec"] for o in overlay if o["kind"] == "Issuer"}
    ca = one(overlay, "Certificate", issuers[serving["spec"]["issuerRef"]["name"]]["ca"]["secretName"])
    assert ca["spec"]["isCA"] is True and "selfSigned" in issuers[ca["spec"]["issuerRef"]["name"]]
    for cert in (serving, ca):
        assert cert["apiVersion"] == "cert-manager.io/v1"
        assert cert["spec"]["issuerRef"]["kind"] == "Issuer"
        assert cert["spec"]["privateKey"]["algorithm"] == "ECDSA"
