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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook import POLICY_ANNOTATION
from webhook.engine.placement_fields import (
    field_of,
    pod_node_selector,
    pod_preferred,
    pod_terms,
    pod_tolerations,
    read_placement_fields,
    typed,
)
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


NO_TERMS = "its required node affinity has no nodeSelectorTerms, so it matches no node"
NO_MATCHING_TERM = "no term of its required node affinity can match a node"


def plan_placement(pod: RawObject, policy: CompiledPolicy) -> PlacementPlan:
    """What ``policy`` would add to ``pod``; raises ``PodShapeError`` on odd placement fields.

    It reads the Pod only through ``read_placement_fields``: what ``placement_key`` is made of."""
    fields = read_placement_fields(pod)
    tolerations = pod_tolerations(fields)
    node_selector = pod_node_selector(fields)
    affinity = typed(fields.affinity, kind=dict, where="spec.affinity")
    node_affinity = field_of(affinity, "nodeAffinity", kind=dict, where="spec.affinity.nodeAffinity")
    terms = pod_terms(node_affinity)
    preferred = pod_preferred(node_affinity)
    typed(fields.annotations, kind=dict, where="metadata.annotations")

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
