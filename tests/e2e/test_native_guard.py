"""The native ValidatingAdmissionPolicy agrees with ``/validate``, judged by the real API server.

For each policy file, a few hundred generated Pods (tolerations of every kind, namespaces with and
without labels, server labels, the agent's env, resources, affinity carrying or lacking the
placement, DaemonSet ownerReferences) are created with ``dryRun=All`` twice: first with only the
webhooks (the server serves the same file, so ``/mutate`` places and ``/validate`` judges), then
with the compiled policy and binding applied. Validating admission policies run before validating
webhooks, so in the second round a refusal by the guard webhook would mean the native policy let
a Pod through that ``/validate`` refuses: never allowed. Every Pod must be refused in both rounds
or in neither. UPDATEs adding tolerations to real Pods are judged the same way.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.e2e import install
from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import ApiError, wait_for
from tests.e2e.kube import ROOT, create_namespace, load_objects
from tests.e2e.test_namespace_selector import namespace_rbac
from webhook.native import compile_guard_policy
from webhook.policy.loading import load_policies_text

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NAMESPACES = {"e2e-native-a": {"team": "nlp"}, "e2e-native-b": {"team": "cv"}, "e2e-native-c": {}}
OPERATOR_NS = "gpu-operator"
VAP = "ValidatingAdmissionPolicy"
GUARD_WEBHOOK = 'admission webhook "guard.placement-webhook.io" denied'
MIXED = """\
version: 1
policies:
- name: audit-llm
  mode: audit
  match: {namespaces: ["e2e-native-*"], capabilities: [llm]}
  placement: {nodeSelector: {gpu: a100}}
- name: triton-nlp
  match:
    namespaceSelector: {matchLabels: {team: nlp}}
    serverTypes: [triton]
    capabilities: [gpu]
  placement:
    tolerations: [{key: seldon-gpu-srv, operator: Exists, effect: NoSchedule}]
    nodeSelector: {pool: infer-srv}
    nodeAffinity:
      required: [{key: gpu, operator: In, values: [a100, h100]}]
- name: shadow-b
  match: {namespaces: [e2e-native-b], servers: ["shadow-*"]}
  placement: {nodeSelector: {pool: cpu}}
- name: cv-any
  match: {namespaces: [e2e-native-b], resources: ["nvidia.com/*"]}
  placement:
    tolerations:
    - {key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}
    - {key: dedicated, operator: Exists}
    nodeAffinity: {required: [{key: pool, operator: In, values: [infer-srv]}]}
reservations:
- taint: {key: seldon-gpu-srv, effect: NoSchedule}
  allow:
  - {namespaces: [gpu-operator], daemonSets: true}
  - {namespaces: [e2e-native-a], podSelector: {matchExpressions: [{key: app, operator: In, values: [dcgm]}]}}
- taint: {key: dedicated, value: ml}
  mode: audit
