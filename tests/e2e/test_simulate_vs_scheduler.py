"""Scenario 3: ``simulate``'s per-node verdict against the real kube-scheduler.

For every (Pod, node) pair, the Pod is created pinned to that one node (a ``matchFields
metadata.name In [node]`` requirement ANDed into each of its required terms) and the scheduler
either binds it or marks it Unschedulable; that must equal ``simulate``'s ``fits`` for the node.
The Pods request no resources, so resource fit plays no part. ``simulate`` is given each Pod as
the API server stored it (defaults and the default not-ready/unreachable tolerations included),
read back from a server-side dry run.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import wait_for
from tests.e2e.helpers import by_pod, simulate, write_yaml
from tests.e2e.install import cli
from tests.e2e.kube import ROOT, create_namespace, create_node, pods, scheduled

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NS = "e2e-fit"
SEED = 20260111
GENERATED_NODES = 14
GENERATED_PODS = 50
BATCH = 250

TAINT_KEYS = ["dedicated", "gpu", "seldon-gpu-srv", "maintenance"]
VALUES = ["a", "b", "true", ""]
EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
LABELS = {"zone": ["z1", "z2", "z3"], "tier": ["1", "3", "7", "12", "x"], "pool": ["infer-srv", "general"]}


def random_node(rng: random.Random, index: int) -> dict[str, Any]:
    labels = {k: rng.choice(v) for k, v in LABELS.items() if rng.random() < 0.7}
    if rng.random() < 0.3:
        labels["accel"] = ""
    taints = []
    for key in rng.sample(TAINT_KEYS, rng.choice([0, 0, 1, 2])):
        taint = {"key": key, "effect": rng.choice(EFFECTS)}
        value = rng.choice(VALUES)
        if value:
            taint["value"] = value
        taints.append(taint)
    spec: dict[str, Any] = {"taints": taints} if taints else {}
    if rng.random() < 0.1:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": f"gen-{index}", "labels": labels},
        "spec": spec,
    }


def random_toleration(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.05:
        return {"operator": "Exists"}  # tolerates everything
    key = rng.choice([*TAINT_KEYS, "node.kubernetes.io/unschedulable"])
    toleration: dict[str, Any] = {"key": key}
    if rng.random() < 0.4:
        toleration["operator"] = "Exists"
    else:
        toleration["operator"] = "Equal"
        toleration["value"] = rng.choice(VALUES)
    if rng.random() < 0.7:
        toleration["effect"] = rng.choice(EFFECTS)
    if toleration.get("effect") == "NoExecute" and rng.random() < 0.3:
        toleration["tolerationSeconds"] = 60
    return toleration


def random_requirement(rng: random.Random) -> dict[str, Any]:
    key = rng.choice([*LABELS, "accel", "nvidia.com/gpu.product", "kubernetes.io/hostname"])
    operator = rng.choice(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"])
    requirement: dict[str, Any] = {"key": key, "operator": operator}
    if operator in ("In", "NotIn"):
        pool = LABELS.get(key, ["", "A100-SXM4-40GB", "cpu-1", "gen-3"])
        requirement["values"] = rng.sample(pool, rng.randint(1, min(2, len(pool))))
    elif operator in ("Gt", "Lt"):
        requirement["values"] = [str(rng.choice([0, 2, 5, 10]))]
    return requirement


def random_pod(rng: random.Random, index: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "registry.invalid/fit:1"}]}
    if rng.random() < 0.8:
        spec["tolerations"] = [random_toleration(rng) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.3:
        key = rng.choice(list(LABELS))
        spec["nodeSelector"] = {key: rng.choice(LABELS[key])}
    if rng.random() < 0.6:
        terms = []
        for _ in range(rng.randint(1, 3)):
            term: dict[str, Any] = {}
            expressions = [random_requirement(rng) for _ in range(rng.choice([0, 1, 1, 2, 3]))]
            if expressions:
                term["matchExpressions"] = expressions
            terms.append(term)  # an empty term matches nothing
        spec["affinity"] = {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}
        }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"gen-{index}"}, "spec": spec}


def our_pods() -> list[dict[str, Any]]:
    """The fixture Pods after the bundled policies (``review -o pod``), without their resources."""
    out = []
    for name in ("triton-gpu-0", "mlserver-0", "seldon-scheduler-0"):
        result = cli("review", str(ROOT / "tests" / "fixtures" / f"{name}.yaml"), "-o", "pod")
        assert result.returncode == 0, result.stderr
        pod = yaml.safe_load(result.stdout)
        spec = pod["spec"]
        keep = {"tolerations", "affinity", "nodeSelector"}
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name.removesuffix("-0")},
                "spec": {
                    **{k: v for k, v in spec.items() if k in keep},
                    "containers": [{"name": "main", "image": "registry.invalid/fit:1"}],
                },
            }
        )
    return out


def pinned(pod: dict[str, Any], node: str, name: str) -> dict[str, Any]:
    """The Pod, allowed on ``node`` only: the name requirement ANDed into every term."""
    pod = copy.deepcopy(pod)
    pod["metadata"] = {"name": name, "labels": {"e2e-fit": "pinned"}}
    pin = {"key": "metadata.name", "operator": "In", "values": [node]}
    node_affinity = pod["spec"].setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = required.get("nodeSelectorTerms") or [{}]
    if "nodeSelectorTerms" not in required:
        terms = [{"matchFields": [pin]}]
    else:
        # an empty term matches nothing, and still must after pinning
        terms = [{**t, "matchFields": [*t.get("matchFields", []), pin]} if t else t for t in terms]
    required["nodeSelectorTerms"] = terms
    return pod


@pytest.fixture(scope="module")
def fit_cluster(cluster: Cluster) -> Iterator[tuple[Cluster, list[str]]]:
    rng = random.Random(SEED)
    generated = [random_node(rng, i) for i in range(GENERATED_NODES)]
    offset = len(cluster.nodes)
    for index, node in enumerate(generated):
        create_node(cluster.api, node, offset + index)
    create_namespace(cluster.api, NS)
    names = [n["metadata"]["name"] for n in cluster.nodes + generated]
    try:
        yield cluster, names
    finally:
        for node in generated:
            cluster.api.delete(f"/api/v1/nodes/{node['metadata']['name']}")


def stored(cluster: Cluster, pod: dict[str, Any]) -> dict[str, Any]:
    """The Pod as the API server would store it (admission and defaults applied), persisted nowhere."""
    out = cluster.api.create(f"/api/v1/namespaces/{NS}/pods", pod, dryRun="All")
    out["metadata"] = {"name": out["metadata"]["name"], "namespace": NS}
    out.pop("status", None)
    return dict(out)


def scheduler_verdicts(cluster: Cluster, attempts: list[tuple[dict[str, Any], str]]) -> dict[str, bool]:
    """Pod name → whether the scheduler bound it, in batches; every Pod deleted afterwards."""
    verdicts: dict[str, bool] = {}
    for start in range(0, len(attempts), BATCH):
        batch = attempts[start : start + BATCH]
        for pod, _ in batch:
            cluster.api.create(f"/api/v1/namespaces/{NS}/pods", pod)

        def decided(count: int = len(batch)) -> list[dict[str, Any]] | None:
            found = pods(cluster.api, NS, "e2e-fit=pinned")
            return found if len(found) == count and all(scheduled(p) for p in found) else None

        for pod in wait_for(f"the scheduler on {len(batch)} pinned Pods", decided, 180, interval=0.5):
            verdicts[pod["metadata"]["name"]] = scheduled(pod) == "bound"
        cluster.api.request(
            "DELETE", f"/api/v1/namespaces/{NS}/pods", labelSelector="e2e-fit=pinned", gracePeriodSeconds=0
        )
        wait_for(
            "the pinned Pods to go", lambda: not pods(cluster.api, NS, "e2e-fit=pinned"), 60, interval=0.3
        )
    return verdicts


def test_simulate_agrees_with_the_scheduler_on_every_pod_and_node(
    fit_cluster: tuple[Cluster, list[str]],
) -> None:
    cluster, nodes = fit_cluster
    rng = random.Random(SEED + 1)
    templates = [
        stored(cluster, p) for p in [*our_pods(), *(random_pod(rng, i) for i in range(GENERATED_PODS))]
    ]
    nodes_file = write_yaml(  # as GET /api/v1/nodes returns them: a NodeList, its items without kind
        [{"apiVersion": "v1", "kind": "NodeList", "items": cluster.api.items("/api/v1/nodes")}],
        cluster.plane.run_dir,
    )
    _, report = simulate(
        [write_yaml(templates, cluster.plane.run_dir)], nodes=nodes_file, policies=ROOT / "policies.yaml"
    )
    predicted = by_pod(report)

    attempts: list[tuple[dict[str, Any], str]] = []
    expected: dict[str, tuple[str, str, bool, str | None]] = {}
    for p, template in enumerate(templates):
        verdict = {n["node"]: n for n in predicted[f"{NS}/{template['metadata']['name']}"]["before"]["nodes"]}
        for n, node in enumerate(nodes):
            name = f"fit-{p}-{n}"
            attempts.append((pinned(template, node, name), node))
            expected[name] = (
                template["metadata"]["name"],
                node,
                verdict[node]["fits"],
                verdict[node]["reason"],
            )

    actual = scheduler_verdicts(cluster, attempts)
    disagreements = [
        f"pod {pod} on node {node}: simulate fits={fits} ({reason}), scheduler bound={actual[name]}"
        for name, (pod, node, fits, reason) in expected.items()
        if actual[name] != fits
    ]
    bound = sum(actual.values())
    print(
        f"simulate vs kube-scheduler: {len(expected)} (Pod, node) pairs ({bound} bound, "
        f"{len(expected) - bound} unschedulable), {len(disagreements)} disagreements"
    )
    assert 0 < bound < len(expected)
    assert not disagreements, "\n".join(disagreements)
