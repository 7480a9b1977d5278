"""Input files as strict as the API server: every object states apiVersion and kind (v1 for Pods,
Nodes and Namespaces), Nodes' labels and taints as ``ValidateNode`` takes them, every problem
named with file, document and field (issue 28)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import NODES
from webhook.cli.files import read_nodes, read_subjects
from webhook.cli.main import main
from webhook.errors import InputError

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {seldon-server-name: s}}\nspec: {containers: [{name: a, image: a}]}\n"


def node(name: str, spec: str = "{}", labels: str = "{}") -> str:
    return f"apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {labels}}}\nspec: {spec}\n"


def error_of(tmp_path: Path, text: str, *, nodes: bool) -> str:
    path = tmp_path / "in.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_nodes(str(path)) if nodes else read_subjects(str(path))
    return str(caught.value).replace(f"{path}: ", "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            node("n", labels="{pool: 5}"),
            'document 1 (Node n): metadata.labels.pool: must be a string (quote it: "5")',
        ),
        (
            node("n", labels="{gpu: true}"),
            'document 1 (Node n): metadata.labels.gpu: must be a string (quote it: "true")',
        ),
        (
            node("n", labels="{pool: 'a b'}"),
            "document 1 (Node n): metadata.labels.pool: must be at most 63 characters of alphanumerics,"
            " '-', '_' or '.', starting and ending with an alphanumeric",
        ),
        (
            node("n", "{taints: [{key: gpu, effect: Sometimes}]}"),
            "document 1 (Node n): spec.taints[0].effect: must be one of NoSchedule, PreferNoSchedule, NoExecute"
            " (got Sometimes)",
        ),
        (
            node("n", "{taints: [{key: gpu}]}"),
            "document 1 (Node n): spec.taints[0].effect: required: one of NoSchedule, PreferNoSchedule, NoExecute",
        ),
        (
            node("n", "{taints: [{key: 'bad key', effect: NoSchedule}]}"),
            "document 1 (Node n): spec.taints[0].key: name part must be at most 63 characters of"
            " alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        ),
        (node("n", "{taints: [{effect: NoSchedule}]}"), "document 1 (Node n): spec.taints[0].key: required"),
        (
            node("n", "{taints: [{key: gpu, value: 1, effect: NoSchedule}]}"),
            'document 1 (Node n): spec.taints[0].value: must be a string (quote it: "1")',
        ),
        (
            node("n", "{taints: [{key: gpu, effect: NoSchedule}, {key: gpu, value: x, effect: NoSchedule}]}"),
            "document 1 (Node n): spec.taints[1]: duplicate of spec.taints[0] (taints are unique by key and effect)",
        ),
        (
            node("n", "{unschedulable: 'yes'}"),
            "document 1 (Node n): spec.unschedulable: must be true or false",
        ),
        ("apiVersion: v1\nkind: List\nitems: []\n", "no objects: its List has no items"),
        (
            "apiVersion: v1\nkind: List\nitems: [{metadata: {name: n}}]\n",
            "document 1 items[0]: apiVersion: required (every object states its apiVersion and kind,"
            " as kubectl apply requires)",
        ),
        (
            node("a") + "---\nmetadata: {name: b}\n",
            "document 2: apiVersion: required (every object states its apiVersion and kind, as kubectl apply requires)",
        ),
        (node("a").replace("v1", "v2"), "document 1 (Node a): apiVersion: must be v1 for kind Node (got v2)"),
    ],
)
def test_a_nodes_file_is_as_strict_as_the_api_server(tmp_path: Path, text: str, message: str) -> None:
    assert error_of(tmp_path, text, nodes=True) == message


def test_every_problem_of_a_nodes_file_at_once(tmp_path: Path) -> None:
    text = (
        node("a", "{taints: [{key: g, effect: Sometimes}]}", "{pool: 5}")
        + "---\n"
        + node("b", labels="{x: 1}")
    )
    assert error_of(tmp_path, text, nodes=True).splitlines() == [
        'document 1 (Node a): metadata.labels.pool: must be a string (quote it: "5")',
        "document 1 (Node a): spec.taints[0].effect: must be one of NoSchedule, PreferNoSchedule, NoExecute (got Sometimes)",
        'document 2 (Node b): metadata.labels.x: must be a string (quote it: "1")',
    ]


def test_items_of_a_typed_list_are_what_the_list_says() -> None:
    """The API server's NodeList and PodList items carry no kind: they are Nodes and Pods."""
    nodes, _ = read_nodes(str(NODES / "gpu-pools.yaml"))
    assert nodes and all(n["kind"] == "Node" for n in nodes)


def test_a_typed_pod_list_without_kinds_is_read(tmp_path: Path) -> None:
    path = tmp_path / "pods.yaml"
    path.write_text("apiVersion: v1\nkind: PodList\nitems: [{metadata: {name: p}, spec: {containers: []}}]\n")
    [subject] = read_subjects(str(path))
    assert (subject.pod["apiVersion"], subject.pod["kind"], subject.display_name) == (
        "v1",
        "Pod",
        "default/p",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (POD.replace("v1", "v2"), "document 1 (Pod p): apiVersion: must be v1 for kind Pod (got v2)"),
        (
            POD + "---\n" + POD.replace("kind: Pod\n", ""),
            "document 2: kind: required (every object states its apiVersion and kind, as kubectl apply requires)",
        ),
        ("apiVersion: v1\nkind: PodList\nitems: []\n", "no objects: its List has no items"),
        ("- a\n", "document 1: not a mapping (a Kubernetes object)"),
    ],
)
def test_a_pod_file_is_as_strict_as_the_api_server(tmp_path: Path, text: str, message: str) -> None:
    assert error_of(tmp_path, text, nodes=False) == message


def test_review_and_simulate_exit_2_naming_the_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pods = tmp_path / "pods.yaml"
    pods.write_text(POD.replace("apiVersion: v1", "apiVersion: v2"))
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(node("n", labels="{pool: 5}"))
    assert main(["review", str(pods)]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {pods}: document 1 (Pod p): apiVersion: must be v1 for kind Pod (got v2)\n"
    )
    pods.write_text(POD)
    assert main(["simulate", str(pods), "--nodes", str(nodes)]) == 2
    assert capsys.readouterr().err == (
        f'error: {nodes}: document 1 (Node n): metadata.labels.pool: must be a string (quote it: "5")\n'
    )
