"""What ``plan_placement`` decides for one policy, as CEL over the Pod the API server admits.

``PLACEMENT_VARIABLES`` read the Pod's placement fields once (nodeSelector, required terms, the
terms that can match a node: ``_schedulable_terms``); ``conflict_variables`` give a policy's
conflict (``p{i}_conflict``: the Pod's required affinity matches no node, or some key of the policy
cannot be met together with the Pod's own requirements, in nodeSelector or in every term the Pod
could be scheduled by), ``plan_variables`` what it would add (``p{i}_changes``), and ``patch_ops``
the JSON Patch that adds it, as ``apply_plan`` does. Names are prefixed by the policy's index.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from webhook import POLICY_ANNOTATION
from webhook.engine.placement import NO_MATCHING_TERM, NO_TERMS
from webhook.kube.tolerations import tolerates_superset
from webhook.native.cel import covers, literal, literal_list
from webhook.native.requirements import (
    as_requirement,
    field_requirement_parses,
    is_label_value,
    label_requirement_parses,
    satisfiable,
    satisfiable_with,
)
from webhook.policy.compiled import CompiledPolicy

AFFINITY = "object.spec.affinity"
NODE_AFFINITY = f"{AFFINITY}.nodeAffinity"
REQUIRED = f"{NODE_AFFINITY}.requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = f"{NODE_AFFINITY}.preferredDuringSchedulingIgnoredDuringExecution"
#: the CEL type names of the objects a patch adds (MutatingAdmissionPolicy's ``Object.<path>``)
T_TOLERATION = "Object.spec.tolerations"
T_AFFINITY = "Object.spec.affinity"
T_NODE_AFFINITY = "Object.spec.affinity.nodeAffinity"
T_REQUIRED = "Object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
T_TERM = f"{T_REQUIRED}.nodeSelectorTerms"
T_EXPRESSION = f"{T_TERM}.matchExpressions"
T_PREFERRED = "Object.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"
T_PREFERENCE = f"{T_PREFERRED}.preference"
T_PREFERENCE_EXPRESSION = f"{T_PREFERENCE}.matchExpressions"
P_REQUIRED = "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"
P_PREFERRED = "/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution"


def _expressions(term: str) -> str:
    return f"(has({term}.matchExpressions) ? {term}.matchExpressions : [])"


def _fields(term: str) -> str:
    return f"(has({term}.matchFields) ? {term}.matchFields : [])"


def _non_empty(term: str) -> str:
    return f"(size({_expressions(term)}) > 0 || size({_fields(term)}) > 0)"


def term_requirements(term: str, key: str) -> str:
    """The requirements on ``key`` of a term with the Pod's nodeSelector merged in (``_merge``)."""
    selector = "variables.nodeSelector"
    from_selector = f"({key} in {selector} ? [['In', string({selector}[{key}])]] : [])"
    from_term = f"{_expressions(term)}.filter(tx, tx.key == {key}).map(tx, {as_requirement('tx')})"
    return f"({from_selector} + {from_term})"


def _term_schedulable(term: str) -> str:
    """``_schedulable_terms`` keeps the term (index ``i``): non-empty, every requirement parses,
    every key of its expressions (nodeSelector merged) and of its fields satisfiable."""
    exprs, fields = _expressions(term), _fields(term)
    return (
        f"{_non_empty(term)} && {exprs}.all(te, {label_requirement_parses('te')})"
        f" && {fields}.all(tf, {field_requirement_parses('tf')})"
        f" && variables.nodeSelector.all(tk, {exprs}.exists(te, te.key == tk)"
        f" || {is_label_value('variables.nodeSelector[tk]')})"
        f" && variables.termKeyRequirements[i].all(rk, {satisfiable('rk')})"
        f" && variables.termFieldRequirements[i].all(rk, {satisfiable('rk')})"
    )