"""
POLICY_FILES = {
    "reserved-gpu-pool": (ROOT / "examples" / "reserved-gpu-pool.yaml")
    .read_text()
    .replace("namespaces: [seldon-mesh]", "namespaces: [e2e-native-a]"),
    "mixed": MIXED,
}
TOLERATIONS = [
    {"operator": "Exists"},
    {"key": "seldon-gpu-srv", "operator": "Exists"},
    {"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
    {
        "key": "seldon-gpu-srv",
        "operator": "Equal",
        "value": "false",
        "effect": "NoExecute",
        "tolerationSeconds": 60,
    },
    {"key": "seldon-gpu-srv", "value": "true"},
    {"operator": "Exists", "effect": "NoSchedule"},
    {"operator": "Exists", "effect": "PreferNoSchedule"},
    {"key": "dedicated", "operator": "Exists"},
    {"key": "dedicated", "operator": "Equal", "value": "ml"},
    {"key": "other", "operator": "Exists"},
]
LABELS = [{}, {"seldon-server-name": "triton"}, {"seldon-server-name": "shadow-1"}, {"app": "dcgm"}]
ENVS = [
    [],
    [
        {"name": "SELDON_SERVER_TYPE", "value": "triton"},
        {"name": "SELDON_SERVER_CAPABILITIES", "value": "gpu, llm"},
    ],
    [
        {"name": "SELDON_SERVER_TYPE", "value": "triton"},
        {"name": "SELDON_SERVER_CAPABILITIES", "value": "gpu"},
    ],
    [{"name": "SELDON_SERVER_TYPE", "value": "mlserver"}, {"name": "SELDON_SERVER_TYPE", "value": "triton"}],
    [{"name": "SELDON_SERVER_TYPE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
]
RESOURCES = [
    {},
    {"limits": {"nvidia.com/gpu": "1"}},
    {"limits": {"nvidia.com/mig-1g.10gb": "0"}},
    {"requests": {"cpu": "1"}},
]
TERMS = [
    None,
    [{"key": "pool", "operator": "In", "values": ["infer-srv"]}],
    [{"key": "gpu", "operator": "In", "values": ["h100", "a100"]}],
    [{"key": "pool", "operator": "In", "values": ["t4-pool"]}],
]
NODE_SELECTORS = [{}, {"pool": "infer-srv"}, {"pool": "cpu"}]
DAEMONSET_OWNER = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "name": "ds",
    "uid": "0f0e0d0c",
    "controller": True,
}


def generated_pod(rng: random.Random, index: int) -> tuple[str, dict[str, Any]]:
    """(namespace, Pod): each field drawn from the lists above (seeded: the same Pods every run)."""
    namespace = rng.choice([*NAMESPACES, OPERATOR_NS])
    agent: dict[str, Any] = {"name": "agent", "image": "registry.invalid/agent:1"}
    if env := rng.choice(ENVS):
        agent["env"] = env
    if resources := rng.choice(RESOURCES):
        agent["resources"] = resources
    spec: dict[str, Any] = {"containers": [agent]}
    spec["tolerations"] = rng.sample(TOLERATIONS, rng.choice([1, 1, 2, 3]))
    if node_selector := rng.choice(NODE_SELECTORS):
        spec["nodeSelector"] = node_selector
    terms = rng.choice(TERMS)
    if terms is not None:
        expressions = terms + (
            [{"key": "pool", "operator": "In", "values": ["infer-srv"]}] if rng.random() < 0.3 else []
        )
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": expressions}]
                }
            }
        }
    metadata: dict[str, Any] = {"name": f"gen-{index}", "labels": rng.choice(LABELS)}
    if rng.random() < 0.2:
        metadata["ownerReferences"] = [DAEMONSET_OWNER]
    return namespace, {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def fixture_pods() -> list[tuple[str, dict[str, Any]]]:
    """The Pods of the e2e fixtures (Seldon servers, the scheduler) and the guard's test cases."""
    found = []
    for path in sorted((ROOT / "tests" / "fixtures").glob("*-0.yaml")) + sorted(
        (ROOT / "tests" / "cases").glob("guard-*/pod.yaml")
    ):
        for pod in load_objects(path):
            pod = json.loads(json.dumps(pod))
            pod["metadata"].pop("namespace", None)
            pod["spec"].pop("nodeName", None)
            pod["spec"].setdefault("tolerations", []).append({"operator": "Exists"})
            found.append(("e2e-native-a", pod))
    return found


def judged(cluster: Cluster, namespace: str, pod: dict[str, Any]) -> str:
    """``allowed``, or who refused the dry-run create: ``native``, ``webhook`` or ``other: ...``."""
    try:
        cluster.api.create(f"/api/v1/namespaces/{namespace}/pods", pod, dryRun="All")
    except ApiError as exc:
        text = str(exc)
        if VAP in text:
            return "native"
        if GUARD_WEBHOOK in text:
            return "webhook"
        return f"other: {text[:300]}"
    return "allowed"


def apply(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    cluster.plane.kubectl("apply", "--server-side", "--field-manager=e2e", "-f", "-", stdin=document)


def delete(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    for obj in reversed(objects):
        plural = (
            "validatingadmissionpolicybindings"
            if obj["kind"].endswith("Binding")
            else "validatingadmissionpolicies"
        )
        cluster.api.delete(f"/apis/admissionregistration.k8s.io/v1/{plural}/{obj['metadata']['name']}")


@pytest.fixture(scope="module")
def native(cluster: Cluster) -> Iterator[Cluster]:
    for name, labels in NAMESPACES.items():
        create_namespace(cluster.api, name, labels)
    create_namespace(cluster.api, OPERATOR_NS, exist_ok=True)
    for account in ("seldon-server", "seldon-scheduler"):  # the fixtures' Pods name them
        cluster.api.create("/api/v1/namespaces/e2e-native-a/serviceaccounts", {"metadata": {"name": account}})
    rbac = yaml.safe_dump_all(namespace_rbac())  # the mixed file's namespaceSelector
    cluster.plane.kubectl("apply", "-f", "-", stdin=rbac)
    try:
        yield cluster
    finally:
        cluster.webhook.set_policies(cluster.default_policies)
        cluster.plane.kubectl("delete", "-f", "-", stdin=rbac)
        for name in NAMESPACES:
            cluster.plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def stowaway_refused_natively(cluster: Cluster) -> bool:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"}, "spec": {
        "containers": [{"name": "main", "image": "registry.invalid/x:1"}], "tolerations": [{"operator": "Exists"}]}}  # fmt: skip
    return judged(cluster, "e2e-native-c", pod) == "native"


