"""From Model to node in the real control plane: Seldon's CRDs (a minimal schema) installed, the
Servers, ServerConfigs and Models of tests/seldon created through the API, and ``simulate --cluster``
without files gives the same answer as ``simulate`` on the files."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import wait_for
from tests.e2e.helpers import cli, create, simulate
from tests.e2e.kube import ROOT, create_namespace, load_objects

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SELDON = ROOT / "tests" / "seldon"
FILES = [
    SELDON / f
    for f in ("serverconfigs.yaml", "server-triton-gpu.yaml", "server-mlserver-llm.yaml", "models.yaml")
]
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def seldon_crd(kind: str) -> dict[str, Any]:
    """A CRD of mlops.seldon.io/v1alpha1 that keeps every field (x-kubernetes-preserve-unknown-fields)."""
    plural = f"{kind.lower()}s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.mlops.seldon.io"},
        "spec": {
            "group": "mlops.seldon.io",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def established(cluster: Cluster, name: str) -> bool:
    conditions = cluster.api.get(f"{CRDS}/{name}").get("status", {}).get("conditions", [])
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def install_seldon_objects(cluster: Cluster) -> None:
    for kind in ("Server", "ServerConfig", "Model"):
        crd = seldon_crd(kind)
        cluster.api.create(CRDS, crd)
        wait_for(
            f"CRD {crd['metadata']['name']} established",
            lambda n=crd["metadata"]["name"]: established(cluster, n),
        )
    create_namespace(cluster.api, "seldon-mesh", exist_ok=True)  # shared with test_seldon_placement
    for obj in (o for f in FILES for o in load_objects(f)):
        # the new resource is served a moment after Established: retry until the create succeeds
        wait_for(f"create {obj['kind']} {obj['metadata']['name']}", lambda o=obj: create(cluster.api, o))


def verdicts(report: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """What must agree: per Pod the nodes it fits after the policies, per Model the full check."""
    # the API server lists in name order, the files in file order: compare as sets of names
    pods = {p["pod"]: sorted(n for n in p["after"]["fits"] if n in names) for p in report["pods"]}
    models = {}
    for model in report["models"]:
        servers = [
            {**s, "nodes": None if s["nodes"] is None else sorted(n for n in s["nodes"] if n in names)}
            for s in sorted(model["servers"], key=lambda s: str(s["server"]))
        ]
        models[model["model"]] = {**model, "source": None, "servers": servers}
    return {"pods": pods, "models": models, "serverNotes": sorted(report["serverNotes"])}


def test_simulate_cluster_follows_models_as_on_the_files(cluster: Cluster) -> None:
    # before Seldon's CRDs exist, the API server answers 404: one line, exit 2
    result = cli(
        "simulate", "--cluster", "--policies", str(cluster.webhook.policies),
        env={"KUBECONFIG": str(cluster.plane.admin_kubeconfig)},
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("error: cluster: list serverconfigs.mlops.seldon.io in seldon-mesh: 404")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    install_seldon_objects(cluster)
    policies = cluster.webhook.policies
    extra = ["--operator-namespace", "seldon-mesh"]
    code_files, from_files = simulate(FILES, nodes=cluster.nodes_file, policies=policies, extra=extra)
    code_cluster, from_cluster = simulate([], kubeconfig=cluster.plane.admin_kubeconfig, policies=policies)
    names = {n["metadata"]["name"] for n in cluster.nodes}
    assert (code_files, code_cluster) == (1, 1)  # iris is pinned to a Server lacking sklearn
    assert verdicts(from_cluster, names) == verdicts(from_files, names)
    iris = next(m for m in from_cluster["models"] if m["model"] == "seldon-mesh/iris")
    assert sorted(m["model"] for m in from_cluster["models"]) == [
        "seldon-mesh/iris",
        "seldon-mesh/resnet-trt",
    ]
    assert iris["problems"] == ["pinned to Server triton-gpu (spec.server), which lacks sklearn"]
    for kind in ("servers", "serverconfigs", "models"):  # leave the session's cluster as it was
        cluster.api.delete(f"{CRDS}/{kind}.mlops.seldon.io")
