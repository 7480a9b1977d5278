"""The built-in admission plugins that run before the webhook, as far as placement is concerned."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import minimal_pod
from webhook.simulation.admission_plugins import (
    add_default_tolerations,
    add_extended_resource_tolerations,
    extended_resources,
    is_extended_resource,
)


@pytest.mark.parametrize(
    ("name", "extended"),
    [
        ("nvidia.com/gpu", True),
        ("nvidia.com/mig-1g.5gb", True),
        ("amd.com/gpu", True),
        ("cpu", False),
        ("memory", False),
        ("hugepages-2Mi", False),
        ("kubernetes.io/something", False),
        ("example.kubernetes.io/x", False),
        ("requests.nvidia.com/gpu", False),
        ("Not_A/Name!", False),
    ],
)
def test_is_extended_resource(name: str, extended: bool) -> None:
    assert is_extended_resource(name) is extended


def containers(*resources: dict[str, Any], init: dict[str, Any] | None = None) -> dict[str, Any]:
    pod = minimal_pod(
        containers=[{"name": f"c{i}", "image": "i", "resources": r} for i, r in enumerate(resources)]
    )
    if init is not None:
        pod["spec"]["initContainers"] = [{"name": "init", "image": "i", "resources": init}]
    return pod


def test_extended_resources_come_from_requests_limits_and_init_containers_sorted() -> None:
    pod = containers(
        {"requests": {"nvidia.com/gpu": "1", "cpu": "1"}},
        {"limits": {"example.com/fpga": "2"}},  # defaulted into requests by the API server
        init={"requests": {"amd.com/gpu": "1"}},
    )
    assert extended_resources(pod) == ["amd.com/gpu", "example.com/fpga", "nvidia.com/gpu"]


def test_extended_resource_toleration_adds_one_noschedule_exists_per_resource() -> None:
    pod = containers({"requests": {"nvidia.com/gpu": "1", "nvidia.com/mig-1g.5gb": "1"}})
    result = add_extended_resource_tolerations(pod)
    assert result["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "nvidia.com/mig-1g.5gb", "operator": "Exists", "effect": "NoSchedule"},
    ]
    assert "tolerations" not in pod["spec"]  # the input is never modified
    assert add_extended_resource_tolerations(result) == result  # AddOrUpdateTolerationInPod: no duplicate


def test_extended_resource_toleration_leaves_pods_without_extended_resources_alone() -> None:
    pod = containers({"requests": {"cpu": "1"}})
    assert add_extended_resource_tolerations(pod) is pod


@pytest.mark.parametrize(
    ("tolerations", "added_keys"),
    [
        ([], ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]),
        (
            [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}],
            ["node.kubernetes.io/unreachable"],
        ),
        ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}], ["node.kubernetes.io/not-ready"]),
        ([{"operator": "Exists"}], []),
        (
            [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}],
            ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"],
        ),
    ],
)
def test_default_toleration_seconds(tolerations: list[dict[str, Any]], added_keys: list[str]) -> None:
    result = add_default_tolerations(minimal_pod(tolerations=tolerations))
    added = result["spec"]["tolerations"][len(tolerations) :]
    assert [t["key"] for t in added] == added_keys
    assert all(t["effect"] == "NoExecute" and t["tolerationSeconds"] == 300 for t in added)


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
def test_default_toleration_seconds_by_key_and_effect(
    existing: list[dict[str, Any]], added: list[dict[str, Any]]
) -> None:
    assert (
        add_default_tolerations(minimal_pod(tolerations=existing))["spec"]["tolerations"] == existing + added
    )
