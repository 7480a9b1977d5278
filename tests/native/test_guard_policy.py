"""The native guard's objects: which exist for which reservations, what they match, and that the
policy file's values reach them only as quoted data."""

from __future__ import annotations

import re
from typing import Any

from tests.helpers import BUNDLED_POLICIES, ROOT, policies
from webhook.native import compile_guard_policy, guard_policies, inert_policy

RESERVED = (ROOT / "examples" / "reserved-gpu-pool.yaml").read_text()


def kinds(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in objects]


def test_no_reservations_no_objects_and_inert_policies_for_the_server() -> None:
    none = policies(BUNDLED_POLICIES.read_text())
    assert compile_guard_policy(none) == []
    assert guard_policies(none, name="g") == [inert_policy("g"), inert_policy("g-audit")]


def test_one_policy_and_binding_per_mode_that_has_reservations() -> None:
    enforce_only = policies(RESERVED)
    assert kinds(compile_guard_policy(enforce_only, name="g")) == [
        ("ValidatingAdmissionPolicy", "g"),
        ("ValidatingAdmissionPolicyBinding", "g"),
    ]
    both = policies(RESERVED + "- taint: {key: dedicated}\n  mode: audit\n")
    objects = compile_guard_policy(both, name="g", excluded_namespaces=["kube-system", "pw"])
    assert kinds(objects)[2:] == [
        ("ValidatingAdmissionPolicy", "g-audit"),
        ("ValidatingAdmissionPolicyBinding", "g-audit"),
    ]
    assert objects[1]["spec"]["validationActions"] == ["Deny"]
    assert objects[3]["spec"]["validationActions"] == ["Warn", "Audit"]
    assert objects[1]["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"] == [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "pw"]}
    ]
    policy = objects[0]["spec"]
    assert policy["failurePolicy"] == "Fail"  # an expression that cannot be evaluated refuses
    assert policy["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}
    ]
    assert [c["name"] for c in policy["matchConditions"]] == ["tolerates-a-reserved-taint"]
    assert len(policy["validations"]) == 1 and policy["validations"][0]["reason"] == "Forbidden"


def test_only_the_enforce_policies_up_to_the_last_granting_one_are_compiled() -> None:
    text = RESERVED.replace(
        "reservations:",
        "- name: after\n  match: {namespaces: [x]}\n  placement: {nodeSelector: {a: b}}\nreservations:",
    )
    spec = compile_guard_policy(policies(text))[0]["spec"]
    names = [v["name"] for v in spec["variables"]]
    assert "matches0" in names and "matches1" not in names  # "after" cannot change who is entitled
    assert "carried0" in names and "selected" in names


def test_user_values_are_quoted_data() -> None:
    hostile = re.sub(
        r"message: .*",
        "message: 'quote \" and backslash \\\\ and ) || true'",
        RESERVED.replace("[gpu-operator]", "['gpu\"op) || true || (\"x']"),
    )
    spec = compile_guard_policy(policies(hostile))[0]["spec"]
    validation = spec["validations"][0]
    assert '"(?s)^gpu\\"op\\\\) \\\\|\\\\| true \\\\|\\\\| \\\\(\\"x$"' in validation["expression"]
    assert 'quote \\" and backslash' in validation["messageExpression"]