@pytest.mark.parametrize("file", POLICY_FILES)
def test_the_native_policy_refuses_exactly_what_validate_refuses(native: Cluster, file: str) -> None:
    text = POLICY_FILES[file]
    native.webhook.set_policies(text)
    objects = compile_guard_policy(
        load_policies_text(text), excluded_namespaces=["kube-system", install.NS], name=f"e2e-{file}"
    )
    rng = random.Random(f"native-guard-{file}")
    pods = [generated_pod(rng, i) for i in range(300)] + fixture_pods()
    by_webhook = [judged(native, ns, pod) for ns, pod in pods]
    apply(native, objects)
    try:
        wait_for("the native policy to refuse a stowaway", lambda: stowaway_refused_natively(native), 30)
        by_native = [judged(native, ns, pod) for ns, pod in pods]
    finally:
        delete(native, objects)
        wait_for("the native policy to be gone", lambda: not stowaway_refused_natively(native), 30)
    others = [(w, n) for w, n in zip(by_webhook, by_native, strict=True) if "other" in w + n]
    assert others == [], others[:3]
    looser = [(ns, pod) for (ns, pod), n in zip(pods, by_native, strict=True) if n == "webhook"]
    assert looser == [], f"{len(looser)} Pods the native policy admitted and /validate refused: {looser[:2]}"
    disagree = [
        (w, n, ns, pod)
        for (ns, pod), w, n in zip(pods, by_webhook, by_native, strict=True)
        if (w == "webhook") != (n == "native")
    ]
    assert disagree == [], f"{len(disagree)} disagreements, e.g. {disagree[:2]}"
    refused = by_webhook.count("webhook")
    assert 30 <= refused <= len(pods) - 30, (refused, len(pods))  # both answers well exercised
    print(f"\n{file}: {len(pods)} Pods, {refused} refused by both, {len(pods) - refused} admitted by both")


def judged_patch(cluster: Cluster, namespace: str, name: str, patch: list[dict[str, Any]]) -> str:
    """``allowed``, or who refused the dry-run JSON Patch of the Pod (an UPDATE)."""
    try:
        cluster.api.request(
            "PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}", patch,
            content_type="application/json-patch+json", dryRun="All",
        )  # fmt: skip
    except ApiError as exc:
        text = str(exc)
        return "native" if VAP in text else "webhook" if GUARD_WEBHOOK in text else f"other: {text[:300]}"
    return "allowed"


