"""Generated (policy file, Pod) pairs for the native-mode equivalence test, seeded: the same every run.

Policies draw every match criterion and every placement field; Pods draw what makes placement
hard: ORed terms (empty ones, contradictory ones, Gt/Lt, NotIn, matchFields), existing tolerations
that cover or almost cover the policy's (``Exists`` with an empty key, other effects,
tolerationSeconds), nodeSelectors agreeing or conflicting, preferred terms already present, the
policy annotation already set, and the agent env and resources the matches read.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import yaml

NAMESPACES = {"e2e-eq-a": {"team": "nlp"}, "e2e-eq-b": {"team": "cv", "tier": "gold"}}
SERVERS = ["triton-gpu", "mlserver", "llm-7b", "triton-t4"]
POLICY_TOLERATIONS = [
    {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
    {"key": "seldon-gpu-srv", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "dedicated", "operator": "Exists"},
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "spot", "operator": "Equal", "value": "yes", "effect": "NoExecute", "tolerationSeconds": 30},
    {"operator": "Exists", "effect": "PreferNoSchedule"},
]
POD_TOLERATIONS = [
    *POLICY_TOLERATIONS,
    {"operator": "Exists"},
    {"operator": "Exists", "effect": "NoSchedule"},
    {"key": "seldon-gpu-srv", "operator": "Exists"},
    {"key": "seldon-gpu-srv", "value": "true"},
    {"key": "seldon-gpu-srv", "operator": "Equal", "value": "false", "effect": "NoSchedule"},
    {"key": "spot", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
    {"key": "spot", "operator": "Equal", "value": "yes", "effect": "NoExecute", "tolerationSeconds": 10},
    {"key": "spot", "operator": "Equal", "value": "yes", "effect": "NoExecute"},
]
REQUIRED = [
    {"key": "pool", "operator": "In", "values": ["infer-srv"]},
    {"key": "gpu", "operator": "In", "values": ["a100", "h100"]},
    {"key": "nvidia.com/mig.capable", "operator": "DoesNotExist"},
    {"key": "zone", "operator": "Exists"},
    {"key": "gen", "operator": "Gt", "values": ["3"]},
    {"key": "cores", "operator": "Lt", "values": ["64"]},
    {"key": "tier", "operator": "NotIn", "values": ["spot", "preemptible"]},
]
POD_EXPRESSIONS = [
    *REQUIRED,
    {"key": "pool", "operator": "In", "values": ["cpu", "infer-srv"]},
    {"key": "pool", "operator": "NotIn", "values": ["infer-srv"]},
    {"key": "pool", "operator": "DoesNotExist"},
    {"key": "gpu", "operator": "In", "values": ["t4"]},
    {"key": "gpu", "operator": "In", "values": ["h100", "a100"]},
    {"key": "gen", "operator": "Lt", "values": ["3"]},
    {"key": "gen", "operator": "Gt", "values": ["2"]},
    {"key": "gen", "operator": "In", "values": ["4", "07", "2"]},
    {"key": "cores", "operator": "Gt", "values": ["100"]},
    {"key": "zone", "operator": "DoesNotExist"},
    {"key": "tier", "operator": "In", "values": ["spot"]},
    {"key": "tier", "operator": "Exists"},
    {"key": "nvidia.com/mig.capable", "operator": "In", "values": ["true"]},
]
POD_FIELDS = [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]
NODE_SELECTORS = [
    {"pool": "infer-srv"},
    {"pool": "cpu"},
    {"gpu": "a100"},
    {"gpu": "t4", "zone": "z1"},
    {"tier": "spot"},
    {"gen": "5"},
]
PREFERRED = [
    {"weight": 50, "matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-A100"]}]},
    {"weight": 10, "matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}, {"key": "gen", "operator": "Gt", "values": ["4"]}]},
]  # fmt: skip
ENVS = [
    [{"name": "SELDON_SERVER_TYPE", "value": "triton"}, {"name": "SELDON_SERVER_CAPABILITIES", "value": "triton, gpu,llm"}],
    [{"name": "SELDON_SERVER_TYPE", "value": "mlserver"}, {"name": "SELDON_SERVER_CAPABILITIES", "value": "sklearn"}],
    [{"name": "SELDON_SERVER_TYPE", "value": "mlserver"}, {"name": "SELDON_SERVER_TYPE", "value": "triton"}],
    [{"name": "SELDON_SERVER_TYPE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    [],
]  # fmt: skip
RESOURCES = [
    {"limits": {"nvidia.com/gpu": "1"}},
    {"limits": {"nvidia.com/gpu": "0"}},
    {"requests": {"cpu": "1"}},
    {},
]
POLICY_ANNOTATION = "placement-webhook.io/policy"


def _some(rng: random.Random, items: list[Any], most: int) -> list[Any]:
    return [copy.deepcopy(x) for x in rng.sample(items, rng.randint(1, min(most, len(items))))]


def _match(rng: random.Random) -> dict[str, Any]:
    match: dict[str, Any] = {}
    if rng.random() < 0.3:
        match["namespaces"] = rng.choice([["e2e-eq-a"], ["e2e-eq-*"], ["e2e-eq-[b]", "other"]])
    if rng.random() < 0.4:
        match["servers"] = rng.choice([["triton*"], ["*"], ["llm-?b", "mlserver"]])
    if rng.random() < 0.3:
        match["serverTypes"] = rng.choice([["triton"], ["mlserver"]])
    if rng.random() < 0.2:
        match["capabilities"] = rng.choice([["gpu"], ["llm", "triton"]])
    if rng.random() < 0.4:
        match["resources"] = rng.choice([["nvidia.com/gpu"], ["nvidia.com/*"]])
    if rng.random() < 0.15:
        match["podSelector"] = rng.choice(
            [{"matchLabels": {"tier": "gold"}}, {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}]}]
        )  # fmt: skip
    if rng.random() < 0.15:
        match["namespaceSelector"] = rng.choice(
            [{"matchLabels": {"team": "nlp"}}, {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}]
        )
    return match


def policy_file(rng: random.Random) -> str:
    """One to four enforce policies; the first matching one applies."""
    policies = []
    for i in range(rng.randint(1, 4)):
        placement: dict[str, Any] = {}
        while not placement:
            if rng.random() < 0.7:
                placement["tolerations"] = _some(rng, POLICY_TOLERATIONS, 3)
            if rng.random() < 0.5:
                placement["nodeSelector"] = rng.choice(NODE_SELECTORS[:4])
            affinity: dict[str, Any] = {}
            if rng.random() < 0.7:
                affinity["required"] = _some(rng, REQUIRED, 3)
            if rng.random() < 0.3:
                affinity["preferred"] = _some(rng, PREFERRED, 2)
            if affinity:
                placement["nodeAffinity"] = affinity
        policy = {"name": f"p{i}", "match": _match(rng), "placement": placement}
        if rng.random() < 0.35:
            policy["onConflict"] = "deny"
        policies.append(policy)
    return yaml.safe_dump({"version": 1, "policies": policies}, sort_keys=False)


def _term(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.05:
        return {"matchFields": copy.deepcopy(POD_FIELDS)}
    term: dict[str, Any] = {"matchExpressions": _some(rng, POD_EXPRESSIONS, 3)}
    if roll > 0.93:
        term["matchFields"] = copy.deepcopy(POD_FIELDS)
    return term


def pod(rng: random.Random, name: str) -> tuple[str, dict[str, Any]]:
    """(namespace, Pod) shaped like a Seldon server's, placement fields drawn at random."""
    agent: dict[str, Any] = {"name": "agent", "image": "registry.invalid/agent:1"}
    if env := rng.choice(ENVS):
        agent["env"] = copy.deepcopy(env)
    if resources := rng.choice(RESOURCES):
        agent["resources"] = copy.deepcopy(resources)
    spec: dict[str, Any] = {"containers": [agent], "automountServiceAccountToken": False}
    if rng.random() < 0.6:
        spec["tolerations"] = _some(rng, POD_TOLERATIONS, 3)
    if rng.random() < 0.4:
        spec["nodeSelector"] = dict(rng.choice(NODE_SELECTORS))
    node_affinity: dict[str, Any] = {}
    if rng.random() < 0.6:
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [_term(rng) for _ in range(rng.randint(1, 3))]
        }
    if rng.random() < 0.3:
        chosen = _some(rng, PREFERRED, 2)
        node_affinity["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": p["weight"], "preference": {"matchExpressions": list(reversed(p["matchExpressions"]))}}
            for p in chosen
        ]
    if node_affinity:
        spec["affinity"] = {"nodeAffinity": node_affinity}
    labels = {"seldon-server-name": rng.choice(SERVERS)}
    if rng.random() < 0.3:
        labels["tier"] = "gold"
    metadata: dict[str, Any] = {"name": name, "labels": labels}
    if rng.random() < 0.1:
        metadata["annotations"] = {POLICY_ANNOTATION: rng.choice(["p0", "someone-else"])}
    return rng.choice(list(NAMESPACES)), {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
    }


