"""Native mode equals the webhook, judged by the real API server.

For each generated policy file, every Pod is created with ``dryRun=All`` twice: first through the
webhook serving that file (``/mutate``), then through the compiled MutatingAdmissionPolicy and
conflict ValidatingAdmissionPolicies while the webhook serves an empty file. The API server's
answers are compared whole: the Pod it would store (spec and annotations), our warnings and our
denial. Two other MutatingAdmissionPolicies mutate the same Pods in both rounds: one adds a label,
one a toleration the policies never add, so that the API server reinvokes ours (IfNeeded) after
it. The webhook runs after every admission policy, ours in an order the API server chooses, so the
other policy's toleration lands before or after ours: tolerations are compared as a set
(kubernetes#129309). A toleration that the other policy and ours would both add is left out on
purpose: who adds it first then decides whether ours has anything left to add (the annotation), a
difference of order, not of compilation (an early run of this test, with such a toleration, saw it).
"""

from __future__ import annotations

import functools
import json
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.e2e import install, native_cases
from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import wait_for
from tests.e2e.kube import ROOT, create_namespace
from tests.e2e.test_namespace_selector import namespace_rbac
from webhook.admission.response import WARNING_PREFIX
from webhook.errors import PolicyError
from webhook.native.placement_policy import compile_placement_policies, native_problems
from webhook.policy.loading import load_policies_text

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

FILES = int(os.environ.get("E2E_NATIVE_FILES", "25"))
PODS_PER_FILE = 44
EMPTY = "version: 1\npolicies: []\n"


def probes(tag: str) -> list[dict[str, Any]]:
    """Policies only the probe Pods match, named and placing by ``tag``: each round waits until the
    API server answers with this round's objects (and, after, with none of them)."""
    return [
        {"name": f"probe-mutate-{tag}", "match": {"podSelector": {"matchLabels": {"e2e-probe": "mutate"}}},
         "placement": {"nodeSelector": {"probe": tag}}},
        {"name": f"probe-deny-{tag}", "match": {"podSelector": {"matchLabels": {"e2e-probe": "deny"}}},
         "placement": {"nodeSelector": {"probe": tag}}, "onConflict": "deny"},
        {"name": f"probe-warn-{tag}", "match": {"podSelector": {"matchLabels": {"e2e-probe": "warn"}}},
         "placement": {"nodeSelector": {"probe": tag}}},
    ]  # fmt: skip


OTHERS = [
    # a label no policy reads
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
     "metadata": {"name": "aaa-e2e-other"}, "spec": {
        "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]},
        "reinvocationPolicy": "Never", "failurePolicy": "Fail",
        "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {
            "expression": "Object{metadata: Object.metadata{labels: {'mutated-by': 'other'}}}"}}]}},
    # a toleration no policy adds, when absent: the Pod changes after ours, so ours runs again
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
     "metadata": {"name": "zzz-e2e-other"}, "spec": {
        "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]},
        "reinvocationPolicy": "IfNeeded", "failurePolicy": "Fail",
        "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": (
            "has(object.spec.tolerations) && object.spec.tolerations.exists(t, has(t.key) && t.key == 'e2e.example.com/other') ? []"
            " : has(object.spec.tolerations) ? [JSONPatch{op: 'add', path: '/spec/tolerations/-',"
            " value: Object.spec.tolerations{key: 'e2e.example.com/other', operator: 'Exists'}}]"
            " : [JSONPatch{op: 'add', path: '/spec/tolerations',"
            " value: [Object.spec.tolerations{key: 'e2e.example.com/other', operator: 'Exists'}]}]")}}]}},
]  # fmt: skip


