"""Seldon Server and ServerConfig manifests become the Pods the operator's StatefulSets create."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SELDON, bundled_policies, minimal_pod, read_manifest_files, validate_pod
from webhook.engine.mutation import review_pod
from webhook.errors import InputError
from webhook.kube.objects import read_pod_facts
from webhook.simulation.seldon import (
    _is_empty,
    is_seldon_manifest,
    merge_containers,
    merge_overrides,
    read_seldon_manifests,
    server_pod,
)

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


@pytest.mark.parametrize(
    ("doc", "seldon"),
    [
        ({"kind": "Server", "apiVersion": "mlops.seldon.io/v1alpha1"}, True),
        ({"kind": "ServerConfig", "apiVersion": "mlops.seldon.io/v1alpha1"}, True),
        ({"kind": "Server", "apiVersion": "apps/v1"}, False),
        ({"kind": "Server"}, False),
        ({"kind": "Pod", "apiVersion": "mlops.seldon.io/v1alpha1"}, False),
        ({"apiVersion": "mlops.seldon.io/v1alpha1"}, False),
        ([], False),
    ],
)
def test_is_seldon_manifest(doc: Any, seldon: bool) -> None:
    assert is_seldon_manifest(doc) is seldon


@pytest.mark.parametrize(
    ("value", "empty"),
    [(None, True), ("", True), (False, True), (0, True), ({}, True), ([], True), (True, False), ("x", False)],
)
def test_mergo_empty_values(value: Any, empty: bool) -> None:
    assert _is_empty(value) is empty


@pytest.mark.parametrize(
    ("base", "override", "merged"),
    [
        ({"a": 1, "b": {"c": 1}}, {"b": {"d": 2}, "e": 3}, {"a": 1, "b": {"c": 1, "d": 2}, "e": 3}),
        ([1], [2], [1, 2]),
        ({"a": 1}, [2], [2]),  # different kinds: the non-empty override wins
        ([1], {"a": 2}, {"a": 2}),
        ([1], {}, [1]),
        ({"a": 1}, [], {"a": 1}),
        ("x", "", "x"),
        ("x", "y", "y"),
    ],
)
def test_merge_overrides(base: Any, override: Any, merged: Any) -> None:
    assert merge_overrides(base, override) == merged


def _config(env: list[dict[str, Any]], **metadata: Any) -> dict[str, Any]:
    return {
        "kind": "ServerConfig",
        "metadata": {"name": "cfg", **metadata},
        "spec": {"podSpec": {"containers": [{"name": "agent", "env": env}]}},
    }


@pytest.mark.parametrize(
    ("server_spec", "env", "value"),
    [
        ({"capabilities": ["a", "b"]}, [{"name": "SELDON_SERVER_CAPABILITIES", "value": "x"}], "a,b"),
        ({"extraCapabilities": ["a", "b"]}, [{"name": "SELDON_SERVER_CAPABILITIES", "value": "x"}], "x,a,b"),
        ({"extraCapabilities": ["a"]}, [{"name": "SELDON_SERVER_CAPABILITIES"}], ",a"),
        ({}, [{"name": "SELDON_SERVER_CAPABILITIES", "value": "x"}], "x"),
    ],
)
def test_server_capabilities(server_spec: dict[str, Any], env: list[dict[str, Any]], value: str) -> None:
    server = {"kind": "Server", "metadata": {"name": "s"}, "spec": server_spec}
    pod = server_pod(server, _config(env), namespace="ns", source="f.yaml")
    [agent] = pod["spec"]["containers"]
    assert agent["env"] == [{"name": "SELDON_SERVER_CAPABILITIES", "value": value}]


def test_server_pod_metadata_merges_config_and_server() -> None:
    config = _config([], labels={"a": "config", "b": "config"}, annotations={"n": "config"})
    server = {"kind": "Server", "metadata": {"name": "s", "labels": {"b": "server"}}, "spec": {}}
    pod = server_pod(server, config, namespace="ns", source="f.yaml")
    assert pod["metadata"] == {
        "name": "s-0",
        "generateName": "s-",
        "namespace": "ns",
        "labels": {
            "a": "config",
            "b": "server",
            "app.kubernetes.io/name": "seldon-server",
            "seldon-server-name": "s",
        },
        "annotations": {"n": "config"},
    }


def test_server_pod_spec_override_merges_into_the_config() -> None:
    config = {
        "metadata": {"name": "cfg"},
        "spec": {"podSpec": {"nodeSelector": {"a": "1"}, "containers": [{"name": "agent", "image": "i"}]}},
    }
    override = {"nodeSelector": {"b": "2"}, "containers": [{"name": "agent", "image": "j"}, {"name": "x"}]}
    server = {"metadata": {"name": "s"}, "spec": {"podSpec": override}}
    spec = server_pod(server, config, namespace="ns", source="f.yaml")["spec"]
    assert spec["nodeSelector"] == {"a": "1", "b": "2"}
    assert spec["containers"] == [{"name": "agent", "image": "j"}, {"name": "x"}]


def test_a_server_config_without_pod_spec_is_one_clean_error() -> None:
    with pytest.raises(InputError, match=r"^f\.yaml: ServerConfig: spec\.podSpec must be a mapping$"):
        server_pod({"metadata": {"name": "s"}}, {"spec": {}}, namespace="ns", source="f.yaml")


def _pod_doc(name: str, namespace: str | None = None) -> dict[str, Any]:
    pod = minimal_pod()
    pod["metadata"] = {"name": name} | ({"namespace": namespace} if namespace else {})
    return pod


def _deployment(namespace: str | None) -> dict[str, Any]:
    metadata = {"name": "web"} | ({"namespace": namespace} if namespace else {})
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {"template": template},
    }


def test_minus_n_is_for_objects_without_a_namespace_and_a_mismatch_is_said() -> None:
    namespace_doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    documents = [
        (namespace_doc, "a.yaml"),
        (_pod_doc("bare"), "a.yaml"),
        (_pod_doc("own", "team-b"), "a.yaml"),
        (_deployment(None), "b.yaml"),
        (_deployment("team-c"), "b.yaml"),
    ]
    manifests = read_seldon_manifests(documents, namespace="team-a")
    assert [(s.display_name, s.namespace, s.source) for s in manifests.subjects] == [
        ("team-a/bare", "team-a", "a.yaml"),
        ("team-b/own", "team-b", "a.yaml"),
        ("team-a/web-*", "team-a", "b.yaml (Deployment web)"),
        ("team-c/web-*", "team-c", "b.yaml (Deployment web)"),
    ]
    assert manifests.subjects[1].pod is documents[2][0]
    assert manifests.warnings == [
        "a.yaml: document 3: Pod team-b/own is in namespace team-b (its own metadata.namespace), not -n team-a:"
        " -n applies only to objects without one (kubectl refuses such a mismatch)",
        "b.yaml: document 2: Deployment team-c/web is in namespace team-c (its own metadata.namespace), not -n"
        " team-a: -n applies only to objects without one (kubectl refuses such a mismatch)",
    ]
    without = read_seldon_manifests(documents, namespace=None)
    assert without.warnings == [] and [s.namespace for s in without.subjects] == [
        "default",
        "team-b",
        "default",
        "team-c",
    ]
