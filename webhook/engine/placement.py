"""The placement plan: what a policy adds to one Pod, and whether it conflicts with the Pod's own.

Rules (each pinned by tests):
- tolerations are appended after the Pod's own, skipping any an existing one already covers;
- required node affinity: with none on the Pod, one term holds the policy's requirements; with
  existing ``nodeSelectorTerms`` (ORed), the requirements are added to *every* non-empty term,
  skipping ones already present, because a new term would loosen the Pod's own constraint; an empty
  term matches nothing and is left empty;
- ``nodeSelector`` keys are merged; preferred terms are appended unless an identical one exists;
- a conflict is a node label key constrained by both Pod and policy so that no value meets both
  (in ``nodeSelector``, or in every term the Pod could otherwise be scheduled by; a term that can
  never match is not such a term): then nothing of the policy is applied;
- a Pod whose required node affinity matches no node (no terms, or none that can match) is never
  loosened: that is a conflict too.
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook import POLICY_ANNOTATION
from webhook.errors import PodShapeError
from webhook.kube.objects import RawObject
from webhook.kube.patches import JsonPath, PatchBuilder, PatchOp
from webhook.kube.selectors import (
    EXISTENCE_OPERATORS,
    NODE_OPERATORS,
    SET_OPERATORS,
    Requirement,
    is_empty_term,
    label_value_error,
    parse_int64,
    qualified_name_error,
    requirements_satisfiable,
)
from webhook.kube.tolerations import describe_toleration, missing_tolerations
from webhook.policy.compiled import CompiledPolicy

SPEC_TOLERATIONS: JsonPath = ("spec", "tolerations")
SPEC_NODE_SELECTOR: JsonPath = ("spec", "nodeSelector")
NODE_AFFINITY: JsonPath = ("spec", "affinity", "nodeAffinity")
REQUIRED: JsonPath = (*NODE_AFFINITY, "requiredDuringSchedulingIgnoredDuringExecution")
TERMS: JsonPath = (*REQUIRED, "nodeSelectorTerms")
PREFERRED: JsonPath = (*NODE_AFFINITY, "preferredDuringSchedulingIgnoredDuringExecution")
ANNOTATIONS: JsonPath = ("metadata", "annotations")


@dataclass(slots=True)  # not frozen: frozen dataclasses cost 3x to build, and this is built per review
class PlacementPlan:
    """Everything one policy would add to one Pod; empty when the Pod already has it all.
    Read-only by convention."""

    policy: CompiledPolicy
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    term_additions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    new_term: list[dict[str, Any]] = field(default_factory=list)
    preferred: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    unschedulable: str | None = None  # why the Pod's own required affinity matches no node

    @property
    def has_conflict(self) -> bool:
        return bool(self.conflicts or self.unschedulable)

    @property
    def is_empty(self) -> bool:
        return not (
            self.tolerations or self.node_selector or self.term_additions or self.new_term or self.preferred
        )

    def describe(self) -> list[str]:
        """One short phrase per addition, for warnings and the CLI summary."""
        lines = [f"toleration {describe_toleration(t)}" for t in self.tolerations]
        lines += [f"nodeSelector {k}={v}" for k, v in self.node_selector.items()]
        required = self.new_term or next(iter(self.term_additions.values()), [])
        where = "" if self.new_term else f" (in {len(self.term_additions)} term(s))"
        lines += [f"required {describe_expression(e)}{where}" for e in required]
        lines += [
            f"preferred weight {t['weight']}: "
            + ", ".join(describe_expression(e) for e in t["preference"]["matchExpressions"])
            for t in self.preferred
        ]
        return lines


def describe_expression(expr: Mapping[str, Any]) -> str:
    """``key Operator [values]`` for messages, e.g. ``pool In [infer-srv]``."""
    values = expr.get("values")
    return f"{expr['key']} {expr['operator']}" + (f" [{', '.join(values)}]" if values else "")


# --- reading the Pod's placement (strictly: these are the fields we merge into) -------------------


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, as people who wrote the manifest know it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names: dict[type, str] = {str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _field(obj: Any, key: str, *, kind: type, where: str) -> Any:
    """``obj[key]`` if it has the expected type, None when absent or null; else ``PodShapeError``."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is not None and not isinstance(value, kind):
        raise PodShapeError(f"{where} is {_json_type(value)}, expected {_json_type(kind())}")
    return value