PLACEMENT_VARIABLES = {
    "nodeSelector": "has(object.spec.nodeSelector) ? object.spec.nodeSelector : {}",
    "hasRequired": (
        f"has({AFFINITY}) && has({NODE_AFFINITY})"
        " && has(object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution)"
    ),
    "terms": (
        f"variables.hasRequired && has({REQUIRED}.nodeSelectorTerms) ? {REQUIRED}.nodeSelectorTerms : []"
    ),
    # per term, per expression: the requirements on its key, nodeSelector merged in; per field likewise
    "termKeyRequirements": (
        f"variables.terms.map(term, {_expressions('term')}.map(te, {term_requirements('term', 'te.key')}))"
    ),
    "termFieldRequirements": (
        f"variables.terms.map(term, {_fields('term')}.map(ff,"
        f" {_fields('term')}.filter(fg, fg.key == ff.key).map(fg, {as_requirement('fg')})))"
    ),
    "schedulable": f"variables.terms.transformList(i, term, {_term_schedulable('term')}, term)",
    "preferred": (f"has({AFFINITY}) && has({NODE_AFFINITY}) && has({PREFERRED}) ? {PREFERRED} : []"),
}


def _selector_requirement(key: str) -> str:
    return f"[['In', string(variables.nodeSelector[{literal(key)}])]]"


Constraint = tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]
"""A label key and a policy's constant requirements on it: what a conflict is judged against."""


def _constraint(key: str, requirements: Iterable[tuple[str, Iterable[str]]]) -> Constraint:
    return key, tuple((op, tuple(values)) for op, values in requirements)


def constraints(policies: Iterable[CompiledPolicy]) -> dict[Constraint, int]:
    """Each distinct (key, requirements) of the policies, numbered in file order: policies that
    constrain a key alike share the (long) satisfiability tests, computed once per Pod."""
    found: dict[Constraint, int] = {}
    for policy in policies:
        for key, reqs in policy.requirements_by_key.items():
            found.setdefault(_constraint(key, reqs), len(found))
    return found


def constraint_variables(found: dict[Constraint, int]) -> dict[str, str]:
    """Per constraint ``n``: ``kc{n}_selector`` (the Pod's nodeSelector value for the key cannot
    meet it) and ``kc{n}_terms`` (per schedulable term: the term constrains the key, nodeSelector
    merged, so that no value meets both)."""
    selector, variables = "variables.nodeSelector", {}
    for (key, reqs), n in found.items():
        constants = list(reqs)
        variables[f"kc{n}_selector"] = (
            f"{literal(key)} in {selector} && {is_label_value(f'{selector}[{literal(key)}]')}"
            f" && !{satisfiable_with(_selector_requirement(key), constants)}"
        )
        present = (
            f"({literal(key)} in {selector} || {_expressions('term')}.exists(te, te.key == {literal(key)}))"
        )
        in_term = f"{present} && !{satisfiable_with(term_requirements('term', literal(key)), constants)}"
        variables[f"kc{n}_terms"] = f"variables.schedulable.map(term, {in_term})"
    return variables


def conflict_variables(policy: CompiledPolicy, found: dict[Constraint, int]) -> dict[str, str]:
    """``p{i}_unschedulable``, ``p{i}_conflicts`` (the keys, as ``conflict_message`` lists them)
    and ``p{i}_conflict``, from the constraints' variables (``constraint_variables``)."""
    p = f"p{policy.index}_"
    ids = {key: found[_constraint(key, reqs)] for key, reqs in policy.requirements_by_key.items()}
    on_selector = [f"(variables.kc{n}_selector ? [{literal(key)}] : [])" for key, n in ids.items()]
    some_key = " || ".join(f"variables.kc{n}_terms[j]" for n in ids.values()) or "false"
    in_terms = " + ".join(
        f"(variables.kc{ids[k]}_terms.exists(c, c) ? [{literal(k)}] : [])" for k in sorted(ids)
    )
    return {
        p + "unschedulable": "variables.hasRequired && size(variables.schedulable) == 0",
        p + "selectorConflicts": " + ".join(on_selector) if on_selector else "[]",
        p + "conflicts": (
            f"size(variables.{p}selectorConflicts) > 0 ? variables.{p}selectorConflicts"
            f" : size(variables.schedulable) > 0"
            f" && lists.range(size(variables.schedulable)).all(j, {some_key})"
            f" ? {in_terms or '[]'} : []"
        ),
        p + "conflict": f"variables.{p}unschedulable || size(variables.{p}conflicts) > 0",
    }


def conflict_message(policy: CompiledPolicy) -> str:
    """``conflict_message`` in CEL, for the policy's conflict variables."""
    p = f"variables.p{policy.index}_"
    head = literal(f"policy {policy.name} conflicts with the Pod's own placement")
    return (
        f"{head} + ({p}unschedulable ? ': ' + (size(variables.terms) == 0 ? {literal(NO_TERMS)}"
        f" : {literal(NO_MATCHING_TERM)}) : ' on ' + {p}conflicts.join(', '))"
    )


