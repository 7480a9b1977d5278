"""The placement fields of a Pod, read strictly: the fields the planner merges into.

``read_placement_fields`` is the one declaration of what ``plan_placement`` reads; the typed
readers below check each field's shape (a ``PodShapeError`` names the field and the type found, in
JSON's words), and ``placement_key`` turns the same fields into the plan memo's key.
"""

from __future__ import annotations

import datetime
import json
import marshal
from typing import Any, NamedTuple

from webhook import POLICY_ANNOTATION
from webhook.errors import PodShapeError
from webhook.kube.objects import RawObject


def json_type(value: Any) -> str:
    """The JSON name of a value's type, as people who wrote the manifest know it."""
    if value is None:
        return "null"
    if isinstance(value, datetime.date):  # a YAML timestamp (2024-01-01), which JSON has not
        return "a date"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names: dict[type, str] = {str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), "a value JSON cannot hold")


def field_of(obj: Any, key: str, *, kind: type, where: str) -> Any:
    """``obj[key]`` if it has the expected type, None when absent or null; else ``PodShapeError``."""
    return typed(obj.get(key) if isinstance(obj, dict) else None, kind=kind, where=where)


def typed(value: Any, *, kind: type, where: str) -> Any:
    """``value`` if it has the expected type or is None; else ``PodShapeError``."""
    if value is not None and not isinstance(value, kind):
        raise PodShapeError(f"{where} is {json_type(value)}, expected {json_type(kind())}")
    return value


class PlacementFields(NamedTuple):
    """Every field of a Pod that ``plan_placement`` reads, declared once: the planner reads the
    Pod only through this tuple and ``placement_key`` is exactly its values, so the plan memo can
    never answer for a field the key leaves out.

    Of ``spec.affinity`` and ``metadata.annotations`` the planner reads one entry each (their
    ``nodeAffinity``, our policy annotation) and whether they are objects at all (``apply_plan``
    adds into them or creates them): an object is kept as just that entry, anything else whole."""

    tolerations: Any
    node_selector: Any
    affinity: Any  # None, {"nodeAffinity": ...} or the odd value
    annotations: Any  # None, {POLICY_ANNOTATION: ...} or the odd value


def _only(value: Any, key: str) -> Any:
    return {key: value.get(key)} if isinstance(value, dict) else value


def read_placement_fields(pod: RawObject) -> PlacementFields:
    """The placement fields of ``pod``; ``PodShapeError`` only when ``spec`` is not an object."""
    spec = field_of(pod, "spec", kind=dict, where="spec") or {}
    metadata = pod.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return PlacementFields(
        spec.get("tolerations"),
        spec.get("nodeSelector"),
        _only(spec.get("affinity"), "nodeAffinity"),
        _only(annotations, POLICY_ANNOTATION),
    )


