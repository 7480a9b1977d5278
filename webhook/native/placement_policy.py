"""The policy file's enforce policies compiled into one MutatingAdmissionPolicy, and their
conflicts into ValidatingAdmissionPolicies: what ``/mutate`` does, evaluated by the API server.

- The MutatingAdmissionPolicy holds every enforce policy: ``selected`` is the index of the first
  one whose ``match`` holds (``policy_matches``, in file order), and its one ``JSONPatch`` mutation
  adds that policy's plan (``placement_cel``) unless it conflicts or the Pod already has it all.
  ``reinvocationPolicy: IfNeeded``: a Pod that has it all gets no patch, so reinvocation is safe.
- Conflicts are not mutations: ``onConflict: deny`` policies are judged by a ValidatingAdmissionPolicy
  with ``Deny`` (NAME-deny), ``warn`` ones by one with ``Warn`` (NAME-warn), with ``/mutate``'s words.
  Validating policies see the Pod after every mutation; a conflicting Pod was not patched by us.
- The bindings send what the mutating webhook is sent: Pods labelled ``seldon-server-name``, not
  bound to a node, outside the excluded namespaces. ``namespaceSelector`` criteria read
  ``namespaceObject``: no cache and no RBAC.

What CEL cannot do here is refused per policy (``native_problems``): an audit policy warns about
the Pod as it was before any mutation, which no admission policy sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webhook.admission.response import MAX_WARNING_CHARS, WARNING_PREFIX
from webhook.kube.objects import SERVER_NAME_LABEL
from webhook.native.cel import literal
from webhook.native.facts import SHARED, policy_matches
from webhook.native.placement_cel import (
    PLACEMENT_VARIABLES,
    conflict_message,
    conflict_variables,
    constraint_variables,
    constraints,
    patch_ops,
    plan_variables,
)
from webhook.policy.compiled import CompiledPolicy, PolicySet

API_VERSION = "admissionregistration.k8s.io/v1"
DEFAULT_NAME = "placement-webhook"
LABELS = {"app.kubernetes.io/managed-by": "placement-webhook"}
POD_CREATE = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
NOT_BOUND = {
    "name": "not-bound-to-a-node",
    "expression": "!has(object.spec.nodeName) || object.spec.nodeName == ''",
}
#: a patch of no ops typed as one: the API server refuses ``[]`` (``list(dyn)``, not ``list(JSONPatch)``)
NO_PATCH = "[JSONPatch{op: 'test', path: '/kind', value: 'Pod'}].filter(op, false)"
AUDIT_REASON = (
    "audit mode: its warnings describe the Pod before any mutation, which an admission policy"
    " cannot see (keep it in the webhook)"
)


def native_problems(policies: PolicySet) -> list[tuple[str, str]]:
    """(policy name, one-line reason) for every policy that cannot run natively."""
    return [(p.name, AUDIT_REASON) for p in policies.policies if p.policy.mode == "audit"]


def _enforce(policies: PolicySet) -> list[CompiledPolicy]:
    return [p for p in policies.policies if p.policy.mode != "audit"]


def _variables(
    enforce: list[CompiledPolicy], judged: list[CompiledPolicy], *, plans: bool
) -> list[dict[str, str]]:
    """The shared facts, the match chain over the enforce policies, and the conflict variables
    (with their constraints') of the ``judged`` policies; with ``plans``, what each would add."""
    found = {**SHARED, **PLACEMENT_VARIABLES}
    for p in enforce:
        found[f"matches{p.index}"] = policy_matches(p)
    found["selected"] = "".join(f"variables.matches{p.index} ? {p.index} : " for p in enforce) + "-1"
    ids = constraints(judged)
    found.update(constraint_variables(ids))
    for p in judged:
        found.update(conflict_variables(p, ids))
        if plans:
            found.update(plan_variables(p))
    return [{"name": k, "expression": v} for k, v in found.items()]


#: characters of CEL per mutation: the API server refuses an expression much longer (a file of 50
#: policies in one expression was refused); policies beyond it go to the next mutation
MUTATION_CHARS = 40_000


def _mutations(enforce: list[CompiledPolicy]) -> list[dict[str, Any]]:
    """The JSON Patch of the selected policy, as few mutations as the size limit allows (each
    evaluation of one recomputes the shared variables): each is a chain over its policies, at
    most one of which patches; mutations apply in order."""
    groups: list[list[str]] = [[]]
    size = 0
    for p in enforce:
        step = (
            f"variables.selected == {p.index}"
            f" ? (!variables.p{p.index}_conflict && variables.p{p.index}_changes"
            f" ? {patch_ops(p)} : {NO_PATCH}) : "
        )
        if groups[-1] and size + len(step) > MUTATION_CHARS:
            groups.append([])
            size = 0
        groups[-1].append(step)
        size += len(step)
    return [{"patchType": "JSONPatch", "jsonPatch": {"expression": "".join(g) + NO_PATCH}} for g in groups]


def _match_resources(excluded: Sequence[str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(excluded)}
            ]
        },
        "objectSelector": {"matchExpressions": [{"key": SERVER_NAME_LABEL, "operator": "Exists"}]},
    }