def _bindings(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    selector = {"matchLabels": {"e2e-native-placement": "yes"}}
    return [
        {"apiVersion": o["apiVersion"], "kind": o["kind"] + "Binding", "metadata": {"name": o["metadata"]["name"]},
         "spec": {"policyName": o["metadata"]["name"], "matchResources": {"namespaceSelector": selector}}}
        for o in objects
    ]  # fmt: skip


def answer(cluster: Cluster, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
    """What the API server answers a dry-run create: the Pod it would store, our warnings, our denial."""
    response = cluster.api.http.post(
        f"/api/v1/namespaces/{namespace}/pods", params={"dryRun": "All"}, content=json.dumps(pod),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    warnings = [
        w[w.index(WARNING_PREFIX) :].rstrip('"')
        for w in response.headers.get_list("warning")
        if WARNING_PREFIX in w
    ]
    body = response.json()
    if response.status_code >= 400:
        message = body.get("message", "")
        ours = WARNING_PREFIX in message
        return {
            "denied": message[message.index(WARNING_PREFIX) :] if ours else f"other: {message}",
            "warnings": warnings,
        }
    spec = body["spec"]
    # the webhook runs after every admission policy, ours in name order: the other policies'
    # tolerations come before or after ours accordingly (a set to the scheduler; kubernetes#129309)
    spec["tolerations"] = sorted(spec.get("tolerations", []), key=json.dumps)
    stored = {"spec": spec, "annotations": body["metadata"].get("annotations", {}),
              "labels": body["metadata"].get("labels", {})}  # fmt: skip
    return {"stored": stored, "warnings": warnings}


def differing(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two answers differ, as ``path: webhook != native`` lines."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted({*a, *b}) for d in differing(a.get(k), b.get(k), f"{path}.{k}")]
    return [] if a == b else [f"{path}: {json.dumps(a)} != {json.dumps(b)}"]


def loadable_file(rng: random.Random) -> str:
    """A generated policy file the loader accepts (some draws contradict themselves: drawn again)."""
    while True:
        text = native_cases.policy_file(rng)
        try:
            load_policies_text(text)
        except PolicyError:
            continue
        return text


def probe(cluster: Cluster, kind: str) -> dict[str, Any]:
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "labels": {
        "seldon-server-name": "probe", "e2e-probe": kind}}, "spec": {"containers": [{"name": "main",
        "image": "registry.invalid/x:1"}], "automountServiceAccountToken": False}}  # fmt: skip
    if kind != "mutate":
        pod["spec"]["nodeSelector"] = {"probe": "other"}
    return answer(cluster, "e2e-eq-a", pod)


def probes_answer(cluster: Cluster, tag: str) -> bool:
    """The three probes answered by this round's policies (by their tag), and only by them."""
    mutated = probe(cluster, "mutate").get("stored", {}).get("spec", {}).get("nodeSelector")
    denied = probe(cluster, "deny").get("denied", "")
    warnings = probe(cluster, "warn")["warnings"]
    return (
        mutated == {"probe": tag}
        and f"probe-deny-{tag} " in denied
        and len(warnings) == 1
        and (f"probe-warn-{tag} " in warnings[0])
    )


def others_active(cluster: Cluster) -> bool:
    """Both other MutatingAdmissionPolicies mutate a probe Pod (before any round starts)."""
    stored = probe(cluster, "mutate").get("stored", {})
    tolerations = stored.get("spec", {}).get("tolerations", [])
    labelled = stored.get("labels", {}).get("mutated-by") == "other"
    return labelled and any(t.get("key") == "e2e.example.com/other" for t in tolerations)


def probes_silent(cluster: Cluster) -> bool:
    """None of the probes is answered by any policy (the round's objects are gone everywhere)."""
    mutated = "nodeSelector" in probe(cluster, "mutate").get("stored", {}).get("spec", {})
    deny, warn = probe(cluster, "deny"), probe(cluster, "warn")
    return not mutated and "denied" not in deny and not deny["warnings"] and not warn["warnings"]


def kubectl_apply(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    cluster.plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=e2e", "-f", "-", stdin=document
    )


def kubectl_delete(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    cluster.plane.kubectl("delete", "--ignore-not-found", "-f", "-", stdin=document)


@pytest.fixture(scope="module")
def equivalence(cluster: Cluster) -> Iterator[Cluster]:
    for name, labels in native_cases.NAMESPACES.items():
        create_namespace(cluster.api, name, {**labels, "e2e-native-placement": "yes"})
        for account in ("seldon-server", "seldon-scheduler"):  # the fixtures' Pods name them
            cluster.api.create(f"/api/v1/namespaces/{name}/serviceaccounts", {"metadata": {"name": account}})
    rbac = yaml.safe_dump_all(namespace_rbac())  # the webhook reads namespace labels for namespaceSelector
    cluster.plane.kubectl("apply", "-f", "-", stdin=rbac)
    others = OTHERS + _bindings(OTHERS)
    kubectl_apply(cluster, others)
    wait_for("the other admission policies to mutate Pods", lambda: others_active(cluster), 30)
    try:
        yield cluster
    finally:
        kubectl_delete(cluster, others)
        cluster.webhook.set_policies(cluster.default_policies)
        cluster.plane.kubectl("delete", "-f", "-", stdin=rbac)
        for name in native_cases.NAMESPACES:
            cluster.plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


Pair = tuple[str, dict[str, Any]]


def both_ways(cluster: Cluster, tag: str, text: str, pods: list[Pair]) -> list[tuple[Any, Any]]:
    """Each Pod's answer through the webhook serving ``text``, then through native mode."""
    document = yaml.safe_load(text)
    document["policies"] = [*probes(tag), *document["policies"]]
    text = yaml.safe_dump(document, sort_keys=False)
    cluster.webhook.set_policies(text)
    wait_for("the webhook to answer the probes", functools.partial(probes_answer, cluster, tag), 30)
    by_webhook = [answer(cluster, ns, pod) for ns, pod in pods]
    cluster.webhook.set_policies(EMPTY)
    objects = compile_placement_policies(
        load_policies_text(text), excluded_namespaces=["kube-system", install.NS], name="e2e-native"
    )
    kubectl_apply(cluster, objects)
    try:
        wait_for("the native policies to answer", functools.partial(probes_answer, cluster, tag), 30)
        by_native = [answer(cluster, ns, pod) for ns, pod in pods]
    finally:
        kubectl_delete(cluster, objects)
        wait_for("the native policies to be gone", lambda: probes_silent(cluster), 30)
    return list(zip(by_webhook, by_native, strict=True))


def rounds() -> Iterator[tuple[str, str, list[Pair]]]:
    """The generated files with their Pods, then the fixed rounds (``native_cases.fixed_rounds``)."""
    rng = random.Random("native-placement")
    only = os.environ.get("E2E_NATIVE_ONLY")  # one round by name, to look into a difference
    for index in range(FILES):
        text = loadable_file(rng)
        pods = [native_cases.pod(rng, f"eq-{index}-{i}") for i in range(PODS_PER_FILE)]
        if only in (None, f"f{index}"):
            yield f"f{index}", text, pods
    for name, text, pods in native_cases.fixed_rounds(ROOT):
        if only in (None, name):
            yield name, text, pods


def test_native_mode_stores_warns_and_denies_exactly_as_the_webhook(equivalence: Cluster) -> None:
    compared = differences = denied = warned = patched = refused = 0
    shown: list[str] = []
    for tag, text, pods in rounds():
        assert native_problems(load_policies_text(text)) == []
        for (ns, pod), (webhook, native) in zip(pods, both_ways(equivalence, tag, text, pods), strict=True):
            compared += 1
            refused += "other" in str(webhook.get("denied", ""))  # the API server's own validation
            denied += "denied" in webhook
            warned += bool(webhook["warnings"])
            before = pod["metadata"].get("annotations", {}).get(native_cases.POLICY_ANNOTATION)
            patched += (
                "stored" in webhook
                and webhook["stored"]["annotations"].get(native_cases.POLICY_ANNOTATION) != before
            )
            if webhook != native:
                differences += 1
                if len(shown) < 3:
                    where = {"round": tag, "namespace": ns, "pod": pod, "differ": differing(webhook, native)}
                    shown.append(json.dumps(where))
    print(f"\nnative vs webhook: {compared} (Pod, policy file) pairs, {differences} differences;"
          f" {patched} placed, {warned} warned, {denied} denied ({refused} by the API server's validation)")  # fmt: skip
    assert differences == 0, "\n".join(shown)
    assert compared >= 1000
    assert min(patched, warned, denied) >= 30, (patched, warned, denied)  # every outcome well exercised
    assert refused <= compared // 50, refused


def test_a_file_of_fifty_policies_compiles_within_the_api_servers_limits(equivalence: Cluster) -> None:
    """Fifty fully specified policies: the API server accepts the compiled objects (one long
    expression of them all was refused: mutations are split by size, constraints shared) and the
    fiftieth places its Pod, or warns about a conflict in /mutate's words."""
    from tests.e2e.test_native_guard import many_policies  # the guard's fifty-policy file

    text = many_policies(50)
    equivalence.webhook.set_policies(EMPTY)
    objects = compile_placement_policies(load_policies_text(text), name="e2e-fifty")
    kubectl_apply(
        equivalence, objects
    )  # refused (kubectl exits non-zero) if the API server finds it too long
    create_namespace(equivalence.api, "team-49-x", exist_ok=True)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "srv-49-0", "labels": {
        "seldon-server-name": "srv-49-a", "team": "49"}}, "spec": {"automountServiceAccountToken": False,
        "containers": [{"name": "agent", "image": "registry.invalid/x:1", "env": [
            {"name": "SELDON_SERVER_TYPE", "value": "triton"}, {"name": "SELDON_SERVER_CAPABILITIES", "value": "gpu"}],
            "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}  # fmt: skip
    try:

        def placed() -> dict[str, Any] | None:
            found = answer(equivalence, "team-49-x", pod)
            stored = found.get("stored", {})
            return (
                found
                if stored.get("annotations", {}).get(native_cases.POLICY_ANNOTATION) == "team-49"
                else None
            )

        found = wait_for("the fiftieth policy to place its Pod", placed, 30)
        assert found["stored"]["spec"]["nodeSelector"] == {"pool": "infer-srv"}
        pod["spec"]["nodeSelector"] = {"pool": "other"}
        warning = (
            "placement-webhook: policy team-49 conflicts with the Pod's own placement on pool; not applied"
        )

        def warned() -> bool:  # the warn policy is another object: the API server may take it up later
            return answer(equivalence, "team-49-x", pod)["warnings"] == [warning]

        wait_for("the fiftieth policy's conflict warning", warned, 30)
    finally:
        kubectl_delete(equivalence, objects)
        equivalence.plane.kubectl("delete", "namespace", "team-49-x", "--wait=false", check=False)