def _pod_terms(spec: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The Pod's required ``nodeSelectorTerms``; None when it has no required node affinity at all.

    A present ``requiredDuringScheduling...`` with the list missing or null is ``[]``: zero terms,
    which match no node (``NewLazyErrorNodeSelector`` over no terms)."""
    affinity = _field(spec, "affinity", kind=dict, where="spec.affinity")
    node_affinity = _field(affinity, "nodeAffinity", kind=dict, where="spec.affinity.nodeAffinity")
    required = _field(
        node_affinity,
        "requiredDuringSchedulingIgnoredDuringExecution",
        kind=dict,
        where="nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
    )
    if required is None:
        return None
    terms = _field(required, "nodeSelectorTerms", kind=list, where="nodeSelectorTerms") or []
    for i, term in enumerate(terms):
        if not isinstance(term, dict):
            raise PodShapeError(f"nodeSelectorTerms[{i}] is {_json_type(term)}, expected an object")
        for part in ("matchExpressions", "matchFields"):
            for expr in _field(term, part, kind=list, where=f"nodeSelectorTerms[{i}].{part}") or []:
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


def _node_selector(spec: dict[str, Any]) -> dict[str, str]:
    node_selector = _field(spec, "nodeSelector", kind=dict, where="spec.nodeSelector") or {}
    for key, value in node_selector.items():
        if not isinstance(value, str):
            raise PodShapeError(f"spec.nodeSelector[{key!r}] is {_json_type(value)}, expected a string")
    return node_selector


def _expression_key(expr: dict[str, Any]) -> tuple[Any, ...]:
    """Identity of a requirement: key, operator and ``values`` as a set (order and repeats are moot)."""
    return (expr.get("key"), expr.get("operator"), frozenset(expr.get("values") or ()))


def _group(expressions: list[dict[str, Any]]) -> dict[str, list[Requirement]]:
    by_key: dict[str, list[Requirement]] = {}
    for expr in expressions:
        by_key.setdefault(expr["key"], []).append((expr["operator"], tuple(expr.get("values") or [])))
    return by_key


# --- which Pod terms can match a node (component-helpers scheduling/corev1/nodeaffinity) -----------


def _label_requirement_parses(expr: dict[str, Any]) -> bool:
    """``nodeSelectorRequirementsAsSelector``: a known operator, then ``labels.NewRequirement``'s
    checks (qualified key; In/NotIn need values, Exists/DoesNotExist none, Gt/Lt exactly one
    int64; every value a valid label value). A term with any failing requirement never matches."""
    operator, values = expr["operator"], expr.get("values") or []
    if operator not in NODE_OPERATORS or qualified_name_error(expr["key"]) is not None:
        return False
    if any(label_value_error(v) is not None for v in values):
        return False
    if operator in SET_OPERATORS:
        return bool(values)
    if operator in EXISTENCE_OPERATORS:
        return not values
    return len(values) == 1 and parse_int64(values[0]) is not None


def _field_requirement_parses(expr: dict[str, Any]) -> bool:
    """``nodeSelectorRequirementsAsFieldSelector``: In or NotIn with exactly one value."""
    return expr["operator"] in SET_OPERATORS and len(expr.get("values") or []) == 1


def _schedulable_terms(
    node_selector: dict[str, str], terms: list[dict[str, Any]]
) -> list[dict[str, list[Requirement]]]:
    """The requirements (nodeSelector merged in) of each term the Pod could be scheduled by.

    Left out, as the scheduler never matches them: empty terms, terms with a requirement that
    does not parse, and terms no node can satisfy (contradictory on one key, with themselves or
    with ``nodeSelector``, in ``matchExpressions`` or ``matchFields``)."""
    selector: dict[str, list[Requirement]] = {k: [("In", (v,))] for k, v in node_selector.items()}
    schedulable = []
    for term in terms:
        expressions, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
        if is_empty_term(term) or not (
            all(_label_requirement_parses(e) for e in expressions)
            and all(_field_requirement_parses(f) for f in fields)
        ):
            continue
        merged = _merge(selector, _group(expressions))
        if all(map(requirements_satisfiable, merged.values())) and all(
            map(requirements_satisfiable, _group(fields).values())
        ):
            schedulable.append(merged)
    return schedulable


def _conflicting_keys(pod: dict[str, list[Requirement]], policy: dict[str, list[Requirement]]) -> list[str]:
    """Keys on which Pod and policy each are satisfiable but together are not."""
    return [
        key
        for key, wanted in policy.items()
        if key in pod
        and requirements_satisfiable(pod[key])
        and not requirements_satisfiable(pod[key] + wanted)
    ]


def _merge(*groups: dict[str, list[Requirement]]) -> dict[str, list[Requirement]]:
    merged: dict[str, list[Requirement]] = {}
    for group in groups:
        for key, requirements in group.items():
            merged.setdefault(key, []).extend(requirements)
    return merged


def _find_conflicts(
    policy: CompiledPolicy, node_selector: dict[str, str], schedulable: list[dict[str, list[Requirement]]]
) -> list[str]:
    """The keys that make the merged placement unschedulable where the Pod's own was not."""
    selector: dict[str, list[Requirement]] = {k: [("In", (v,))] for k, v in node_selector.items()}
    conflicts = _conflicting_keys(selector, policy.requirements_by_key)
    if conflicts:
        return conflicts
    per_term = [_conflicting_keys(term, policy.requirements_by_key) for term in schedulable]
    if per_term and all(per_term):
        return sorted({key for keys in per_term for key in keys})
    return []


_TOLERATION_STRINGS = ("key", "operator", "value", "effect")


def _tolerations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    tolerations = _field(spec, "tolerations", kind=list, where="spec.tolerations") or []
    for i, toleration in enumerate(tolerations):  # messages are built only on failure: hot path
        if not isinstance(toleration, dict):
            raise PodShapeError(f"spec.tolerations[{i}] is {_json_type(toleration)}, expected an object")
        for name in _TOLERATION_STRINGS:
            value = toleration.get(name)
            if value is not None and not isinstance(value, str):
                raise PodShapeError(f"spec.tolerations[{i}].{name} is {_json_type(value)}, expected a string")
        seconds = toleration.get("tolerationSeconds")
        if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool)):
            raise PodShapeError(
                f"spec.tolerations[{i}].tolerationSeconds is {_json_type(seconds)}, expected an integer"
            )
    return tolerations