def pod_terms(node_affinity: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The Pod's required ``nodeSelectorTerms``; None when it has no required node affinity at all.

    A present ``requiredDuringScheduling...`` with the list missing or null is ``[]``: zero terms,
    which match no node (``NewLazyErrorNodeSelector`` over no terms)."""
    required = field_of(
        node_affinity,
        "requiredDuringSchedulingIgnoredDuringExecution",
        kind=dict,
        where="nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
    )
    if required is None:
        return None
    terms = field_of(required, "nodeSelectorTerms", kind=list, where="nodeSelectorTerms") or []
    for i, term in enumerate(terms):
        if not isinstance(term, dict):
            raise PodShapeError(f"nodeSelectorTerms[{i}] is {json_type(term)}, expected an object")
        for part in ("matchExpressions", "matchFields"):
            for expr in field_of(term, part, kind=list, where=f"nodeSelectorTerms[{i}].{part}") or []:
                if not _is_requirement(expr):
                    raise PodShapeError(f"nodeSelectorTerms[{i}].{part} has a malformed requirement")
    return terms


def _is_requirement(expr: Any) -> bool:
    """A NodeSelectorRequirement as JSON: string key and operator, ``values`` a list of strings."""
    if not (isinstance(expr, dict) and isinstance(expr.get("key"), str)):
        return False
    values = expr.get("values")
    return isinstance(expr.get("operator"), str) and (
        values is None or (isinstance(values, list) and all(isinstance(v, str) for v in values))
    )


def pod_node_selector(fields: PlacementFields) -> dict[str, str]:
    node_selector = typed(fields.node_selector, kind=dict, where="spec.nodeSelector") or {}
    for key, value in node_selector.items():
        if not isinstance(value, str):
            raise PodShapeError(
                f"spec.nodeSelector[{json.dumps(key)}] is {json_type(value)}, expected a string"
            )
    return node_selector


_TOLERATION_STRINGS = ("key", "operator", "value", "effect")


def pod_tolerations(fields: PlacementFields) -> list[dict[str, Any]]:
    tolerations = typed(fields.tolerations, kind=list, where="spec.tolerations") or []
    for i, toleration in enumerate(tolerations):  # messages are built only on failure: hot path
        if not isinstance(toleration, dict):
            raise PodShapeError(f"spec.tolerations[{i}] is {json_type(toleration)}, expected an object")
        for name in _TOLERATION_STRINGS:
            value = toleration.get(name)
            if value is not None and not isinstance(value, str):
                raise PodShapeError(f"spec.tolerations[{i}].{name} is {json_type(value)}, expected a string")
        seconds = toleration.get("tolerationSeconds")
        if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool)):
            raise PodShapeError(
                f"spec.tolerations[{i}].tolerationSeconds is {json_type(seconds)}, expected an integer"
            )
    return tolerations


def pod_preferred(node_affinity: dict[str, Any] | None) -> list[dict[str, Any]]:
    key = "preferredDuringSchedulingIgnoredDuringExecution"
    where = f"nodeAffinity.{key}"
    preferred = field_of(node_affinity, key, kind=list, where=where)
    for i, term in enumerate(preferred or []):
        if not isinstance(term, dict):
            raise PodShapeError(f"{where}[{i}] is {json_type(term)}, expected an object")
        preference = field_of(term, "preference", kind=dict, where=f"{where}[{i}].preference")
        for part in ("matchExpressions", "matchFields"):
            for expr in field_of(preference, part, kind=list, where=f"{where}[{i}].preference.{part}") or []:
                if not _is_requirement(expr):
                    raise PodShapeError(f"{where}[{i}].preference.{part} has a malformed requirement")
    return preferred or []


def placement_key(pod: RawObject) -> bytes | None:
    """Everything of ``pod`` that ``plan_placement`` and ``apply_plan`` read, as a hashable key:
    two Pods with the same key get the same plan and the same ops from any policy. None when the
    Pod has a shape the key does not cover (then only the full computation answers).

    The key is ``read_placement_fields``, the one declaration of what the planner reads, so a
    field the planner starts to read is in the key by construction. ``apply_plan`` reads the Pod at
    the same paths (and whether ``spec`` and ``metadata`` exist, as it may create them: a Pod
    without either is left to the full computation).

    The key is those values in ``marshal`` format (version 2, which has no back-references, so
    the bytes do not depend on how the objects are shared): one C call, and exact, as marshal
    writes the type of every value (``1``, ``1.0``, ``True``, a tuple and a list all differ, and
    ``-0.0`` is not ``0.0``) and refuses subclasses and every type of its own that it lacks (an
    enum, a date from YAML): such a Pod gets None."""
    if type(pod.get("spec")) is not dict or type(pod.get("metadata")) is not dict:
        return None
    try:
        return marshal.dumps(tuple(read_placement_fields(pod)), 2)
    except (PodShapeError, ValueError):  # an odd shape; a type marshal lacks, or nested too deep
        return None
