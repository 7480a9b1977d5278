"""The placement plan: what a policy adds to one Pod, and whether it conflicts with the Pod's own.

Rules (each pinned by tests):
- tolerations are appended after the Pod's own, skipping any an existing one already covers;
- required node affinity: with none on the Pod, one term holds the policy's requirements; with
  existing ``nodeSelectorTerms`` (ORed), the requirements are added to *every* non-empty term,
  skipping ones already present, because a new term would loosen the Pod's own constraint; an empty
  term matches nothing and is left empty;
- ``nodeSelector`` keys are merged; preferred terms are appended unless an identical one exists;
- a conflict is a node label key constrained by both Pod and policy so that no value meets both
  (in ``nodeSelector``, or in every term the Pod could otherwise be scheduled by): then nothing of
  the policy is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook import POLICY_ANNOTATION
from webhook.errors import PodShapeError
from webhook.kube.objects import RawObject
from webhook.kube.patches import JsonPath, PatchBuilder, PatchOp
from webhook.kube.selectors import Requirement, is_empty_term, requirements_satisfiable
from webhook.kube.tolerations import describe_toleration, missing_tolerations
from webhook.policy.compiled import CompiledPolicy

SPEC_TOLERATIONS: JsonPath = ("spec", "tolerations")
SPEC_NODE_SELECTOR: JsonPath = ("spec", "nodeSelector")
NODE_AFFINITY: JsonPath = ("spec", "affinity", "nodeAffinity")
REQUIRED: JsonPath = (*NODE_AFFINITY, "requiredDuringSchedulingIgnoredDuringExecution")
TERMS: JsonPath = (*REQUIRED, "nodeSelectorTerms")
PREFERRED: JsonPath = (*NODE_AFFINITY, "preferredDuringSchedulingIgnoredDuringExecution")
ANNOTATIONS: JsonPath = ("metadata", "annotations")


@dataclass(frozen=True)
class PlacementPlan:
    """Everything one policy would add to one Pod; empty when the Pod already has it all."""

    policy: CompiledPolicy
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    term_additions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    new_term: list[dict[str, Any]] = field(default_factory=list)
    preferred: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

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


def _pod_terms(spec: dict[str, Any]) -> list[Any]:
    affinity = _field(spec, "affinity", kind=dict, where="spec.affinity")
    node_affinity = _field(affinity, "nodeAffinity", kind=dict, where="spec.affinity.nodeAffinity")
    required = _field(
        node_affinity,
        "requiredDuringSchedulingIgnoredDuringExecution",
        kind=dict,
        where="nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
    )
    terms = _field(required, "nodeSelectorTerms", kind=list, where="nodeSelectorTerms") or []
    for i, term in enumerate(terms):
        if not isinstance(term, dict):
            raise PodShapeError(f"nodeSelectorTerms[{i}] is {_json_type(term)}, expected an object")
        for part in ("matchExpressions", "matchFields"):
            for expr in _field(term, part, kind=list, where=f"nodeSelectorTerms[{i}].{part}") or []:
                if not (
                    isinstance(expr, dict)
                    and isinstance(expr.get("key"), str)
                    and isinstance(expr.get("operator"), str)
                    and isinstance(expr.get("values") or [], list)
                ):
                    raise PodShapeError(f"nodeSelectorTerms[{i}].{part} has a malformed requirement")
    return terms


def _expression_key(expr: dict[str, Any]) -> tuple[Any, ...]:
    """Identity of a requirement; ``values`` are a set for In/NotIn, so order does not matter."""
    values = expr.get("values") or []
    return (expr.get("key"), expr.get("operator"), tuple(sorted(map(str, values))))


def _term_requirements(term: dict[str, Any]) -> dict[str, list[Requirement]]:
    by_key: dict[str, list[Requirement]] = {}
    for expr in term.get("matchExpressions") or []:
        by_key.setdefault(expr["key"], []).append(
            (expr["operator"], tuple(str(v) for v in expr.get("values") or []))
        )
    return by_key


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
    policy: CompiledPolicy, node_selector: dict[str, Any], terms: list[dict[str, Any]]
) -> list[str]:
    """The keys that make the merged placement unschedulable where the Pod's own was not."""
    selector: dict[str, list[Requirement]] = {k: [("In", (str(v),))] for k, v in node_selector.items()}
    conflicts = _conflicting_keys(selector, policy.requirements_by_key)
    if conflicts:
        return conflicts
    live = [t for t in terms if not is_empty_term(t)]
    per_term = [
        _conflicting_keys(_merge(selector, _term_requirements(t)), policy.requirements_by_key) for t in live
    ]
    if per_term and all(per_term):
        return sorted({key for keys in per_term for key in keys})
    return []


def plan_placement(pod: RawObject, policy: CompiledPolicy) -> PlacementPlan:
    """What ``policy`` would add to ``pod``; raises ``PodShapeError`` on odd placement fields."""
    spec = _field(pod, "spec", kind=dict, where="spec") or {}
    tolerations = _field(spec, "tolerations", kind=list, where="spec.tolerations") or []
    node_selector = _field(spec, "nodeSelector", kind=dict, where="spec.nodeSelector") or {}
    terms = _pod_terms(spec)
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    preferred = (
        _field(
            node_affinity,
            "preferredDuringSchedulingIgnoredDuringExecution",
            kind=list,
            where="nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution",
        )
        or []
    )
    _field(pod.get("metadata"), "annotations", kind=dict, where="metadata.annotations")

    conflicts = _find_conflicts(policy, node_selector, terms)
    if conflicts:
        return PlacementPlan(policy=policy, conflicts=conflicts)

    term_additions: dict[int, list[dict[str, Any]]] = {}
    new_term: list[dict[str, Any]] = []
    if policy.required:
        if terms:
            for i, term in enumerate(terms):
                present = {_expression_key(e) for e in term.get("matchExpressions") or []}
                missing = [e for e in policy.required if _expression_key(e) not in present]
                if missing and not is_empty_term(term):
                    term_additions[i] = missing
        else:
            new_term = list(policy.required)

    existing_preferred = [p for p in preferred if isinstance(p, dict)]
    return PlacementPlan(
        policy=policy,
        tolerations=missing_tolerations(tolerations, policy.tolerations),
        node_selector={k: v for k, v in policy.node_selector.items() if k not in node_selector},
        term_additions=term_additions,
        new_term=new_term,
        preferred=[p for p in policy.preferred if not _has_preferred(existing_preferred, p)],
    )


def _has_preferred(existing: list[dict[str, Any]], wanted: dict[str, Any]) -> bool:
    def identity(term: dict[str, Any]) -> tuple[Any, ...]:
        preference = term.get("preference") or {}
        expressions = preference.get("matchExpressions") if isinstance(preference, dict) else None
        fields = preference.get("matchFields") if isinstance(preference, dict) else None
        return (
            term.get("weight"),
            tuple(_expression_key(e) for e in expressions or [] if isinstance(e, dict)),
            bool(fields),
        )

    return identity(wanted) in {identity(t) for t in existing}


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
