"""The reservation guard compiled into a ValidatingAdmissionPolicy and binding per mode.

The API server evaluates these in-process, so the guard holds while no webhook replica answers.
They decide what ``webhook.engine.guard.guard_pod`` decides for every Pod the API server admits,
except ``spec.nodeName`` (a Node's taints are out of CEL's reach: the webhook's fail-closed
``nodeName`` entry keeps those Pods). For each reservation, a Pod whose tolerations tolerate its
taint must be entitled: the first matching enforce policy grants a toleration of it and the Pod
carries that policy's placement (``placement_carried``), or an allow rule holds, or (UPDATE) every
such toleration was covered by one of the old Pod's. The CEL is generated from the compiled
policies (``webhook.native.cel``); a policy file's values reach it only as quoted literals.

``validationActions``: ``[Deny]`` for enforce reservations (policy and binding ``NAME``),
``[Warn, Audit]`` for audit ones (``NAME-audit``). ``failurePolicy: Fail``: an expression that
cannot be evaluated refuses rather than admits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webhook.engine.guard import DEFAULT_ACCESS, grants
from webhook.native.cel import (
    covers,
    covers_any_seconds,
    describe_toleration,
    label_selector,
    literal,
    literal_list,
    matches_any_glob,
    tolerates_reserved,
)
from webhook.native.facts import SHARED, policy_matches
from webhook.policy.compiled import CompiledPolicy, PolicySet
from webhook.policy.reservations import CompiledReservation

API_VERSION = "admissionregistration.k8s.io/v1"
MATCH_CONDITION = "tolerates-a-reserved-taint"
#: what the guard judges: Pod CREATE and UPDATE (subresources are other resources: not matched)
POD_RULE = {
    "apiGroups": [""],
    "apiVersions": ["v1"],
    "operations": ["CREATE", "UPDATE"],
    "resources": ["pods"],
}
WHY = "but no enforce policy places it there and no allow rule admits it"


def _required_in_term(expression: dict[str, Any]) -> str:
    """The term ``term`` holds this requirement (key, operator, values as a set)."""
    values = literal_list(expression.get("values") or [])
    same_values = f"has(e.values) && e.values.all(v, v in {values}) && {values}.all(v, v in e.values)"
    if not expression.get("values"):
        same_values = "!has(e.values)"
    return (
        f"has(term.matchExpressions) && term.matchExpressions.exists(e, e.key == {literal(expression['key'])}"
        f" && e.operator == {literal(expression['operator'])} && ({same_values}))"
    )


def placement_carried(policy: CompiledPolicy) -> str:
    """``placement_carried``: the Pod carries ``policy``'s tolerations, nodeSelector pairs and
    required requirements in every non-empty term."""
    tests = [f"variables.tolerations.exists(o, {covers('o', t)})" for t in policy.tolerations]
    selector = "(has(object.spec.nodeSelector) ? object.spec.nodeSelector : {})"
    tests += [
        f"({literal(k)} in {selector} && {selector}[{literal(k)}] == {literal(v)})"
        for k, v in policy.node_selector.items()
    ]
    if policy.required:
        affinity = "object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        present = (
            "has(object.spec.affinity) && has(object.spec.affinity.nodeAffinity)"
            " && has(object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution)"
        )
        empty = (
            "((!has(term.matchExpressions) || size(term.matchExpressions) == 0)"
            " && (!has(term.matchFields) || size(term.matchFields) == 0))"
        )
        wanted = " && ".join(f"({_required_in_term(e)})" for e in policy.required)
        terms = f"(has({affinity}.nodeSelectorTerms) ? {affinity}.nodeSelectorTerms : [])"
        tests.append(f"({present} && {terms}.all(term, {empty} || ({wanted})))")
    return " && ".join(tests) if tests else "true"


def _allow(reservation: CompiledReservation) -> list[str]:
    rules = []
    for rule in reservation.reservation.allow:
        tests = []
        if rule.namespaces is not None:
            tests.append(matches_any_glob("request.namespace", rule.namespaces))
        if rule.pod_selector is not None:
            tests.append(label_selector("variables.labels", rule.pod_selector.model_dump(by_alias=True)))
        if rule.daemon_sets:
            tests.append(
                "has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(r,"
                " has(r.controller) && r.controller == true && r.kind == 'DaemonSet'"
                " && r.apiVersion == 'apps/v1')"
            )
        rules.append("(" + " && ".join(tests) + ")")
    return rules


WHO = (
    "request.namespace + '/' + (has(object.metadata.name) && object.metadata.name != ''"
    " ? object.metadata.name : has(object.metadata.generateName) && object.metadata.generateName != ''"
    " ? object.metadata.generateName + '*' : '<unnamed>')"
)


def _message(reservation: CompiledReservation, tolerating: str, *, audit: bool) -> str:
    """The guard's refusal, as ``_refusal`` words it for one taint."""
    access = reservation.reservation.message or ("" if audit else DEFAULT_ACCESS)
    prefix = "placement-webhook: audit: " if audit else "placement-webhook: "
    many = f"(size({tolerating}) > 1 ? 's' : '')"
    described = f"{tolerating}.map(t, {describe_toleration('t')}).join(', ')"
    verb = "(request.operation == 'UPDATE' ? ' is updated to tolerate' : ' tolerates')"
    tail = f", {WHY}" + (f"; {access}" if access else "")
    return (
        f"{literal(prefix + 'Pod ')} + {WHO} + {verb}"
        f" + {literal(' the reserved taint ' + reservation.taint + ' (toleration')} + {many} + ' '"
        f" + {described} + {literal(')' + tail)}"
    )


