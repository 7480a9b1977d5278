"""Reading raw objects and building patches: the cases mutation testing found unpinned (docs/mutation.md)."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.kube.objects import (
    escape_pointer,
    is_nonzero_quantity,
    pod_display_name,
    read_pod_facts,
    string_labels,
)
from webhook.kube.patches import PatchBuilder, json_pointer
from webhook.kube.tolerations import describe_toleration


@pytest.mark.parametrize(
    ("token", "escaped"),
    [
        ("plain", "plain"),
        ("a/b", "a~1b"),
        ("a~b", "a~0b"),
        ("~/", "~0~1"),  # "~" first, so the "~" of "~1" is not escaped again (RFC 6901 section 4)
        ("seldon.io/placement-policy", "seldon.io~1placement-policy"),
    ],
)
def test_escape_pointer_as_rfc_6901(token: str, escaped: str) -> None:
    assert escape_pointer(token) == escaped


def test_json_pointer_escapes_every_part() -> None:
    assert json_pointer(("metadata", "annotations", "a/b~c", 0)) == "/metadata/annotations/a~1b~0c/0"


def test_string_labels_keep_only_string_keys_and_values() -> None:
    labels = {"a": "x", "n": 5, 7: "seven", "b": None}
    assert string_labels({"metadata": {"labels": labels}}) == {"a": "x"}


@pytest.mark.parametrize(
    ("quantity", "nonzero"),
    [
        ("1", True),
        ("2Gi", True),
        ("500m", True),
        ("0", False),
        ("0Gi", False),
        ("0.0Mi", False),
        ("0.5", True),
        ("0.5Gi", True),  # the suffix is dropped, not parsed
        ("0.5Ki", True),
        ("0.5Ei", True),
        ("0.5k", True),
        ("0.5E", True),
        ("0.5e", True),  # a dangling exponent marker is dropped too
        (" 0.5 ", True),
        ("0.5X", False),  # unparsable counts as zero
        ("-1", True),
        ("", False),
        ("x", False),
        (0, False),
        (3, True),
        (0.0, False),
        (0.25, True),
        (True, False),
        (None, False),
    ],
)
def test_is_nonzero_quantity(quantity: Any, nonzero: bool) -> None:
    assert is_nonzero_quantity(quantity) is nonzero


def _agent_pod(env: list[Any], labels: dict[Any, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels or {}},
        "spec": {"containers": [{"name": "agent", "env": env}]},
    }


def test_a_non_string_env_value_or_server_label_is_no_fact() -> None:
    facts = read_pod_facts(
        _agent_pod([{"name": "SELDON_SERVER_TYPE", "value": 5}], {"seldon-server-name": 3}), namespace="ns"
    )
    assert facts.server_type is None
    assert facts.server_name is None
    assert facts.namespace == "ns"


def test_string_env_value_and_server_label_are_read() -> None:
    facts = read_pod_facts(
        _agent_pod([{"name": "SELDON_SERVER_TYPE", "value": "triton"}], {"seldon-server-name": "t"}),
        namespace="ns",
    )
    assert (facts.server_type, facts.server_name) == ("triton", "t")


@pytest.mark.parametrize(
    ("env", "server_type", "capabilities"),
    [
        (
            [
                {"name": "SELDON_SERVER_TYPE", "value": "mlserver"},
                {"name": "SELDON_SERVER_CAPABILITIES", "value": "sklearn"},
                {"name": "SELDON_SERVER_TYPE", "value": "triton"},
                {"name": "SELDON_SERVER_CAPABILITIES", "value": "onnx,gpu"},
            ],
            "triton",
            {"onnx", "gpu"},
        ),
        (  # the last one is not a literal: the value the container gets is unknown at admission
            [
                {"name": "SELDON_SERVER_TYPE", "value": "mlserver"},
                {"name": "SELDON_SERVER_TYPE", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
                {"name": "SELDON_SERVER_CAPABILITIES", "value": "gpu"},
                {"name": "SELDON_SERVER_CAPABILITIES", "value": ""},
            ],
            None,
            set(),
        ),
    ],
)
def test_a_repeated_env_name_has_its_last_value_as_in_the_container(
    env: list[Any], server_type: str | None, capabilities: set[str]
) -> None:
    """The kubelet applies env entries in order, so the container sees the last of a repeated name."""
    facts = read_pod_facts(_agent_pod(env), namespace="ns")
    assert (facts.server_type, facts.capabilities) == (server_type, capabilities)


@pytest.mark.parametrize(
    ("metadata", "namespace", "shown"),
    [
        ({"name": "p"}, "ns", "ns/p"),
        ({"name": "p", "generateName": "g-"}, "ns", "ns/p"),
        ({"generateName": "g-"}, "ns", "ns/g-*"),
        ({"name": "", "generateName": "g-"}, "ns", "ns/g-*"),
        ({"name": 5, "generateName": "g-"}, "ns", "ns/g-*"),
        ({"generateName": ""}, "ns", "ns/<unnamed>"),
        ({"generateName": 5}, "ns", "ns/<unnamed>"),
        ({}, "ns", "ns/<unnamed>"),
        ({"name": "p"}, "", "p"),
        ({}, "", "<unnamed>"),
    ],
)
def test_pod_display_name(metadata: dict[str, Any], namespace: str, shown: str) -> None:
    assert pod_display_name({"metadata": metadata}, namespace=namespace) == shown


def test_describe_an_equal_toleration_without_value() -> None:
    assert describe_toleration({"key": "k", "operator": "Equal", "effect": "NoSchedule"}) == "k=:NoSchedule"
    assert describe_toleration({"key": "k", "effect": "NoSchedule"}) == "k=:NoSchedule"


def test_get_does_not_follow_a_string_into_a_list_or_an_index_past_its_end() -> None:
    builder = PatchBuilder({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}})
    assert builder.get(("spec", "tolerations", 1, "key")) == "b"
    assert builder.get(("spec", "tolerations", 2)) is None
    assert builder.get(("spec", "tolerations", -1)) is None
    assert builder.get(("spec", "tolerations", "key")) is None


def test_put_into_a_pod_without_metadata_creates_it_in_one_op() -> None:
    original: dict[str, Any] = {"spec": {}}
    builder = PatchBuilder(original)
    builder.put(("metadata", "annotations"), "k", "v")
    assert builder.result == {"spec": {}, "metadata": {"annotations": {"k": "v"}}}
    assert builder.ops == [{"op": "add", "path": "/metadata", "value": {"annotations": {"k": "v"}}}]
    assert original == {"spec": {}}


def test_put_under_an_affinity_that_is_a_list_replaces_it_with_an_object() -> None:
    original: dict[str, Any] = {"spec": {"affinity": []}}
    builder = PatchBuilder(original)
    builder.put(("spec", "affinity", "nodeAffinity"), "k", "v")
    assert builder.result == {"spec": {"affinity": {"nodeAffinity": {"k": "v"}}}}
    assert builder.ops == [{"op": "add", "path": "/spec/affinity", "value": {"nodeAffinity": {"k": "v"}}}]
    assert original == {"spec": {"affinity": []}}


def test_put_through_an_index_past_the_end_of_a_list_leaves_the_original_alone() -> None:
    original: dict[str, Any] = {"a": [{"x": 1}]}
    builder = PatchBuilder(original)
    builder.put(("a", 1), "k", "v")
    assert original == {"a": [{"x": 1}]}
    assert len(builder.ops) == 1


def test_containers_on_the_way_are_copied_once() -> None:
    original: dict[str, Any] = {"spec": {"nodeSelector": {"old": "1"}}}
    builder = PatchBuilder(original)
    builder.put(("spec", "nodeSelector"), "a", "1")
    spec, selector = builder.result["spec"], builder.result["spec"]["nodeSelector"]
    builder.put(("spec", "nodeSelector"), "b", "2")
    assert builder.result["spec"] is spec
    assert builder.result["spec"]["nodeSelector"] is selector
    assert selector == {"old": "1", "a": "1", "b": "2"}
    assert original == {"spec": {"nodeSelector": {"old": "1"}}}


def test_appending_twice_to_a_list_an_op_creates_extends_that_op() -> None:
    builder = PatchBuilder({"spec": {}})
    builder.append(("spec", "tolerations"), [{"key": "a"}])
    builder.append(("spec", "tolerations"), [{"key": "b"}])
    assert builder.ops == [{"op": "add", "path": "/spec/tolerations", "value": [{"key": "a"}, {"key": "b"}]}]


def test_appending_to_an_existing_list_adds_one_op_per_item() -> None:
    builder = PatchBuilder({"spec": {"tolerations": [{"key": "x"}]}})
    builder.append(("spec", "tolerations"), [{"key": "a"}, {"key": "b"}])
    assert builder.ops == [
        {"op": "add", "path": "/spec/tolerations/-", "value": {"key": "a"}},
        {"op": "add", "path": "/spec/tolerations/-", "value": {"key": "b"}},
    ]
