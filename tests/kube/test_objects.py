"""Reading raw objects: JSON Pointer tokens, labels, quantities, Pod facts and display names."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.kube.objects import (
    _cached,
    escape_pointer,
    is_nonzero_quantity,
    pod_display_name,
    read_pod_facts,
    requested_resources,
    string_labels,
)


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


@pytest.mark.parametrize(
    ("resources", "requested"),
    [
        ([{"requests": {"a.com/x": "1"}}], {"a.com/x"}),  # requests alone count
        ([{"limits": {"a.com/x": "1"}}], {"a.com/x"}),  # limits alone count
        ([{"requests": {"a.com/x": "1"}, "limits": {"b.com/y": "2"}}], {"a.com/x", "b.com/y"}),
        ([None, {"requests": {"a.com/x": "1"}}], {"a.com/x"}),  # a container without resources is skipped
        (["x", {"limits": {"a.com/x": "1"}}, {"requests": {"b.com/y": "1"}}], {"a.com/x", "b.com/y"}),
        ([{"requests": ["a.com/x"]}, {"Requests": {"b.com/y": "1"}}], set()),
        ([], set()),
    ],
)
def test_requested_resources_of_every_container(resources: list[Any], requested: set[str]) -> None:
    assert requested_resources(resources) == requested


def test_a_cached_fact_is_computed_once_and_kept_under_its_name() -> None:
    calls: list[int] = []

    class Facts:
        @_cached
        def answer(self) -> int:
            """The answer, counted."""
            calls.append(1)
            return 42

    facts = Facts()
    assert (facts.answer, facts.answer, len(calls)) == (42, 42, 1)
    assert facts.__dict__ == {"answer": 42}
    assert Facts.__dict__["answer"].__doc__ == "The answer, counted."
    assert Facts().answer == 42 and len(calls) == 2  # per instance
