"""Seldon Server and ServerConfig manifests become the Pods the operator's StatefulSets create."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SELDON, bundled_policies, read_manifest_files, validate_pod
from webhook.engine.mutation import review_pod
from webhook.errors import InputError
from webhook.kube.objects import read_pod_facts
from webhook.simulation.seldon import merge_containers, merge_overrides

CONFIGS = str(SELDON / "serverconfigs.yaml")


@pytest.mark.parametrize(
    ("base", "override", "merged"),
    [
        ({"a": 1, "b": {"c": 1}}, {"b": {"d": 2}}, {"a": 1, "b": {"c": 1, "d": 2}}),  # maps merge deeply
        ({"l": [1]}, {"l": [2]}, {"l": [1, 2]}),  # WithAppendSlice
        ({"s": "x"}, {"s": "y"}, {"s": "y"}),  # WithOverride
        (
            {"s": "x", "n": 3, "b": True},
            {"s": "", "n": 0, "b": False},
            {"s": "x", "n": 3, "b": True},
        ),  # empty never overrides
        ({}, {"new": {"k": "v"}}, {"new": {"k": "v"}}),
    ],
)
def test_merge_overrides_like_mergo(
    base: dict[str, Any], override: dict[str, Any], merged: dict[str, Any]
) -> None:
    assert merge_overrides(base, override) == merged


def test_merge_containers_by_name_overrides_first() -> None:
    existing = [
        {"name": "rclone", "image": "r"},
        {"name": "agent", "image": "a"},
        {"name": "triton", "image": "t"},
    ]
    overrides = [
        {"name": "triton", "resources": {"limits": {"nvidia.com/gpu": 1}}},
        {"name": "sidecar", "image": "s"},
    ]
    assert merge_containers(existing, overrides) == [
        {"name": "triton", "image": "t", "resources": {"limits": {"nvidia.com/gpu": 1}}},
        {"name": "sidecar", "image": "s"},
        {"name": "rclone", "image": "r"},
        {"name": "agent", "image": "a"},
    ]


def test_gpu_server_becomes_a_valid_pod_the_gpu_policy_places() -> None:
    [subject] = read_manifest_files([str(SELDON / "server-triton-gpu.yaml"), CONFIGS], namespace=None)
    pod = subject.pod
    validate_pod(pod)
    assert subject.display_name == "seldon-mesh/triton-gpu-0"
    assert subject.source.endswith("server-triton-gpu.yaml (Server triton-gpu)")
    assert pod["metadata"]["labels"] == {
        "app.kubernetes.io/name": "seldon-server",
        "seldon-server-name": "triton-gpu",
    }
    assert [c["name"] for c in pod["spec"]["containers"]] == ["triton", "rclone", "agent"]
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "100m",
        "memory": "8Gi",
        "nvidia.com/gpu": 1,
    }
    assert [t["key"] for t in pod["spec"]["tolerations"]] == [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ]
    facts = read_pod_facts(pod, namespace=subject.namespace)
    assert (facts.server_name, facts.server_type) == ("triton-gpu", "triton")
    assert review_pod(pod, namespace=subject.namespace, policies=bundled_policies()).policy == "gpu-servers"


def test_server_pod_spec_lists_append_and_capabilities_extend() -> None:
    [subject] = read_manifest_files([CONFIGS, str(SELDON / "server-mlserver-llm.yaml")], namespace=None)
    pod = subject.pod
    validate_pod(pod)
    assert pod["metadata"]["labels"]["team"] == "nlp"
    assert pod["spec"]["tolerations"][0]["effect"] == "NoExecute"  # the Server's own, then the defaults
    assert [t["key"] for t in pod["spec"]["tolerations"][1:]] == [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ]
    facts = read_pod_facts(pod, namespace=subject.namespace)
    assert "llm" in facts.capabilities and "sklearn" in facts.capabilities
    assert "nvidia.com/gpu" in facts.requested_resources
    assert review_pod(pod, namespace=subject.namespace, policies=bundled_policies()).policy == "llm-on-a100"


def test_capabilities_replace_the_agent_list(tmp_path: Path) -> None:
    server = tmp_path / "server.yaml"
    server.write_text(
        "apiVersion: mlops.seldon.io/v1alpha1\nkind: Server\nmetadata: {name: s}\n"
        "spec: {serverConfig: mlserver, capabilities: [only-this]}\n"
    )
    [subject] = read_manifest_files([str(server), CONFIGS], namespace="team-a")
    assert subject.namespace == "team-a"
    assert read_pod_facts(subject.pod, namespace="team-a").capabilities == frozenset({"only-this"})


def test_server_configs_alone_stand_for_the_runtime_servers_of_their_name() -> None:
    subjects = read_manifest_files([CONFIGS], namespace="seldon-mesh")
    assert [s.display_name for s in subjects] == ["seldon-mesh/triton-0", "seldon-mesh/mlserver-0"]
    assert subjects[0].source.endswith("serverconfigs.yaml (ServerConfig triton)")
    for subject in subjects:
        validate_pod(subject.pod)


@pytest.mark.parametrize(
    ("server", "message"),
    [
        (
            "spec: {serverConfig: missing}",
            'Server s: ServerConfig "missing" is not among the inputs (add its manifest)',
        ),
        ("spec: {}", "Server s: spec.serverConfig must name a ServerConfig"),
        ("spec: {serverConfig: triton, podSpec: [1]}", "Server s: spec.podSpec must be a mapping"),
    ],
)
def test_unusable_servers_are_input_errors(tmp_path: Path, server: str, message: str) -> None:
    path = tmp_path / "server.yaml"
    path.write_text(f"apiVersion: mlops.seldon.io/v1alpha1\nkind: Server\nmetadata: {{name: s}}\n{server}\n")
    with pytest.raises(InputError) as raised:
        read_manifest_files([str(path), CONFIGS], namespace=None)
    assert str(raised.value) == f"{path}: document 1: {message}"  # the document's index: issue 28


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("kind: Server\nmetadata: {}\nspec: {serverConfig: triton}", "Server without metadata.name"),
        (
            "kind: ServerConfig\nmetadata: {name: ''}\nspec: {podSpec: {}}",
            "ServerConfig without metadata.name",
        ),
        (
            "kind: ServerConfig\nmetadata: {name: c}\nspec: {podSpec: [1]}",
            "ServerConfig: spec.podSpec must be a mapping",
        ),
    ],
)
def test_unnamed_or_shapeless_manifests_are_input_errors(tmp_path: Path, manifest: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"apiVersion: mlops.seldon.io/v1alpha1\n{manifest}\n")
    with pytest.raises(InputError) as raised:
        read_manifest_files([str(path)], namespace=None)
    assert str(raised.value) == f"{path}: document 1: {message}"


@pytest.mark.parametrize(
    ("namespace", "expected"),
    [
        (None, ["seldon-mesh/triton-0", "seldon-mesh/mlserver-0"]),  # their own metadata.namespace
        ("team-a", ["seldon-mesh/triton-0", "seldon-mesh/mlserver-0"]),  # which wins over -n, as for a Server
    ],
)
def test_server_configs_alone_keep_their_namespace(namespace: str | None, expected: list[str]) -> None:
    subjects = read_manifest_files([CONFIGS], namespace=namespace)
    assert [(s.display_name, s.namespace) for s in subjects] == [(e, "seldon-mesh") for e in expected]
    assert [s.pod["metadata"]["namespace"] for s in subjects] == ["seldon-mesh", "seldon-mesh"]


@pytest.mark.parametrize(("namespace", "expected"), [(None, "default/c-0"), ("team-a", "team-a/c-0")])
def test_a_server_config_without_a_namespace_takes_n_else_default(
    tmp_path: Path, namespace: str | None, expected: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "apiVersion: mlops.seldon.io/v1alpha1\nkind: ServerConfig\nmetadata: {name: c}\n"
        "spec: {podSpec: {containers: [{name: agent, image: a}]}}\n"
    )
    [subject] = read_manifest_files([str(path)], namespace=namespace)
    assert subject.display_name == expected