def _same_values(expression: str, values: Iterable[str]) -> str:
    wanted = literal_list(values)
    have = f"(has({expression}.values) ? {expression}.values : [])"
    return f"({have}.all(v, v in {wanted}) && {wanted}.all(v, v in {have}))"


def _identical(expression: str, wanted: dict[str, Any]) -> str:
    """``_expression_key`` equal: key, operator, and values as a set."""
    return (
        f"({expression}.key == {literal(wanted['key'])}"
        f" && {expression}.operator == {literal(wanted['operator'])}"
        f" && {_same_values(expression, wanted.get('values') or [])})"
    )


def _missing_in_term(term: str, wanted: dict[str, Any]) -> str:
    return f"!{_expressions(term)}.exists(e, {_identical('e', wanted)})"


def _has_preferred(wanted: dict[str, Any]) -> str:
    """``_has_preferred``: a Pod term with the same weight, the same expressions as a set and no fields."""
    exprs = wanted["preference"]["matchExpressions"]
    mine = "(has(pt.preference.matchExpressions) ? pt.preference.matchExpressions : [])"
    fields = "(has(pt.preference.matchFields) ? pt.preference.matchFields : [])"
    each_known = f"{mine}.all(e, {' || '.join(_identical('e', w) for w in exprs)})"
    each_present = " && ".join(f"{mine}.exists(e, {_identical('e', w)})" for w in exprs)
    return (
        f"variables.preferred.exists(pt, has(pt.weight) && pt.weight == {int(wanted['weight'])}"
        f" && has(pt.preference) && size({fields}) == 0 && {each_known} && {each_present})"
    )


def plan_variables(policy: CompiledPolicy) -> dict[str, str]:
    """What the policy adds, one boolean per toleration (``missing_tolerations``, in order),
    nodeSelector key, required expression and preferred term, and ``p{i}_changes``."""
    p, found, changes = f"p{policy.index}_", {}, []
    for j, wanted in enumerate(policy.tolerations):
        covered = [f"variables.tolerations.exists(o, {covers('o', wanted)})"]
        covered += [
            f"variables.{p}tol{m}" for m in range(j) if tolerates_superset(policy.tolerations[m], wanted)
        ]
        found[f"{p}tol{j}"] = "!(" + " || ".join(covered) + ")"
        changes.append(f"variables.{p}tol{j}")
    for j, key in enumerate(policy.node_selector):
        found[f"{p}sel{j}"] = f"!({literal(key)} in variables.nodeSelector)"
        changes.append(f"variables.{p}sel{j}")
    if policy.required:
        missing = " || ".join(_missing_in_term("term", e) for e in policy.required)
        found[f"{p}terms"] = f"variables.terms.exists(term, {_non_empty('term')} && ({missing}))"
        changes += ["!variables.hasRequired", f"variables.{p}terms"]
    for j, wanted in enumerate(policy.preferred):
        found[f"{p}pref{j}"] = f"!({_has_preferred(wanted)})"
        changes.append(f"variables.{p}pref{j}")
    found[f"{p}changes"] = " || ".join(changes) or "false"
    return found


def pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def _toleration(t: dict[str, Any]) -> str:
    fields = [f"{k}: {literal(t[k])}" for k in ("key", "operator", "value", "effect") if k in t]
    if t.get("tolerationSeconds") is not None:
        fields.append(f"tolerationSeconds: {int(t['tolerationSeconds'])}")
    return f"{T_TOLERATION}{{{', '.join(fields)}}}"


def _expression(type_name: str, e: dict[str, Any]) -> str:
    values = f", values: {literal_list(e['values'])}" if e.get("values") else ""
    return f"{type_name}{{key: {literal(e['key'])}, operator: {literal(e['operator'])}{values}}}"


def _new_required(policy: CompiledPolicy) -> str:
    exprs = ", ".join(_expression(T_EXPRESSION, e) for e in policy.required)
    return f"{T_REQUIRED}{{nodeSelectorTerms: [{T_TERM}{{matchExpressions: [{exprs}]}}]}}"


def _preferred(wanted: dict[str, Any]) -> str:
    exprs = ", ".join(
        _expression(T_PREFERENCE_EXPRESSION, e) for e in wanted["preference"]["matchExpressions"]
    )
    preference = f"{T_PREFERENCE}{{matchExpressions: [{exprs}]}}"
    return f"{T_PREFERRED}{{weight: {int(wanted['weight'])}, preference: {preference}}}"


