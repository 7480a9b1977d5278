"""Admission plugins, Seldon manifests and node files: cases mutation testing found unpinned (docs/mutation.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import minimal_pod
from webhook.errors import InputError
from webhook.simulation.admission_plugins import add_default_tolerations, add_extended_resource_tolerations
from webhook.simulation.nodes import check_nodes
from webhook.simulation.seldon import _is_empty, is_seldon_manifest, merge_overrides, server_pod

GPU = "example.com/gpu"
ERT = {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}


def _gpu_pod(tolerations: list[dict[str, Any]]) -> dict[str, Any]:
    pod = minimal_pod(tolerations=tolerations)
    pod["spec"]["containers"][0]["resources"] = {"requests": {GPU: "1"}}
    return pod


@pytest.mark.parametrize(
    ("existing", "added"),
    [
        (ERT, False),  # MatchToleration: same key, effect, operator and value
        ({**ERT, "tolerationSeconds": 5}, False),  # tolerationSeconds is not part of the identity
        ({"key": "other.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, True),
        ({"operator": "Exists", "effect": "NoSchedule"}, True),  # an empty key is another identity
        ({"key": GPU, "operator": "Exists"}, True),
        ({"key": GPU, "operator": "Exists", "effect": "NoExecute"}, True),
        ({"key": GPU, "operator": "Equal", "effect": "NoSchedule"}, True),
        ({"key": GPU, "effect": "NoSchedule"}, True),
        ({"key": GPU, "operator": "Exists", "effect": "NoSchedule", "value": "v"}, True),
        ({"key": GPU, "operator": "Exists", "effect": "NoSchedule", "value": ""}, False),
    ],
)
def test_extended_resource_toleration_identity(existing: dict[str, Any], added: bool) -> None:
    result = add_extended_resource_tolerations(_gpu_pod([existing]))
    assert result["spec"]["tolerations"] == ([existing, ERT] if added else [existing])


NOT_READY = {
    "key": "node.kubernetes.io/not-ready",
    "operator": "Exists",
    "effect": "NoExecute",
    "tolerationSeconds": 300,
}
UNREACHABLE = {
    "key": "node.kubernetes.io/unreachable",
    "operator": "Exists",
    "effect": "NoExecute",
    "tolerationSeconds": 300,
}


@pytest.mark.parametrize(
    ("existing", "added"),
    [
        ([], [NOT_READY, UNREACHABLE]),
        (
            [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}],
            [UNREACHABLE],
        ),
        ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}], [UNREACHABLE]),  # any effect
        ([{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}], [NOT_READY, UNREACHABLE]),
        ([{"operator": "Exists"}], []),  # an empty key tolerates both
        ([{"operator": "Exists", "effect": "NoExecute"}], []),
        ([{"operator": "Exists", "effect": "NoSchedule"}], [NOT_READY, UNREACHABLE]),
    ],
)
def test_default_toleration_seconds(existing: list[dict[str, Any]], added: list[dict[str, Any]]) -> None:
    assert (
        add_default_tolerations(minimal_pod(tolerations=existing))["spec"]["tolerations"] == existing + added
    )


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


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([], "n.yaml: no nodes"),
        (
            [{"kind": "Node", "metadata": {"name": ""}}],
            "n.yaml: document 1 is not a Node with a metadata.name",
        ),
        (
            [{"kind": "Node", "metadata": {"name": 5}}],
            "n.yaml: document 1 is not a Node with a metadata.name",
        ),
        ([{"kind": "Node", "metadata": {}}], "n.yaml: document 1 is not a Node with a metadata.name"),
    ],
)
def test_unusable_node_documents(documents: list[Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        check_nodes([(d, f"document {i}") for i, d in enumerate(documents, start=1)], source="n.yaml")
    assert str(caught.value) == message
