"""The compiled native placement: its shape, its names, what it refuses, and that the policy file's
values reach the CEL only as literals. What the CEL decides is proven on the real API server
(tests/e2e/test_native_placement.py: the webhook and native mode, Pod for Pod)."""

from __future__ import annotations

import json
import re
from typing import Any

from webhook.native.placement_cel import pointer
from webhook.native.placement_policy import (
    AUDIT_REASON,
    MUTATION_CHARS,
    NO_PATCH,
    compile_placement_policies,
    native_problems,
)
from webhook.native.requirements import satisfiable_with
from webhook.policy.loading import load_policies_text

FILE = """\
version: 1
policies:
- name: first
  match: {namespaces: ["seldon-*"], servers: ["triton*"], resources: [nvidia.com/gpu]}
  placement:
    tolerations: [{key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}]
    nodeSelector: {nvidia.com/gpu.product: NVIDIA-A100}
    nodeAffinity:
      required: [{key: pool, operator: In, values: [infer-srv]}]
      preferred: [{weight: 5, matchExpressions: [{key: zone, operator: In, values: [z1]}]}]
  onConflict: deny
- name: second
  match: {namespaceSelector: {matchLabels: {team: nlp}}}
  placement: {nodeSelector: {pool: cpu}}
- name: watched
  mode: audit
  placement: {nodeSelector: {pool: cpu}}
"""


def objects(text: str = FILE, **options: Any) -> dict[str, dict[str, Any]]:
    policies = load_policies_text(
        text.replace("- name: watched\n  mode: audit\n  placement: {nodeSelector: {pool: cpu}}\n", "")
    )
    return {
        f"{o['kind']}/{o['metadata']['name']}": o for o in compile_placement_policies(policies, **options)
    }


def test_one_mutating_policy_and_a_validating_policy_per_conflict_mode_each_with_its_binding() -> None:
    found = objects(excluded_namespaces=["kube-system", "pw"], name="pw")
    assert sorted(found) == [
        "MutatingAdmissionPolicy/pw",
        "MutatingAdmissionPolicyBinding/pw",
        "ValidatingAdmissionPolicy/pw-deny",
        "ValidatingAdmissionPolicy/pw-warn",
        "ValidatingAdmissionPolicyBinding/pw-deny",
        "ValidatingAdmissionPolicyBinding/pw-warn",
    ]
    mutating = found["MutatingAdmissionPolicy/pw"]["spec"]
    assert mutating["reinvocationPolicy"] == "IfNeeded" and mutating["failurePolicy"] == "Fail"
    assert mutating["matchConstraints"]["resourceRules"][0]["operations"] == ["CREATE"]
    for binding in ("MutatingAdmissionPolicyBinding/pw", "ValidatingAdmissionPolicyBinding/pw-deny"):
        resources = found[binding]["spec"]["matchResources"]
        assert resources["namespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system", "pw"]
        assert resources["objectSelector"]["matchExpressions"] == [
            {"key": "seldon-server-name", "operator": "Exists"}
        ]
    assert found["ValidatingAdmissionPolicyBinding/pw-deny"]["spec"]["validationActions"] == ["Deny"]
    assert found["ValidatingAdmissionPolicyBinding/pw-warn"]["spec"]["validationActions"] == ["Warn"]
    # a warning never refuses a Pod when its expression fails; a denial is never skipped
    assert found["ValidatingAdmissionPolicy/pw-warn"]["spec"]["failurePolicy"] == "Ignore"
    assert found["ValidatingAdmissionPolicy/pw-deny"]["spec"]["failurePolicy"] == "Fail"


def test_the_first_matching_enforce_policy_is_selected_in_file_order() -> None:
    variables = {
        v["name"]: v["expression"]
        for v in objects()["MutatingAdmissionPolicy/placement-webhook"]["spec"]["variables"]
    }
    assert variables["selected"] == "variables.matches0 ? 0 : variables.matches1 ? 1 : -1"
    assert "namespaceObject" in variables["namespaceLabels"]  # namespaceSelector: no cache, no RBAC
    assert "team" in variables["matches1"] and "nlp" in variables["matches1"]