def _preferred(spec: dict[str, Any]) -> list[dict[str, Any]]:
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    key = "preferredDuringSchedulingIgnoredDuringExecution"
    where = f"nodeAffinity.{key}"
    preferred = _field(node_affinity, key, kind=list, where=where)
    for i, term in enumerate(preferred or []):
        if not isinstance(term, dict):
            raise PodShapeError(f"{where}[{i}] is {_json_type(term)}, expected an object")
        preference = _field(term, "preference", kind=dict, where=f"{where}[{i}].preference")
        for part in ("matchExpressions", "matchFields"):
            for expr in _field(preference, part, kind=list, where=f"{where}[{i}].preference.{part}") or []:
                if not _is_requirement(expr):
                    raise PodShapeError(f"{where}[{i}].preference.{part} has a malformed requirement")
    return preferred or []


NO_TERMS = "its required node affinity has no nodeSelectorTerms, so it matches no node"
NO_MATCHING_TERM = "no term of its required node affinity can match a node"


def plan_placement(pod: RawObject, policy: CompiledPolicy) -> PlacementPlan:
    """What ``policy`` would add to ``pod``; raises ``PodShapeError`` on odd placement fields."""
    spec = _field(pod, "spec", kind=dict, where="spec") or {}
    tolerations = _tolerations(spec)
    node_selector = _node_selector(spec)
    terms = _pod_terms(spec)
    preferred = _preferred(spec)
    _field(pod.get("metadata"), "annotations", kind=dict, where="metadata.annotations")

    schedulable = [] if terms is None else _schedulable_terms(node_selector, terms)
    if terms is not None and not schedulable:  # never loosen a Pod that matches no node
        return PlacementPlan(policy=policy, unschedulable=NO_MATCHING_TERM if terms else NO_TERMS)
    conflicts = _find_conflicts(policy, node_selector, schedulable)
    if conflicts:
        return PlacementPlan(policy=policy, conflicts=conflicts)

    term_additions: dict[int, list[dict[str, Any]]] = {}
    for i, term in enumerate(terms or []):
        present = {_expression_key(e) for e in term.get("matchExpressions") or []}
        missing = [e for e in policy.required if _expression_key(e) not in present]
        if missing and not is_empty_term(term):
            term_additions[i] = missing
    return PlacementPlan(
        policy=policy,
        tolerations=missing_tolerations(tolerations, policy.tolerations),
        node_selector={k: v for k, v in policy.node_selector.items() if k not in node_selector},
        term_additions=term_additions,
        new_term=list(policy.required) if terms is None else [],
        preferred=[p for p in policy.preferred if not _has_preferred(preferred, p)],
    )


