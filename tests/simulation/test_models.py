"""Model -> Server -> node: Seldon's requirement matching, pinning and namespaces, one test per rule.

Each rule names the Seldon Core 2 source it is read from (SeldonIO/seldon-core)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.helpers import NODES, ROOT, SELDON, bundled_policies, policies
from webhook.cli.files import read_nodes, read_sourced_documents
from webhook.errors import InputError
from webhook.kube.objects import RawObject
from webhook.policy.compiled import PolicySet
from webhook.policy.loading import load_policies
from webhook.simulation.models import ModelCheck, check_models, model_json, render_model
from webhook.simulation.seldon import Manifests, read_seldon_manifests
from webhook.simulation.simulate import simulate_subject

FILES = [
    SELDON / "server-triton-gpu.yaml",
    SELDON / "server-mlserver-llm.yaml",
    SELDON / "serverconfigs.yaml",
]
GPU_POOLS = read_nodes(str(NODES / "gpu-pools.yaml"))[0]
NO_POLICIES = policies("version: 1\npolicies: []\n")
WHOLE_GPUS = ["a100-40-1", "a100-80-1", "l4-1"]  # where examples/gpu-pool.yaml puts GPU servers


def model(name: str, *, namespace: str = "seldon-mesh", **spec: Any) -> RawObject:
    return {
        "apiVersion": "mlops.seldon.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"storageUri": "gs://m", **spec},
    }


def server(name: str, *, config: str = "mlserver", namespace: str = "seldon-mesh", **spec: Any) -> RawObject:
    return {
        "apiVersion": "mlops.seldon.io/v1alpha1",
        "kind": "Server",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"serverConfig": config, **spec},
    }


def run_checks(
    *docs: RawObject,
    files: list[Any] = FILES,
    policy_set: PolicySet | None = None,
    accelerators: dict[str, str] | None = None,
    nodes: list[RawObject] = GPU_POOLS,
    operator_namespace: str | None = None,
) -> tuple[list[ModelCheck], list[str]]:
    documents = read_sourced_documents([str(f) for f in files]) + [(d, "test") for d in docs]
    manifests = read_seldon_manifests(documents, namespace=None, operator_namespace=operator_namespace)
    chosen = policy_set if policy_set is not None else load_example()
    sims = [simulate_subject(s, nodes=nodes, policies=chosen) for s in manifests.subjects]
    return check_models(manifests, sims, nodes=nodes, accelerators=accelerators or {})


def load_example() -> PolicySet:
    return load_policies(ROOT / "examples" / "gpu-pool.yaml")


def loads(check: ModelCheck) -> dict[str, str | None]:
    return {c.server: c.reason for c in check.candidates}


# filters/serverrequirements.go (ServerRequirementFilter, contains) and replicarequirements.go:
# every requirement, trimmed, must equal a capability exactly; no case folding, no prefixes.
@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        (["tensorrt"], {"triton-gpu": None, "mlserver-llm-chat": "lacks tensorrt"}),
        ([" tensorrt "], {"triton-gpu": None, "mlserver-llm-chat": "lacks tensorrt"}),  # trimmed
        (["TensorRT"], {"triton-gpu": "lacks TensorRT", "mlserver-llm-chat": "lacks TensorRT"}),
        (["tensor"], {"triton-gpu": "lacks tensor", "mlserver-llm-chat": "lacks tensor"}),
        (["python"], {"triton-gpu": None, "mlserver-llm-chat": None}),  # both ServerConfigs list python
        (["python", "sklearn"], {"triton-gpu": "lacks sklearn", "mlserver-llm-chat": None}),  # all of them
        ([], {"triton-gpu": None, "mlserver-llm-chat": None}),
    ],
)
def test_every_requirement_must_equal_a_capability(requirements: list[str], expected: dict[str, Any]) -> None:
    [check], _ = run_checks(model("m", requirements=requirements))
    assert loads(check) == expected
    problem = (
        []
        if any(v is None for v in expected.values())
        else ["no Server in namespace seldon-mesh can load it (Seldon: ScheduleFailed)"]
    )
    assert check.problems == problem


# operator controllers/reconcilers/server (updateCapabilities): extraCapabilities are appended to the
# ServerConfig's SELDON_SERVER_CAPABILITIES, capabilities replace them, and capabilities win over both.
@pytest.mark.parametrize(
    ("spec", "loadable"),
    [
        ({"extraCapabilities": ["llm"]}, {"llm": True, "sklearn": True}),
        ({"capabilities": ["llm"]}, {"llm": True, "sklearn": False}),
        (
            {"capabilities": ["llm"], "extraCapabilities": ["extra"]},
            {"llm": True, "sklearn": False, "extra": False},
        ),
        ({}, {"llm": False, "sklearn": True}),
    ],
)
def test_capabilities_replace_and_extra_capabilities_extend_the_server_config(
    spec: dict[str, Any], loadable: dict[str, bool]
) -> None:
    docs = [server("custom", **spec)] + [model(r, requirements=[r]) for r in loadable]
    checks, _ = run_checks(*docs, files=[SELDON / "serverconfigs.yaml"])
    assert {c.model.name: loads(c)["custom"] is None for c in checks} == loadable


# filters/sharing.go (SharingServerFilter): a requested server (spec.server) is the only candidate.
def test_a_pinned_model_loads_only_on_its_server() -> None:
    [check], _ = run_checks(model("m", requirements=["python"], server="mlserver-llm-chat"))
    assert loads(check) == {"triton-gpu": "not spec.server (mlserver-llm-chat)", "mlserver-llm-chat": None}
    assert check.problems == []


def test_a_model_pinned_to_a_server_lacking_a_requirement_is_a_problem() -> None:
    [check], _ = run_checks(model("iris", requirements=["sklearn", "python"], server="triton-gpu"))
    assert check.problems == ["pinned to Server triton-gpu (spec.server), which lacks sklearn"]
    assert not any(c.loads for c in check.candidates)


def test_a_model_pinned_to_a_missing_server_is_a_problem() -> None:
    [check], _ = run_checks(model("m", server="triton"))
    assert check.problems == [
        "pinned to Server triton (spec.server), which is not among the inputs in namespace seldon-mesh"
    ]


# One scheduler per SeldonRuntime namespace: a Model only sees the Servers of its own namespace.
def test_a_model_only_sees_the_servers_of_its_namespace() -> None:
    [check], _ = run_checks(model("m", namespace="team-a", requirements=["python"]))
    assert check.candidates == []
    assert check.problems == ["no Server in namespace team-a can load it (Seldon: ScheduleFailed)"]


# apis/mlops/v1alpha1/serverconfig_types.go (GetServerConfigForServer): the ServerConfig is read from
# the operator's namespace (constants.SeldonNamespace), not the Server's.
def test_server_configs_come_from_the_operator_namespace() -> None:
    elsewhere = yaml.safe_load((SELDON / "serverconfigs.yaml").read_text().split("---")[1])
    elsewhere["metadata"]["namespace"] = "team-a"
    documents = [(elsewhere, "other.yaml"), (server("s", namespace="team-a"), "s.yaml")]
    with pytest.raises(
        InputError,
        match=r"s.yaml: document 1: Server s: ServerConfig \"mlserver\" is among the inputs but in namespace"
        r" team-a, not the operator's seldon-mesh \(--operator-namespace\)",
    ):
        read_seldon_manifests(documents, namespace=None, operator_namespace="seldon-mesh")
    manifests = read_seldon_manifests(documents, namespace=None, operator_namespace="team-a")
    assert [(s.name, s.namespace) for s in manifests.servers] == [("s", "team-a")]
    configs = read_sourced_documents([str(SELDON / "serverconfigs.yaml")])  # in seldon-mesh
    manifests = read_seldon_manifests(
        [*configs, (server("s", namespace="team-a"), "s.yaml")],
        namespace=None,
        operator_namespace="seldon-mesh",
    )
    assert [(s.name, s.namespace, "sklearn" in s.capabilities) for s in manifests.servers] == [
        ("s", "team-a", True)
    ]


def test_server_configs_alone_stand_for_the_runtime_servers_models_load_on() -> None:
    [check], notes = run_checks(model("m", requirements=["sklearn"]), files=[SELDON / "serverconfigs.yaml"])
    assert loads(check) == {"triton": "lacks sklearn", "mlserver": None}
    assert notes == ["Server seldon-mesh/triton: no Model among the inputs loads on it"]


def test_where_the_loading_servers_pods_land() -> None:
    [check], _ = run_checks(model("m", requirements=["tensorrt"]))
    assert [(c.server, c.nodes) for c in check.candidates] == [
        ("triton-gpu", tuple(WHOLE_GPUS)),
        ("mlserver-llm-chat", tuple(WHOLE_GPUS)),
    ]


# Ours, not Seldon's: a requirement mapped to an extended resource must only meet nodes offering it.
def test_an_accelerator_model_on_a_server_that_may_land_without_the_resource_is_a_problem() -> None:
    [check], _ = run_checks(
        model("m", requirements=["tensorrt"]),
        policy_set=NO_POLICIES,
        accelerators={"tensorrt": "nvidia.com/gpu"},
    )
    assert check.problems == [
        "requires tensorrt (nvidia.com/gpu) but can load on Server triton-gpu, whose Pods may land on "
        "cpu-1, cpu-2, which offer no nvidia.com/gpu"
    ]
    [check], _ = run_checks(
        model("m", requirements=["tensorrt"]), accelerators={"tensorrt": "nvidia.com/gpu"}
    )
    assert check.problems == []  # with the policy the Triton GPU server lands only on whole GPUs
    [check], _ = run_checks(model("m", requirements=["tensorrt"]), policy_set=bundled_policies(),
                            accelerators={"tensorrt": "nvidia.com/gpu"})  # fmt: skip
    assert check.problems == [
        "requires tensorrt (nvidia.com/gpu) but can load on Server triton-gpu, whose Pods may land on "
        "mig-1, which offers no nvidia.com/gpu"  # one node: "offers" (issue 28)
    ]


def test_an_accelerator_on_a_node_without_allocatable_is_a_note() -> None:
    bare = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}]
    [check], _ = run_checks(
        model("m", requirements=["tensorrt"]), policy_set=NO_POLICIES, nodes=bare,
        accelerators={"tensorrt": "nvidia.com/gpu"},
    )  # fmt: skip
    assert check.problems == []
    assert check.notes == ["cannot check nvidia.com/gpu on n1 (Server triton-gpu): no status.allocatable"]


def test_notes_for_servers_no_model_loads_on_or_whose_own_capabilities_none_needs() -> None:
    _, notes = run_checks(model("m", requirements=["tensorrt"]))
    assert notes == [
        "Server seldon-mesh/mlserver-llm-chat: no Model among the inputs loads on it",
        "Server seldon-mesh/mlserver-llm-chat: no Model requires its capability llm",
    ]
    _, notes = run_checks(model("m", requirements=["llm"]))
    assert notes == ["Server seldon-mesh/triton-gpu: no Model among the inputs loads on it"]
    _, notes = run_checks()
    assert notes == []  # no Models among the inputs: nothing to say about the Servers


def test_the_shipped_models_render_and_serialise() -> None:
    checks, _ = run_checks(
        files=[*FILES, SELDON / "models.yaml"], accelerators={"tensorrt": "nvidia.com/gpu"}
    )
    resnet, iris = checks
    assert render_model(resnet) == [
        f"Model seldon-mesh/resnet-trt from {SELDON / 'models.yaml'} (Model resnet-trt)",
        "  requirements: tensorrt",
        "  SERVER             LOADS  NODES AFTER THE POLICIES",
        "  triton-gpu         yes    a100-40-1, a100-80-1, l4-1",
        "  mlserver-llm-chat  no     lacks tensorrt",
    ]
    assert model_json(iris) == {
        "model": "seldon-mesh/iris",
        "source": f"{SELDON / 'models.yaml'} (Model iris)",
        "requirements": ["sklearn"],
        "server": "triton-gpu",
        "servers": [
            {
                "server": "triton-gpu",
                "loads": False,
                "missing": ["sklearn"],
                "reason": "lacks sklearn",
                "nodes": WHOLE_GPUS,
            },
            {
                "server": "mlserver-llm-chat",
                "loads": False,
                "missing": [],
                "reason": "not spec.server (triton-gpu)",
                "nodes": WHOLE_GPUS,
            },
        ],
        "problems": ["pinned to Server triton-gpu (spec.server), which lacks sklearn"],
        "notes": [],
    }


def test_manifests_keep_models_out_of_the_pods() -> None:
    manifests = read_seldon_manifests([(model("m"), "m.yaml")], namespace=None)
    assert manifests == Manifests([], [], manifests.models) and len(manifests.models) == 1
