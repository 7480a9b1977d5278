"""Hypothesis strategies for Pods with every shape of placement, and for valid policy files."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

from tests.helpers import minimal_pod

KEYS = ["pool", "zone", "nvidia.com/gpu.product", "example.com/a_b.c", "seldon-gpu-srv"]
VALUES = ["a", "b", "infer-srv", "true", "1", "5", "10"]
EFFECTS = [None, "NoSchedule", "PreferNoSchedule", "NoExecute"]

keys = st.sampled_from(KEYS)
values = st.sampled_from(VALUES)


@st.composite
def tolerations(draw: st.DrawFn) -> dict[str, Any]:
    toleration: dict[str, Any] = {}
    key = draw(st.sampled_from([*KEYS, ""]))
    operator = "Exists" if key == "" else draw(st.sampled_from(["Equal", "Exists"]))
    if key:
        toleration["key"] = key
    toleration["operator"] = operator
    if operator == "Equal":
        toleration["value"] = draw(values)
    effect = draw(st.sampled_from(EFFECTS))
    if effect:
        toleration["effect"] = effect
    if effect == "NoExecute" and draw(st.booleans()):
        toleration["tolerationSeconds"] = draw(st.integers(0, 600))
    return toleration


@st.composite
def requirements(draw: st.DrawFn) -> dict[str, Any]:
    operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]))
    expr: dict[str, Any] = {"key": draw(keys), "operator": operator}
    if operator in ("In", "NotIn"):
        expr["values"] = draw(st.lists(values, min_size=1, max_size=3, unique=True))
    elif operator in ("Gt", "Lt"):
        expr["values"] = [str(draw(st.integers(0, 20)))]
    return expr


@st.composite
def terms(draw: st.DrawFn) -> dict[str, Any]:
    term: dict[str, Any] = {}
    expressions = draw(st.lists(requirements(), max_size=3))
    if expressions or draw(st.booleans()):
        term["matchExpressions"] = expressions
    if draw(st.integers(0, 4)) == 0:
        term["matchFields"] = [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]
    return term


@st.composite
def preferred_terms(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "weight": draw(st.integers(1, 100)),
        "preference": {"matchExpressions": draw(st.lists(requirements(), min_size=1, max_size=2))},
    }


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    """Valid Pods with any mix of existing placement, odd-but-legal keys and unicode values."""
    pod = minimal_pod()
    spec = pod["spec"]
    if draw(st.booleans()):
        spec["tolerations"] = draw(st.lists(tolerations(), max_size=4))
    if draw(st.booleans()):
        spec["nodeSelector"] = draw(st.dictionaries(keys, values, max_size=3))
    node_affinity: dict[str, Any] = {}
    if draw(st.booleans()):
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": draw(st.lists(terms(), min_size=1, max_size=3))
        }
    if draw(st.booleans()):
        node_affinity["preferredDuringSchedulingIgnoredDuringExecution"] = draw(
            st.lists(preferred_terms(), max_size=2)
        )
    if node_affinity or draw(st.booleans()):
        spec["affinity"] = {"nodeAffinity": node_affinity} if node_affinity else {}
    if draw(st.booleans()):
        pod["metadata"]["annotations"] = draw(
            st.dictionaries(
                st.sampled_from(["a/b", "x~y", "placement-webhook.io/policy", "ünï"]),
                st.text(max_size=8),
                max_size=3,
            )
        )
    if draw(st.booleans()):
        pod["metadata"]["labels"]["team"] = draw(st.sampled_from(["nlp", "cv"]))
    if draw(st.booleans()):
        env = [
            {"name": f"VAR_{i}", "value": draw(st.text(max_size=5))} for i in range(draw(st.integers(0, 200)))
        ]
        spec["containers"][0]["env"] = env
    if draw(st.booleans()):
        spec["containers"][0]["resources"] = {
            "limits": {"nvidia.com/gpu": draw(st.sampled_from(["0", "1", "2"]))}
        }
    return pod


@st.composite
def policy_documents(draw: st.DrawFn) -> str:
    """Policy files of 1-3 policies; some may be invalid (e.g. self-contradicting): callers filter."""
    policies = []
    for i in range(draw(st.integers(1, 3))):
        placement: dict[str, Any] = {}
        if draw(st.booleans()):
            placement["tolerations"] = draw(st.lists(tolerations(), min_size=1, max_size=3))
        if draw(st.booleans()):
            placement["nodeSelector"] = draw(st.dictionaries(keys, values, min_size=1, max_size=2))
        affinity: dict[str, Any] = {}
        if draw(st.booleans()):
            affinity["required"] = draw(st.lists(requirements(), min_size=1, max_size=3))
        if draw(st.booleans()):
            affinity["preferred"] = [
                {"weight": t["weight"], "matchExpressions": t["preference"]["matchExpressions"]}
                for t in draw(st.lists(preferred_terms(), min_size=1, max_size=2))
            ]
        if affinity:
            placement["nodeAffinity"] = affinity
        if not placement:
            placement["tolerations"] = [{"key": "seldon-gpu-srv", "operator": "Exists"}]
        policy: dict[str, Any] = {"name": f"p{i}", "placement": placement}
        match = draw(
            st.sampled_from(
                [
                    {},
                    {"servers": ["*"]},
                    {"podSelector": {"matchLabels": {"team": "nlp"}}},
                    {"resources": ["nvidia.com/gpu"]},
                    {"namespaces": ["other"]},
                ]
            )
        )
        if match:
            policy["match"] = match
        policy["onConflict"] = draw(st.sampled_from(["warn", "deny"]))
        policy["mode"] = draw(st.sampled_from(["enforce", "enforce", "audit"]))
        policies.append(policy)
    return yaml.safe_dump({"version": 1, "policies": policies})


# Legal but unusual: prefixes with dots and dashes, the longest name part, '/' (JSON Pointer ~1)
ODD_LABEL_KEYS = [
    "example.com/a_b.c",
    "a.b-c.d/x.y_z-9",
    "x/y",
    "k8s.io/UPPER.lower_9",
    "n" * 63,
    "sub.domain.example/" + "m" * 63,
]
UNICODE = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=16)


@st.composite
def hostile_pods(draw: st.DrawFn) -> dict[str, Any]:
    """``pods()`` plus odd label and annotation keys, unicode values, many affinity terms with many
    expressions, and environment lists of thousands of entries."""
    pod = draw(pods())
    spec, metadata = pod["spec"], pod["metadata"]
    metadata["labels"].update(
        draw(
            st.dictionaries(
                st.sampled_from(ODD_LABEL_KEYS), st.sampled_from(["v", "a-b_c.d", "Z9", ""]), max_size=3
            )
        )
    )
    annotations = draw(st.dictionaries(st.sampled_from(ODD_LABEL_KEYS), UNICODE, max_size=3))
    if annotations:
        metadata.setdefault("annotations", {}).update(annotations)
    if draw(st.booleans()):
        many = draw(st.lists(st.lists(requirements(), min_size=1, max_size=8), min_size=4, max_size=10))
        node_affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": expressions} for expressions in many]
        }
    if draw(st.booleans()):
        value, count = draw(UNICODE), draw(st.integers(500, 5000))
        spec["containers"][0]["env"] = [{"name": f"V_{i}", "value": f"{value}{i}"} for i in range(count)]
    return pod