def _add(path: str, value: str) -> str:
    return f"JSONPatch{{op: 'add', path: {path}, value: {value}}}"


def _conditional_list(items: list[tuple[str, str]]) -> str:
    """A CEL list of the values whose condition holds, in order."""
    return " + ".join(f"({cond} ? [{value}] : [])" for cond, value in items) or "[]"


def _node_affinity_ops(policy: CompiledPolicy) -> str:
    p = f"variables.p{policy.index}_"
    preferred = _conditional_list([(f"{p}pref{j}", _preferred(w)) for j, w in enumerate(policy.preferred)])
    whole_fields = []
    if policy.required:
        whole_fields.append(f"requiredDuringSchedulingIgnoredDuringExecution: {_new_required(policy)}")
    if policy.preferred:
        every = ", ".join(_preferred(w) for w in policy.preferred)
        whole_fields.append(f"preferredDuringSchedulingIgnoredDuringExecution: [{every}]")
    if not whole_fields:
        return "[]"
    whole = f"{T_NODE_AFFINITY}{{{', '.join(whole_fields)}}}"
    # no affinity, or no nodeAffinity: the Pod has none of it, so all of it is added at once
    without = (
        f"!has({AFFINITY}) ? [{_add(literal('/spec/affinity'), f'{T_AFFINITY}{{nodeAffinity: {whole}}}')}]"
        f" : !has({NODE_AFFINITY}) ? [{_add(literal('/spec/affinity/nodeAffinity'), whole)}]"
    )
    ops = []
    if policy.required:
        missing = _conditional_list(
            [(_missing_in_term("term", e), _expression(T_EXPRESSION, e)) for e in policy.required]
        )
        terms_path = f"{literal(P_REQUIRED + '/nodeSelectorTerms/')} + string(i)"
        per_term = (
            f"variables.terms.transformList(i, term, {_non_empty('term')}, has(term.matchExpressions)"
            f" ? ({missing}).map(x, {_add(terms_path + ' + ' + literal('/matchExpressions/-'), 'x')})"
            f" : [{_add(terms_path + ' + ' + literal('/matchExpressions'), missing)}]).flatten()"
        )
        ops.append(
            f"(!variables.hasRequired ? [{_add(literal(P_REQUIRED), _new_required(policy))}] : {per_term})"
        )
    if policy.preferred:
        ops.append(
            f"(has({PREFERRED}) ? ({preferred}).map(x, {_add(literal(P_PREFERRED + '/-'), 'x')})"
            f" : size({preferred}) > 0 ? [{_add(literal(P_PREFERRED), preferred)}] : [])"
        )
    return f"({without} : {' + '.join(ops)})"


def patch_ops(policy: CompiledPolicy) -> str:
    """The JSON Patch (a CEL list of ``JSONPatch``) adding what the policy's plan adds."""
    p = f"variables.p{policy.index}_"
    parts = []
    if policy.tolerations:
        added = _conditional_list([(f"{p}tol{j}", _toleration(t)) for j, t in enumerate(policy.tolerations)])
        parts.append(
            f"(has(object.spec.tolerations) ? ({added}).map(x, {_add(literal('/spec/tolerations/-'), 'x')})"
            f" : size({added}) > 0 ? [{_add(literal('/spec/tolerations'), added)}] : [])"
        )
    if policy.node_selector:
        every = "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in policy.node_selector.items()) + "}"
        each = _conditional_list(
            [
                (f"{p}sel{j}", _add(literal(pointer("spec", "nodeSelector", k)), literal(v)))
                for j, (k, v) in enumerate(policy.node_selector.items())
            ]
        )
        parts.append(
            f"(has(object.spec.nodeSelector) ? {each} : [{_add(literal('/spec/nodeSelector'), every)}])"
        )
    parts.append(_node_affinity_ops(policy))
    name, key = literal(policy.name), literal(POLICY_ANNOTATION)
    annotate = _add(literal(pointer("metadata", "annotations", POLICY_ANNOTATION)), name)
    whole = _add(literal("/metadata/annotations"), "{" + key + ": " + name + "}")
    parts.append(
        f"(!has(object.metadata.annotations) ? [{whole}]"
        f" : {key} in object.metadata.annotations && object.metadata.annotations[{key}] == {name} ? []"
        f" : [{annotate}])"
    )
    return " + ".join(parts)
