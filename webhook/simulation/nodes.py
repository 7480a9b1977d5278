"""The nodes a simulation runs against, from the documents of a file or a list the cluster returned.

Nodes stay the plain dicts the API server returns (``kubectl get nodes -o yaml`` output works as
is). What the simulation reads is checked as the API server validates a Node
(``ValidateNode``): label keys qualified names and values label values (strings: ``pool: 5`` is a
YAML number, refused, not taken as "no label"); each taint a qualified-name key, a label-value
value and an effect NoSchedule, PreferNoSchedule or NoExecute, unique by key and effect;
``unschedulable`` true or false. Every problem is named at once, each as
``file: document N (Node name): field: problem``.
"""

from __future__ import annotations

from typing import Any

from webhook.errors import InputError, shown
from webhook.kube.objects import RawObject, as_dict
from webhook.kube.selectors import label_value_error, qualified_name_error

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _label_problems(labels: Any) -> list[tuple[str, str]]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [("metadata.labels", "must be a mapping")]
    problems = []
    for key, value in labels.items():
        field = f"metadata.labels.{key}"
        if not isinstance(key, str):
            problems.append((field, "key must be a string"))
        elif (problem := qualified_name_error(key)) is not None:
            problems.append((field, "key " + problem))
        elif not isinstance(value, str):
            problems.append((field, f'must be a string (quote it: "{_yaml_scalar(value)}")'))
        elif (problem := label_value_error(value)) is not None:
            problems.append((field, problem))
    return problems


def _yaml_scalar(value: Any) -> str:
    """A scalar as YAML wrote it, near enough to show the quoted form (``5``, ``true``, ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _taint_problems(taints: Any) -> list[tuple[str, str]]:
    if taints is None:
        return []
    if not isinstance(taints, list):
        return [("spec.taints", "must be a list")]
    problems: list[tuple[str, str]] = []
    seen: dict[tuple[Any, Any], int] = {}
    for i, taint in enumerate(taints):
        field = f"spec.taints[{i}]"
        if not isinstance(taint, dict):
            problems.append((field, "must be a mapping"))
            continue
        key, value, effect = taint.get("key"), taint.get("value", ""), taint.get("effect")
        if not isinstance(key, str) or not key:
            problems.append((f"{field}.key", "required"))
        elif (problem := qualified_name_error(key)) is not None:
            problems.append((f"{field}.key", problem))
        if value is not None and not isinstance(value, str):
            problems.append((f"{field}.value", f'must be a string (quote it: "{_yaml_scalar(value)}")'))
        elif value and (problem := label_value_error(value)) is not None:
            problems.append((f"{field}.value", problem))
        effects = ", ".join(TAINT_EFFECTS)
        if effect is None or effect == "":
            problems.append((f"{field}.effect", f"required: one of {effects}"))
        elif effect not in TAINT_EFFECTS:
            problems.append((f"{field}.effect", f"must be one of {effects} (got {_yaml_scalar(effect)})"))
        elif (key, effect) in seen:
            first = seen[(key, effect)]
            problems.append(
                (field, f"duplicate of spec.taints[{first}] (taints are unique by key and effect)")
            )
        seen.setdefault((key, effect), i)
    return problems


def node_problems(node: RawObject) -> list[tuple[str, str]]:
    """(field, problem) for everything of ``node`` the API server would refuse and we read."""
    spec = as_dict(node.get("spec"))
    problems = _label_problems(as_dict(node.get("metadata")).get("labels"))
    problems += _taint_problems(spec.get("taints"))
    if "unschedulable" in spec and not isinstance(spec["unschedulable"], bool):
        problems.append(("spec.unschedulable", "must be true or false"))
    return problems


def check_nodes(documents: list[tuple[Any, str]], *, source: str) -> list[RawObject]:
    """The ``(document, where)`` pairs as Nodes (``where``: ``document 2``, ``items[3]``);
    ``InputError`` naming every problem: anything but a v1 Node, a nameless node, a duplicate name,
    a field the API server would refuse. Items of a cluster's list carry no kind (a file's
    documents always do, ``locate_documents`` requires it)."""
    nodes: list[RawObject] = []
    seen: dict[str, str] = {}
    problems: list[str] = []
    for doc, where in documents:
        obj = as_dict(doc)
        kind, version = obj.get("kind"), obj.get("apiVersion")
        if kind not in ("Node", None) or version not in ("v1", None):
            what = f"kind {shown(kind)}, apiVersion {shown(version)}"
            problems.append(f"{source}: {where} is not a Node ({what})")
            continue
        name = as_dict(obj.get("metadata")).get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"{source}: {where} is not a Node with a metadata.name")
            continue
        if name in seen:
            problems.append(f"{source}: {where}: node {name} appears twice (first in {seen[name]})")
            continue
        seen[name] = where
        problems += [f"{source}: {where} (Node {name}): {f}: {p}" for f, p in node_problems(obj)]
        nodes.append(obj)
    if problems:
        raise InputError("\n".join(problems))
    if not nodes:
        raise InputError(f"{source}: no nodes")
    return nodes