def test_each_conflict_policy_judges_only_its_own_policies() -> None:
    found = objects()
    deny = found["ValidatingAdmissionPolicy/placement-webhook-deny"]["spec"]["validations"]
    warn = found["ValidatingAdmissionPolicy/placement-webhook-warn"]["spec"]["validations"]
    assert [v["expression"] for v in deny] == ["!(variables.selected == 0 && variables.p0_conflict)"]
    assert [v["expression"] for v in warn] == ["!(variables.selected == 1 && variables.p1_conflict)"]
    assert "policy first conflicts with the Pod's own placement" in deny[0]["messageExpression"]
    assert "; not applied" in warn[0]["messageExpression"]


def test_a_file_without_enforce_policies_mutates_nothing() -> None:
    found = objects("version: 1\npolicies: []\n")
    assert found["MutatingAdmissionPolicy/placement-webhook"]["spec"]["mutations"][0]["jsonPatch"] == {
        "expression": NO_PATCH
    }
    assert len(found) == 2  # no conflict policies


def test_audit_policies_are_refused_with_a_reason() -> None:
    policies = load_policies_text(FILE)
    assert native_problems(policies) == [("watched", AUDIT_REASON)]


def test_values_from_the_policy_file_reach_the_cel_only_as_quoted_literals() -> None:
    hostile = "a') || true || ('"
    text = f"""\
version: 1
policies:
- name: p
  match: {{namespaces: [{json.dumps(hostile)}], servers: ["x\\\\y*"]}}
  placement: {{nodeSelector: {{pool: infer-srv}}}}
"""
    spec = objects(text)["MutatingAdmissionPolicy/placement-webhook"]["spec"]
    matches = next(v["expression"] for v in spec["variables"] if v["name"] == "matches0")
    literals = [json.loads(lit) for lit in re.findall(r'"(?:[^"\\]|\\.)*"', matches)]
    assert any(hostile in lit or "a'\\)" in lit for lit in literals)  # the glob's regex, quoted
    assert hostile not in re.sub(r'"(?:[^"\\]|\\.)*"', '""', matches)  # nowhere outside a literal


def test_json_pointers_escape_slashes_and_tildes() -> None:
    assert (
        pointer("spec", "nodeSelector", "nvidia.com/gpu.product")
        == "/spec/nodeSelector/nvidia.com~1gpu.product"
    )
    assert pointer("metadata", "annotations", "a~b/c") == "/metadata/annotations/a~0b~1c"


def test_constant_requirements_are_specialised() -> None:
    """An In among the policy's requirements leaves only the values it lists; DoesNotExist only absence."""
    text = satisfiable_with("R", [("In", ("b", "a", "c")), ("NotIn", ("c",))])
    assert '["a", "b"].exists(v' in text
    assert (
        satisfiable_with("R", [("DoesNotExist", ())])
        == "[R].all(sat_reqs, sat_reqs.all(r, (r[0] == 'NotIn' || r[0] == 'DoesNotExist')))"
    )
    assert "Gt" in satisfiable_with("R", [("Gt", ("3",))])  # numeric: the general case


def test_a_long_file_is_split_into_mutations_and_alike_constraints_are_computed_once() -> None:
    """The API server refuses one expression of fifty policies: the chain is split by size, in
    order, and policies constraining a key alike share one satisfiability test."""
    from tests.e2e.test_native_guard import many_policies

    found = objects(many_policies(50))
    spec = found["MutatingAdmissionPolicy/placement-webhook"]["spec"]
    chains = [m["jsonPatch"]["expression"] for m in spec["mutations"]]
    assert len(chains) > 1 and all(len(c) < 2 * MUTATION_CHARS for c in chains)
    selected = [int(n) for c in chains for n in re.findall(r"variables\.selected == (\d+) \?", c)]
    assert selected == list(range(50))  # each policy once, in file order
    names = [v["name"] for v in spec["variables"]]
    assert sorted(n for n in names if n.startswith("kc")) == [
        "kc0_selector", "kc0_terms", "kc1_selector", "kc1_terms", "kc2_selector", "kc2_terms"
    ]  # fmt: skip
    assert len(names) == len(set(names))