# --- fixed rounds: the Seldon fixtures, and the numeric corners of satisfiability --------------------


def spellings(number: int) -> list[str]:
    """Every label value ``strconv.ParseInt`` reads as ``number``: padded with zeros up to 63 characters."""
    digits = str(number)
    return [digits.rjust(width, "0") for width in range(len(digits), 64)]


def server_pod(name: str, expressions: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """A GPU server Pod whose required affinity has these terms (ORed)."""
    terms = [{"matchExpressions": e} for e in expressions]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"seldon-server-name": "triton-gpu"}},
            "spec": {"automountServiceAccountToken": False, "containers": [{"name": "agent", "image": "registry.invalid/a:1",
                     "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
                     "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}}  # fmt: skip


def numeric_pods() -> list[dict[str, Any]]:
    """Gt/Lt windows whose every integer is excluded by NotIn spellings, or all but one spelling."""
    lt6 = {"key": "gen", "operator": "Lt", "values": ["6"]}
    four_five = {"key": "gen", "operator": "NotIn", "values": spellings(4) + spellings(5)}
    four = {"key": "gen", "operator": "NotIn", "values": spellings(4)}
    almost = {"key": "gen", "operator": "NotIn", "values": spellings(4) + spellings(5)[:-1]}
    gt3 = {"key": "gen", "operator": "Gt", "values": ["3"]}
    cases = [
        [[lt6, four_five]],  # with Gt 3 nothing is left: conflict
        [[lt6, four]],  # 5 is left
        [[lt6, almost]],  # 5 spelled with 62 zeros is left
        [[gt3, lt6, four_five]],  # nothing matches on its own: unschedulable
        [[gt3, lt6, four_five], [{"key": "pool", "operator": "Exists"}]],  # the other term
        [[{"key": "gen", "operator": "Gt", "values": ["9223372036854775807"]}]],
        [[{"key": "gen", "operator": "Lt", "values": ["0"]}]],
        [[{"key": "gen", "operator": "Gt", "values": ["007"]}]],
        [[{"key": "gen", "operator": "Gt", "values": ["9223372036854775806"]}]],
        [[{"key": "gen", "operator": "In", "values": ["4", "007", "x"]}, lt6]],
        [[{"key": "gen", "operator": "In", "values": ["3"]}]],
        [[{"key": "gen", "operator": "NotIn", "values": ["4"]}]],
        [[{"key": "gen", "operator": "DoesNotExist"}]],
        [[{"key": "gen", "operator": "Exists"}, four_five, lt6]],
    ]
    return [server_pod(f"num-{i}", terms) for i, terms in enumerate(cases)]


NUMERIC_FILES = {
    "numeric-gt": "version: 1\npolicies:\n- name: gen-gt\n  match: {servers: ['*']}\n  placement:\n"
    "    nodeAffinity: {required: [{key: gen, operator: Gt, values: ['3']}]}\n  onConflict: deny\n",
    "numeric-exists": "version: 1\npolicies:\n- name: gen-exists\n  match: {servers: ['*']}\n  placement:\n"
    "    nodeAffinity: {required: [{key: gen, operator: Exists}, {key: gen, operator: NotIn, values: ['5']}]}\n",
    "numeric-in": "version: 1\npolicies:\n- name: gen-in\n  match: {servers: ['*']}\n  placement:\n"
    "    nodeSelector: {gen: '04'}\n",
}


def fixed_rounds(root: Any) -> list[tuple[str, str, list[tuple[str, dict[str, Any]]]]]:
    """(name, policy file, (namespace, Pod) pairs): the e2e fixtures' Seldon server Pods with the
    shipped policies (their audit policy left out: it stays in the webhook) and the examples', and
    the numeric corners with policies that require Gt, Exists with NotIn, and a nodeSelector."""
    seldon = []
    for path in sorted((root / "tests" / "fixtures").glob("*-0.yaml")):
        pod = yaml.safe_load(path.read_text())
        pod["metadata"].pop("namespace", None)
        pod["spec"].pop("nodeName", None)
        pod["spec"]["automountServiceAccountToken"] = False  # no token volume of a random name
        seldon.append(pod)
    variants = []
    for pod in seldon:
        variants.append(pod)
        bare = copy.deepcopy(pod)
        bare["spec"].pop("tolerations", None)
        bare["spec"].pop("affinity", None)
        variants.append(bare)
    shipped = yaml.safe_load((root / "policies.yaml").read_text())
    shipped["policies"] = [p for p in shipped["policies"] if p.get("mode") != "audit"]
    rounds = [
        ("shipped", yaml.safe_dump(shipped), variants),
        ("gpu-pool", (root / "examples" / "gpu-pool.yaml").read_text(), variants),
        *((name, text, numeric_pods()) for name, text in NUMERIC_FILES.items()),
    ]
    return [(name, text, [(ns, p) for ns in NAMESPACES for p in pods]) for name, text, pods in rounds]