def test_updates_adding_tolerations_are_judged_alike(native: Cluster) -> None:
    """UPDATE: a toleration added that none of the old Pod's covers is refused, one already
    covered (or only its tolerationSeconds changed) is not; the same Pods, both ways."""
    text = POLICY_FILES["mixed"]
    native.webhook.set_policies(text)
    objects = compile_guard_policy(
        load_policies_text(text), excluded_namespaces=["kube-system", install.NS], name="e2e-update"
    )
    rng = random.Random("native-guard-updates")
    running = []
    for i in range(12):
        namespace = rng.choice(list(NAMESPACES))
        own = rng.sample(TOLERATIONS[8:], 1) + (
            [TOLERATIONS[2]] if i % 3 == 0 else []
        )  # some tolerate already
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"upd-{i}", "labels": rng.choice(LABELS[:1] + LABELS[3:])},
               "spec": {"containers": [{"name": "main", "image": "registry.invalid/x:1"}], "tolerations": own}}  # fmt: skip
        if judged(native, namespace, pod) == "allowed":
            native.api.create(f"/api/v1/namespaces/{namespace}/pods", pod)
            running.append((namespace, pod["metadata"]["name"]))
    assert len(running) >= 8
    patches = [
        [{"op": "add", "path": "/spec/tolerations/-", "value": toleration}] for toleration in TOLERATIONS
    ] + [[{"op": "add", "path": "/metadata/labels", "value": {"touched": "yes"}}]]
    attempts = [(ns, name, patch) for ns, name in running for patch in patches]
    by_webhook = [judged_patch(native, ns, name, patch) for ns, name, patch in attempts]
    apply(native, objects)
    try:
        wait_for("the native policy to refuse a stowaway", lambda: stowaway_refused_natively(native), 30)
        by_native = [judged_patch(native, ns, name, patch) for ns, name, patch in attempts]
    finally:
        delete(native, objects)
        wait_for("the native policy to be gone", lambda: not stowaway_refused_natively(native), 30)
        for namespace, name in running:
            native.api.delete(f"/api/v1/namespaces/{namespace}/pods/{name}", gracePeriodSeconds=0)
    assert [w for w in by_webhook + by_native if "other" in w] == []
    disagree = [
        (a, w, n)
        for a, w, n in zip(attempts, by_webhook, by_native, strict=True)
        if (w == "webhook") != (n == "native")
    ]
    assert disagree == [], disagree[:3]
    assert "webhook" not in by_native  # the native policy is never looser
    refused = by_webhook.count("webhook")
    assert 10 <= refused <= len(attempts) - 10, (refused, len(attempts))
    print(f"\nupdates: {len(attempts)} patches, {refused} refused by both")


def many_policies(count: int) -> str:
    """``count`` enforce policies, each granting the pool to one team's namespace with every kind of
    criterion, so that every one of them is compiled (the last grants too)."""
    policies = "".join(
        f"""\
- name: team-{i}
  match:
    namespaces: ["team-{i}-*", "e2e-native-{i}"]
    servers: ["srv-{i}-*"]
    serverTypes: [triton, mlserver]
    capabilities: [gpu]
    resources: ["nvidia.com/*"]
    podSelector: {{matchLabels: {{team: "{i}"}}}}
  placement:
    tolerations: [{{key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}}]
    nodeSelector: {{pool: infer-srv}}
    nodeAffinity:
      required: [{{key: gpu, operator: In, values: [a100, h100]}}, {{key: zone, operator: Exists}}]
"""
        for i in range(count)
    )
    return f"version: 1\npolicies:\n{policies}reservations:\n- taint: {{key: seldon-gpu-srv, effect: NoSchedule}}\n"


def test_a_file_of_fifty_policies_compiles_within_the_api_servers_cost_limits(native: Cluster) -> None:
    """The API server refuses a policy whose estimated CEL cost is too high, and enforces a runtime
    budget per request: fifty fully-specified policies are accepted and judge Pods in time."""
    text = many_policies(50)
    native.webhook.set_policies(text)  # /validate judges by the same file
    objects = compile_guard_policy(load_policies_text(text), name="e2e-many")
    apply(native, objects)  # refused (kubectl exits non-zero) if the API server finds it too costly
    try:
        wait_for("the fifty-policy guard to refuse a stowaway", lambda: stowaway_refused_natively(native), 30)
        last = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "srv-49-0", "labels": {
            "seldon-server-name": "srv-49-a", "team": "49"}}, "spec": {"containers": [{"name": "agent",
            "image": "registry.invalid/x:1", "env": [{"name": "SELDON_SERVER_TYPE", "value": "triton"},
            {"name": "SELDON_SERVER_CAPABILITIES", "value": "gpu"}], "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
            "tolerations": [{"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
            "nodeSelector": {"pool": "infer-srv"}, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["h100", "a100"]},
            {"key": "zone", "operator": "Exists"}]}]}}}}}  # fmt: skip
        create_namespace(native.api, "team-49-x", exist_ok=True)
        assert judged(native, "team-49-x", last) == "allowed"  # the 50th policy entitles it, within budget
        last["spec"]["nodeSelector"] = {"pool": "other"}
        assert judged(native, "team-49-x", last) == "native"  # its placement not carried: refused
    finally:
        delete(native, objects)
        wait_for("the native policy to be gone", lambda: not stowaway_refused_natively(native), 30)
        native.plane.kubectl("delete", "namespace", "team-49-x", "--wait=false", check=False)
