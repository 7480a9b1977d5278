"""The nodes a simulation runs against, checked as the API server validates a Node: every problem
named at once, each with its field (``webhook/simulation/nodes.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.errors import InputError
from webhook.simulation.nodes import check_nodes, node_problems

GOOD_TAINT = {"key": "gpu", "value": "true", "effect": "NoSchedule"}
EFFECTS = "NoSchedule, PreferNoSchedule, NoExecute"
VALUE = "must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
NAME_PART = "name part " + VALUE


def node(labels: Any = None, taints: Any = None, **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "n"}
    if labels is not None:
        metadata["labels"] = labels
    if taints is not None:
        spec["taints"] = taints
    return {"apiVersion": "v1", "kind": "Node", "metadata": metadata, "spec": spec}


@pytest.mark.parametrize(
    ("labels", "problems"),
    [
        ({}, []),
        ({"pool": "gpu", "example.com/zone": "a", "empty": ""}, []),
        ([], [("metadata.labels", "must be a mapping")]),
        ("pool", [("metadata.labels", "must be a mapping")]),
        ({5: "x"}, [("metadata.labels.5", "key must be a string")]),
        (
            {"-bad": "x", 5: "x"},
            [("metadata.labels.-bad", "key " + NAME_PART), ("metadata.labels.5", "key must be a string")],
        ),
        (
            {"-bad": "x"},
            [("metadata.labels.-bad", "key " + NAME_PART)],
        ),
        ({"pool": 5}, [("metadata.labels.pool", 'must be a string (quote it: "5")')]),
        ({"pool": True}, [("metadata.labels.pool", 'must be a string (quote it: "true")')]),
        ({"pool": False}, [("metadata.labels.pool", 'must be a string (quote it: "false")')]),
        ({"pool": None}, [("metadata.labels.pool", 'must be a string (quote it: "null")')]),
        ({"pool": 1.5}, [("metadata.labels.pool", 'must be a string (quote it: "1.5")')]),
        (
            {"a": 1, "b": "ok", "c": "-x"},
            [
                ("metadata.labels.a", 'must be a string (quote it: "1")'),
                ("metadata.labels.c", VALUE),
            ],
        ),
    ],
)
def test_label_problems(labels: Any, problems: list[tuple[str, str]]) -> None:
    assert node_problems(node(labels)) == problems


@pytest.mark.parametrize(
    ("taints", "problems"),
    [
        ([], []),
        (
            [
                GOOD_TAINT,
                {"key": "gpu", "effect": "NoExecute"},
                {"key": "x", "value": "", "effect": "PreferNoSchedule"},
            ],
            [],
        ),
        ([{"key": "x", "value": None, "effect": "NoSchedule"}], []),  # a null value: no value
        ({"key": "gpu"}, [("spec.taints", "must be a list")]),
        (["gpu"], [("spec.taints[0]", "must be a mapping")]),
        ([GOOD_TAINT, 5], [("spec.taints[1]", "must be a mapping")]),
        ([{"effect": "NoSchedule"}], [("spec.taints[0].key", "required")]),
        ([{"key": "", "effect": "NoSchedule"}], [("spec.taints[0].key", "required")]),
        ([{"key": 5, "effect": "NoSchedule"}], [("spec.taints[0].key", "required")]),
        (
            [{"key": "a b", "effect": "NoSchedule"}],
            [
                (
                    "spec.taints[0].key",
                    NAME_PART,
                )
            ],
        ),
        (
            [{"key": "gpu", "value": 1, "effect": "NoSchedule"}],
            [("spec.taints[0].value", 'must be a string (quote it: "1")')],
        ),
        (
            [{"key": "gpu", "value": True, "effect": "NoSchedule"}],
            [("spec.taints[0].value", 'must be a string (quote it: "true")')],
        ),
        (
            [{"key": "gpu", "value": "a b", "effect": "NoSchedule"}],
            [
                (
                    "spec.taints[0].value",
                    VALUE,
                )
            ],
        ),
        ([{"key": "gpu"}], [("spec.taints[0].effect", f"required: one of {EFFECTS}")]),
        ([{"key": "gpu", "effect": ""}], [("spec.taints[0].effect", f"required: one of {EFFECTS}")]),
        (
            [{"key": "gpu", "effect": "Never"}],
            [("spec.taints[0].effect", f"must be one of {EFFECTS} (got Never)")],
        ),
        (
            [{"key": "gpu", "effect": False}],
            [("spec.taints[0].effect", f"must be one of {EFFECTS} (got false)")],
        ),
        (
            [GOOD_TAINT, {"key": "gpu", "value": "other", "effect": "NoSchedule"}, {**GOOD_TAINT}],
            [
                ("spec.taints[1]", "duplicate of spec.taints[0] (taints are unique by key and effect)"),
                ("spec.taints[2]", "duplicate of spec.taints[0] (taints are unique by key and effect)"),
            ],
        ),
        (
            [{"key": "", "value": 5, "effect": "x"}],
            [
                ("spec.taints[0].key", "required"),
                ("spec.taints[0].value", 'must be a string (quote it: "5")'),
                ("spec.taints[0].effect", f"must be one of {EFFECTS} (got x)"),
            ],
        ),
    ],
)
def test_taint_problems(taints: Any, problems: list[tuple[str, str]]) -> None:
    assert node_problems(node(taints=taints)) == problems


@pytest.mark.parametrize(
    ("spec", "problems"),
    [
        ({"unschedulable": True}, []),
        ({"unschedulable": False}, []),
        ({}, []),
        ({"unschedulable": "true"}, [("spec.unschedulable", "must be true or false")]),
        ({"unschedulable": None}, [("spec.unschedulable", "must be true or false")]),
    ],
)
def test_unschedulable_is_a_boolean(spec: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    assert node_problems(node(**spec)) == problems


def test_labels_taints_and_unschedulable_problems_come_together() -> None:
    bad = node({"pool": 5}, [{"key": "gpu"}], unschedulable=1)
    assert [field for field, _ in node_problems(bad)] == [
        "metadata.labels.pool",
        "spec.taints[0].effect",
        "spec.unschedulable",
    ]
    assert node_problems({"metadata": None, "spec": None}) == []


def test_check_nodes_takes_v1_nodes_and_list_items_without_kind() -> None:
    first, second = node({"pool": "gpu"}), {"metadata": {"name": "m"}}
    assert check_nodes([(first, "document 1"), (second, "items[0]")], source="n.yaml") == [first, second]


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([], "n.yaml: no nodes"),
        (
            [({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}, "document 1")],
            'n.yaml: document 1 is not a Node (kind "Pod", apiVersion "v1")',
        ),
        (
            [({"apiVersion": "v2", "kind": "Node", "metadata": {"name": "p"}}, "document 1")],
            'n.yaml: document 1 is not a Node (kind "Node", apiVersion "v2")',
        ),
        (
            [({"kind": "Node", "metadata": {"name": ""}}, "document 1"), ({"metadata": {}}, "items[1]")],
            "n.yaml: document 1 is not a Node with a metadata.name\nn.yaml: items[1] is not a Node with a metadata.name",
        ),
        (
            [(node(), "document 1"), (node(), "document 2"), (node(), "document 3")],
            "n.yaml: document 2: node n appears twice (first in document 1)\n"
            "n.yaml: document 3: node n appears twice (first in document 1)",
        ),
        (
            [(node({"pool": 5}, unschedulable="no"), "document 1")],
            'n.yaml: document 1 (Node n): metadata.labels.pool: must be a string (quote it: "5")\n'
            "n.yaml: document 1 (Node n): spec.unschedulable: must be true or false",
        ),
    ],
)
def test_unusable_nodes_are_named_all_at_once(documents: list[tuple[Any, str]], message: str) -> None:
    with pytest.raises(InputError) as caught:
        check_nodes(documents, source="n.yaml")
    assert str(caught.value) == message