def _policy_object(
    policies: PolicySet, reservations: list[CompiledReservation], *, name: str, audit: bool
) -> dict[str, Any]:
    enforce = [p for p in policies.policies if p.policy.mode != "audit"]
    variables = [{"name": k, "expression": v} for k, v in SHARED.items()]
    granting = {r.index: [p for p in enforce if grants(p, r)] for r in reservations}
    deciding = sorted({p.index for ps in granting.values() for p in ps})
    if deciding:  # which enforce policy applies matters only when one of them grants a reserved taint
        last = max(deciding)
        considered = [p for p in enforce if p.index <= last]
        for p in considered:
            variables.append({"name": f"matches{p.index}", "expression": policy_matches(p)})
        chain = "".join(f"variables.matches{p.index} ? {p.index} : " for p in considered) + "-1"
        variables.append({"name": "selected", "expression": chain})
        for index in deciding:
            policy = policies.policies[index]
            variables.append({"name": f"carried{index}", "expression": placement_carried(policy)})
    validations = []
    for r in reservations:
        tolerating = f"variables.tolerating{r.index}"
        test = tolerates_reserved("t", key=r.key, value=r.value, effect=r.effect)
        variables.append(
            {"name": f"tolerating{r.index}", "expression": f"variables.tolerations.filter(t, {test})"}
        )
        entitled = [
            f"(variables.selected == {p.index} && variables.carried{p.index})" for p in granting[r.index]
        ]
        entitled += _allow(r)
        entitled.append(
            f"(request.operation == 'UPDATE' && {tolerating}.all(t, variables.oldTolerations.exists(o,"
            f" {covers_any_seconds('o', 't')})))"
        )
        validations.append(
            {
                "expression": f"size({tolerating}) == 0 || " + " || ".join(entitled),
                "messageExpression": _message(r, tolerating, audit=audit),
                "reason": "Forbidden",
            }
        )
    any_reserved = " || ".join(
        tolerates_reserved("t", key=r.key, value=r.value, effect=r.effect) for r in reservations
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "placement-webhook"}},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["pods"],
                    }
                ]
            },
            "matchConditions": [
                {
                    "name": MATCH_CONDITION,
                    "expression": (
                        f"has(object.spec.tolerations) && object.spec.tolerations.exists(t, {any_reserved})"
                    ),
                }
            ],
            "variables": variables,
            "validations": validations,
        },
    }


def _binding(name: str, excluded: Sequence[str], actions: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "placement-webhook"}},
        "spec": {
            "policyName": name,
            "validationActions": actions,
            "matchResources": {
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(excluded)}
                    ]
                }
            },
        },
    }


def inert_policy(name: str) -> dict[str, Any]:
    """A policy that refuses nothing: what the chart installs under each name the server keeps (so
    that the server needs only to patch them, never to create or delete), and what a name holds
    while no reservation of its mode is left."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [POD_RULE]},
            # the compiled policy's condition, by name: applying it replaces this one (SSA merges
            # matchConditions by name; one left by another field manager would stay and AND in)
            "matchConditions": [{"name": MATCH_CONDITION, "expression": "false"}],
            "validations": [{"expression": "true"}],
        },
    }


MODES = ((False, "", ["Deny"]), (True, "-audit", ["Warn", "Audit"]))


def guard_policies(policies: PolicySet, *, name: str = "placement-webhook-guard") -> list[dict[str, Any]]:
    """The two policies the server keeps in step (``name`` for the enforce reservations,
    ``name-audit`` for the audit ones), each inert while its mode has no reservation; their
    bindings are the chart's (they depend on its values, not on the policy file)."""
    objects = []
    for audit, suffix, _ in MODES:
        chosen = [r for r in policies.reservations if (r.reservation.mode == "audit") is audit]
        objects.append(
            _policy_object(policies, chosen, name=name + suffix, audit=audit)
            if chosen
            else inert_policy(name + suffix)
        )
    return objects


def compile_guard_policy(
    policies: PolicySet,
    *,
    excluded_namespaces: Sequence[str] = ("kube-system",),
    name: str = "placement-webhook-guard",
) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy and binding for the enforce reservations (``name``) and for
    the audit ones (``name-audit``), those that have any; [] without reservations. For review
    (``placement-webhook native-guard``) and for installs without the chart."""
    objects: list[dict[str, Any]] = []
    for audit, suffix, actions in MODES:
        chosen = [r for r in policies.reservations if (r.reservation.mode == "audit") is audit]
        if chosen:
            objects.append(_policy_object(policies, chosen, name=name + suffix, audit=audit))
            objects.append(_binding(name + suffix, excluded_namespaces, actions))
    return objects