def _preferred_identity(term: dict[str, Any]) -> tuple[Any, ...]:
    """Weight, the set of expression identities (ANDed: order and repeats are moot), and the
    ``matchFields`` likewise: a term with other fields prefers other nodes, so it is another term."""
    preference = term.get("preference") or {}
    return (
        term.get("weight"),
        frozenset(_expression_key(e) for e in preference.get("matchExpressions") or []),
        frozenset(_expression_key(e) for e in preference.get("matchFields") or []),
    )


def _has_preferred(existing: list[dict[str, Any]], wanted: dict[str, Any]) -> bool:
    return _preferred_identity(wanted) in {_preferred_identity(t) for t in existing}


def apply_plan(pod: RawObject, plan: PlacementPlan) -> tuple[RawObject, list[PatchOp]]:
    """The mutated Pod (a structurally shared copy) and the JSON Patch ops that produce it."""
    builder = PatchBuilder(pod)
    if plan.is_empty:
        return builder.result, builder.ops
    builder.append(SPEC_TOLERATIONS, plan.tolerations)
    for key, value in plan.node_selector.items():
        builder.put(SPEC_NODE_SELECTOR, key, value)
    if plan.new_term:
        builder.append(TERMS, [{"matchExpressions": plan.new_term}])
    for index, expressions in plan.term_additions.items():
        builder.append((*TERMS, index, "matchExpressions"), expressions)
    builder.append(PREFERRED, plan.preferred)
    if builder.get((*ANNOTATIONS, POLICY_ANNOTATION)) != plan.policy.name:
        builder.put(ANNOTATIONS, POLICY_ANNOTATION, plan.policy.name)
    return builder.result, builder.ops


def placement_key(pod: RawObject) -> bytes | None:
    """Everything of ``pod`` that ``plan_placement`` and ``apply_plan`` read, as a hashable key:
    two Pods with the same key get the same plan and the same ops from any policy. None when the
    Pod has a shape the key does not cover (then only the full computation answers).

    They read ``spec.tolerations``, ``spec.nodeSelector`` and ``spec.affinity.nodeAffinity``
    whole; of ``spec.affinity`` and ``metadata.annotations`` only whether they are objects (an
    op adds into them or creates them) and of the annotations only our policy annotation. A
    ``spec`` or ``metadata`` that is missing or not an object is left to the full computation.

    The key is those values in ``marshal`` format (version 2, which has no back-references, so
    the bytes do not depend on how the objects are shared): one C call, and exact, as marshal
    writes the type of every value (``1``, ``1.0``, ``True``, a tuple and a list all differ, and
    ``-0.0`` is not ``0.0``) and refuses subclasses and every type of its own that it lacks (an
    enum, a date from YAML): such a Pod gets None."""
    spec, metadata = pod.get("spec"), pod.get("metadata")
    if type(spec) is not dict or type(metadata) is not dict:
        return None
    affinity, annotations = spec.get("affinity"), metadata.get("annotations")
    if affinity is not None and type(affinity) is not dict:
        return None
    if annotations is not None and type(annotations) is not dict:
        return None
    shape = (affinity is None) + 2 * (annotations is None)
    try:
        return marshal.dumps(
            (
                shape,
                spec.get("tolerations"),
                spec.get("nodeSelector"),
                None if affinity is None else affinity.get("nodeAffinity"),
                None if annotations is None else annotations.get(POLICY_ANNOTATION),
            )
        )
    except ValueError:  # a type marshal lacks, or nested too deep
        return None