def mutating_policy(policies: PolicySet, *, name: str = DEFAULT_NAME) -> dict[str, Any]:
    enforce = _enforce(policies)
    return {
        "apiVersion": API_VERSION,
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "IfNeeded",
            "matchConstraints": {"resourceRules": [POD_CREATE]},
            "matchConditions": [NOT_BOUND],
            "variables": _variables(enforce, enforce, plans=True),
            "mutations": _mutations(enforce),
        },
    }


def _short_warning(message: str) -> str:
    """``short_warning`` in CEL (no line breaks or control characters can occur in these)."""
    line = f"({literal(WARNING_PREFIX)} + {message})"
    head = (MAX_WARNING_CHARS - 1) * 2 // 3
    tail = MAX_WARNING_CHARS - 1 - head
    return (
        f"size({line}) <= {MAX_WARNING_CHARS} ? {line}"
        f" : {line}.substring(0, {head}) + '…' + {line}.substring(size({line}) - {tail})"
    )


def conflict_policy(policies: PolicySet, *, name: str, deny: bool) -> dict[str, Any] | None:
    """The ValidatingAdmissionPolicy for the enforce policies with ``onConflict: deny`` (or
    ``warn``); None when there are none."""
    enforce = _enforce(policies)
    judged = [p for p in enforce if (p.policy.on_conflict == "deny") is deny]
    if not judged:
        return None
    validations = []
    for p in judged:
        message = conflict_message(p)
        validations.append(
            {
                "expression": f"!(variables.selected == {p.index} && variables.p{p.index}_conflict)",
                "messageExpression": (
                    f"{literal(WARNING_PREFIX)} + {message}"
                    if deny
                    else _short_warning(f"{message} + '; not applied'")
                ),
                "reason": "Forbidden",
            }
        )
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": {
            # a warning must never refuse a Pod; a denial must not be skipped
            "failurePolicy": "Fail" if deny else "Ignore",
            "matchConstraints": {"resourceRules": [POD_CREATE]},
            "matchConditions": [NOT_BOUND],
            "variables": _variables(enforce, judged, plans=False),
            "validations": validations,
        },
    }


def _binding(kind: str, name: str, excluded: Sequence[str], actions: list[str] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"policyName": name, "matchResources": _match_resources(excluded)}
    if actions is not None:
        spec["validationActions"] = actions
    return {
        "apiVersion": API_VERSION,
        "kind": kind + "Binding",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": spec,
    }


def compile_placement_policies(
    policies: PolicySet, *, excluded_namespaces: Sequence[str] = ("kube-system",), name: str = DEFAULT_NAME
) -> list[dict[str, Any]]:
    """The MutatingAdmissionPolicy (``name``), the conflict policies (``name-deny``, ``name-warn``,
    those that have policies) and their bindings. The caller refuses a file with
    ``native_problems`` first."""
    objects = [mutating_policy(policies, name=name)]
    objects.append(_binding("MutatingAdmissionPolicy", name, excluded_namespaces, None))
    for deny, suffix, actions in ((True, "-deny", ["Deny"]), (False, "-warn", ["Warn"])):
        policy = conflict_policy(policies, name=name + suffix, deny=deny)
        if policy is not None:
            objects.append(policy)
            objects.append(_binding("ValidatingAdmissionPolicy", name + suffix, excluded_namespaces, actions))
    return objects


def _inert(kind: str, name: str) -> dict[str, Any]:
    """What the chart installs under each name the server keeps (so it needs only to patch them)
    and what a conflict policy holds while no policy of its kind is left: admits, mutates nothing."""
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": [POD_CREATE]},
        # the compiled policies' condition, by name: applying it replaces this one
        "matchConditions": [{"name": NOT_BOUND["name"], "expression": "false"}],
    }
    if kind == "MutatingAdmissionPolicy":
        spec["reinvocationPolicy"] = "IfNeeded"
        spec["mutations"] = [{"patchType": "JSONPatch", "jsonPatch": {"expression": NO_PATCH}}]
    else:
        spec["validations"] = [{"expression": "true"}]
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


def inert_placement_policies(name: str = DEFAULT_NAME) -> list[dict[str, Any]]:
    return [
        _inert("MutatingAdmissionPolicy", name),
        _inert("ValidatingAdmissionPolicy", name + "-deny"),
        _inert("ValidatingAdmissionPolicy", name + "-warn"),
    ]


def placement_policies(policies: PolicySet, *, name: str = DEFAULT_NAME) -> list[dict[str, Any]]:
    """The three policies the server keeps in step (``name``, ``name-deny``, ``name-warn``; a
    conflict policy inert while no policy has its ``onConflict``); their bindings are the chart's.
    Audit policies are left out (``native_problems``): they warn only through the webhook."""
    objects = [mutating_policy(policies, name=name)]
    for deny, suffix in ((True, "-deny"), (False, "-warn")):
        compiled = conflict_policy(policies, name=name + suffix, deny=deny)
        objects.append(
            compiled if compiled is not None else _inert("ValidatingAdmissionPolicy", name + suffix)
        )
    return objects
