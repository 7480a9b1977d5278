"""Simulation and policy reachability: the shared fixtures and Seldon manifests against node sets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    DEFAULT_TOLERATIONS,
    FIXTURES,
    NODES,
    SELDON,
    admission_review,
    bundled_policies,
    minimal_pod,
    one_policy,
    policies,
    read_manifest_files,
)
from webhook.cli.files import read_nodes
from webhook.engine.documents import Subject, subject_from_document
from webhook.engine.review import Review
from webhook.errors import InputError
from webhook.kube.objects import RawObject
from webhook.simulation.nodes import check_nodes
from webhook.simulation.reachability import Finding, check_policies, probe_pod, render_findings, shadows
from webhook.simulation.scheduling import NodeFit
from webhook.simulation.simulate import Simulation, render_simulation, simulate_subject, simulation_json

SHARED_NODES = FIXTURES / "nodes.yaml"


def nodes(name: str) -> list[RawObject]:
    return read_nodes(str(SHARED_NODES if name == "shared" else NODES / f"{name}.yaml"))[0]


def subject(*files: Path) -> Subject:
    [only] = read_manifest_files([str(f) for f in files], namespace=None)
    return only


def fitting(fits: list | None) -> list[str] | None:  # type: ignore[type-arg]
    return None if fits is None else [f.node for f in fits if f.fits]


TRITON = (FIXTURES / "triton-gpu-0.yaml",)
MLSERVER = (FIXTURES / "mlserver-0.yaml",)
SCHEDULER = (FIXTURES / "seldon-scheduler-0.yaml",)
SERVER_GPU = (SELDON / "server-triton-gpu.yaml", SELDON / "serverconfigs.yaml")
SERVER_LLM = (SELDON / "server-mlserver-llm.yaml", SELDON / "serverconfigs.yaml")
GPU_NODES = ["a100-40-1", "a100-80-1", "l4-1", "mig-1"]


@pytest.mark.parametrize(
    ("files", "node_set", "before", "after", "problems"),
    [
        (TRITON, "shared", ["cpu-node-1"], ["gpu-node-1"], []),
        (MLSERVER, "shared", ["cpu-node-1"], ["cpu-node-1"], []),
        (SCHEDULER, "shared", ["cpu-node-1"], ["cpu-node-1"], []),
        # the bundled gpu-servers policy lets whole-GPU Pods onto the MIG node, which offers no nvidia.com/gpu
        (
            TRITON,
            "gpu-pools",
            ["cpu-1", "cpu-2"],
            GPU_NODES,
            ["may land on mig-1, which offers no nvidia.com/gpu"],
        ),
        (
            SERVER_GPU,
            "gpu-pools",
            ["cpu-1", "cpu-2"],
            GPU_NODES,
            ["may land on mig-1, which offers no nvidia.com/gpu"],
        ),
        (MLSERVER, "gpu-pools", ["cpu-1", "cpu-2"], ["cpu-1", "cpu-2"], []),
        # before: a GPU Pod may land on CPU nodes; after: only the A100s (llm-on-a100)
        (SERVER_LLM, "gpu-pools", ["cpu-1", "cpu-2"], ["a100-40-1", "a100-80-1"], []),
        # GKE taints GPU nodes nvidia.com/gpu: without ExtendedResourceToleration nothing tolerates it
        (TRITON, "gke-gpu", ["gke-cpu-1"], [], ["fits no node after the policies"]),
        # NoExecute: the default not-ready toleration reaches not-ready-1; only the LLM Server's own
        # NoExecute toleration reaches the draining node (and its policy's affinity then excludes it)
        (TRITON, "conditions", [], ["not-ready-1", "quiet-1"], []),
        (SERVER_LLM, "conditions", ["draining-1"], [], ["fits no node after the policies"]),
    ],
)
def test_fixtures_against_node_sets(
    files: tuple[Path, ...], node_set: str, before: list[str], after: list[str], problems: list[str]
) -> None:
    result = simulate_subject(subject(*files), nodes=nodes(node_set), policies=bundled_policies())
    assert (fitting(result.before), fitting(result.after), result.problems) == (before, after, problems)


def test_extended_resource_toleration_lets_gpu_pods_past_the_gke_gpu_taint() -> None:
    result = simulate_subject(
        subject(*TRITON),
        nodes=nodes("gke-gpu"),
        policies=bundled_policies(),
        extended_resource_toleration=True,
    )
    assert fitting(result.before) == ["gke-cpu-1"]  # the seldon-gpu-srv taint still needs the policy
    assert fitting(result.after) == ["gke-l4-1"] and result.problems == []


def _node(name: str, *taints: str) -> RawObject:
    keys = [dict(zip(("key", "effect"), t.split(":"), strict=True)) for t in taints]
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {"taints": keys}}


UNHEALTHY_NODES = [
    _node("not-ready", "node.kubernetes.io/not-ready:NoExecute"),
    _node("unreachable", "node.kubernetes.io/unreachable:NoExecute"),
    _node("both", "node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute"),
]


EVERYWHERE = ["not-ready", "unreachable", "both"]
NO_MATCH = one_policy("{nodeSelector: {pool: x}}", match="{servers: [no-such-server]}")


@pytest.mark.parametrize(
    ("tolerations", "fits", "added"),
    [
        ([], EVERYWHERE, 2),
        # NoSchedule is not NoExecute: both defaults still added
        (
            [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}],
            EVERYWHERE,
            2,
        ),
        # a not-ready toleration for NoExecute stops that default whatever its operator and value
        # (the plugin looks at key and effect only), even one that tolerates no not-ready taint
        (
            [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Equal",
                    "value": "x",
                    "effect": "NoExecute",
                }
            ],
            ["unreachable"],
            1,
        ),
        ([{"operator": "Exists", "effect": "NoExecute"}], EVERYWHERE, 0),  # an empty key covers both
    ],
)
def test_a_pod_file_gets_the_api_servers_default_tolerations_before_scheduling(
    tolerations: list[RawObject], fits: list[str], added: int
) -> None:
    """``DefaultTolerationSeconds`` runs at admission for every Pod, so kube-scheduler binds a Pod
    written without them to a node tainted not-ready or unreachable
    (tests/e2e/test_simulate_vs_scheduler.py checks the same against the real scheduler)."""
    pod = minimal_pod(tolerations=tolerations)
    result = simulate_subject(
        Subject(pod, "seldon-mesh", "pod.yaml"), nodes=UNHEALTHY_NODES, policies=NO_MATCH
    )
    assert (fitting(result.before), fitting(result.after)) == (fits, fits)
    defaults = [t for t in result.review.pod["spec"]["tolerations"] if t.get("tolerationSeconds") == 300]
    assert len(defaults) == added and pod["spec"]["tolerations"] == tolerations  # the input is not changed


def test_an_admission_reviews_pod_is_taken_as_the_webhook_got_it() -> None:
    """Its object is after DefaultTolerationSeconds (the plugin runs before MutatingAdmissionWebhook):
    an object without the defaults means the plugin is off, and nothing is added."""
    review = subject_from_document(admission_review(minimal_pod()), source="review.json", namespace=None)
    result = simulate_subject(review, nodes=UNHEALTHY_NODES, policies=NO_MATCH)
    assert (fitting(result.before), fitting(result.after)) == ([], [])
    assert "tolerations" not in result.review.pod["spec"]


def test_noexecute_toleration_of_the_server_reaches_the_draining_node() -> None:
    noexecute = one_policy(
        "{tolerations: [{key: seldon-gpu-srv, operator: Exists}], nodeSelector: {pool: infer-srv}}",
        match="{servers: ['*']}",
    )
    result = simulate_subject(subject(*TRITON), nodes=nodes("conditions"), policies=noexecute)
    assert fitting(result.after) == ["not-ready-1", "draining-1", "quiet-1"]
    quiet = next(f for f in result.after or [] if f.node == "quiet-1")
    assert quiet.avoided == ("maintenance=soon:PreferNoSchedule",)


def test_pods_with_ored_terms_keep_them_and_each_gets_the_pool() -> None:
    pod = minimal_pod(
        containers=[{"name": "agent", "image": "a", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L4"]}
                            ]
                        },
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["general"]}]},
                    ]
                }
            }
        },
    )
    result = simulate_subject(
        Subject(pod, "seldon-mesh", "test"), nodes=nodes("gpu-pools"), policies=bundled_policies()
    )
    assert fitting(result.before) == ["cpu-1", "cpu-2"]  # l4-1 matches a term but is tainted
    assert result.review.policy == "gpu-servers"
    assert fitting(result.after) == ["l4-1"]  # the general term now also demands pool=infer-srv
    cpu = next(f for f in result.after or [] if f.node == "cpu-1")
    assert cpu.reason == (
        "affinity: no term matches: nvidia.com/gpu.product In [NVIDIA-L4] (no nvidia.com/gpu.product label)"
        " | pool In [infer-srv] (pool=general)"
    )


def test_preferred_terms_are_scores() -> None:
    result = simulate_subject(subject(*SERVER_LLM), nodes=nodes("gpu-pools"), policies=bundled_policies())
    assert {f.node: f.score for f in result.after or [] if f.fits} == {"a100-40-1": 0, "a100-80-1": 50}


def test_denied_pods_are_not_placed_and_are_a_problem() -> None:
    deny = one_policy("{nodeSelector: {pool: infer-srv}}", extra="onConflict: deny")
    pod = minimal_pod(nodeSelector={"pool": "general"})
    result = simulate_subject(Subject(pod, "seldon-mesh", "test"), nodes=nodes("gpu-pools"), policies=deny)
    assert result.after is None
    assert result.problems == [
        "denied: placement-webhook: policy p conflicts with the Pod's own placement on pool"
    ]


def test_unknown_node_resources_are_a_note_not_a_problem() -> None:
    result = simulate_subject(subject(*TRITON), nodes=nodes("shared"), policies=bundled_policies())
    assert result.problems == []
    assert result.notes == ["cannot check nvidia.com/gpu on gpu-node-1: no status.allocatable"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
            'document 1 is not a Node (kind "Pod", apiVersion "v1")',
        ),
        ("apiVersion: v1\nkind: Node\nmetadata: {}\n", "document 1 is not a Node with a metadata.name"),
        (
            "apiVersion: v1\nkind: Node\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: a}\n",
            "document 2: node a appears twice (first in document 1)",
        ),
        ("apiVersion: v1\nkind: NodeList\nitems: []\n", "no objects: its List has no items"),
        ("", "no documents"),
    ],
)
def test_unusable_node_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "nodes.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=re.escape(message)):
        read_nodes(str(path))


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([], "n.yaml: no nodes"),
        (
            [{"kind": "Node", "metadata": {"name": ""}}],
            "n.yaml: document 1 is not a Node with a metadata.name",
        ),
        (
            [{"kind": "Node", "metadata": {"name": 5}}],
            "n.yaml: document 1 is not a Node with a metadata.name",
        ),
        ([{"kind": "Node", "metadata": {}}], "n.yaml: document 1 is not a Node with a metadata.name"),
    ],
)
def test_unusable_node_documents(documents: list[Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        check_nodes([(d, f"document {i}") for i, d in enumerate(documents, start=1)], source="n.yaml")
    assert str(caught.value) == message


# --- validate --nodes ------------------------------------------------------------------------------


def findings(text: str, node_set: str, **options: bool) -> list[tuple[str, str]]:
    return [(f.severity, f.message) for f in check_policies(policies(text), nodes(node_set), **options)]


TOLERATION_ONLY = """
    version: 1
    policies:
    - name: gpu-servers
      match: {servers: ["*"], resources: [nvidia.com/gpu]}
      placement:
        tolerations: [{key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}]
    """


def test_a_toleration_without_affinity_lets_pods_leave_the_pool() -> None:
    assert findings(TOLERATION_ONLY, "gpu-pools") == [
        (
            "warning",
            "gpu-servers: its Pods request nvidia.com/gpu but also fit mig-1, cpu-1, cpu-2, where none is offered",
        ),
        (
            "warning",
            "gpu-servers: tolerates seldon-gpu-srv=true:NoSchedule but its Pods also fit cpu-1, cpu-2, outside"
            " the tainted pool; add nodeAffinity or nodeSelector (a taint alone does not place a Pod)",
        ),
    ]


def test_bundled_policies_against_the_node_sets() -> None:
    text = (FIXTURES.parent.parent / "policies.yaml").read_text()
    assert findings(text, "gpu-pools") == [
        ("warning", "gpu-servers: its Pods request nvidia.com/gpu but also fit mig-1, where none is offered")
    ]
    assert findings(text, "gke-gpu", extended_resource_toleration=True) == [
        ("error", "llm-on-a100: its placement fits no node (gke-l4-1: affinity: nvidia.com/gpu.product In [A100-SXM4-40GB, A100-SXM4-80GB] (no nvidia.com/gpu.product label); gke-cpu-1: affinity: pool In [infer-srv] (pool=general))"),
        # a resource glob names no resource the probe could request, so no toleration for it is added
        ("warning", "mig-servers: its placement fits no node (gke-l4-1: untolerated taint nvidia.com/gpu=present:NoSchedule; gke-cpu-1: affinity: pool In [infer-srv] (pool=general))"),
    ]  # fmt: skip
    assert ("warning", "GPU node gke-l4-1 (nvidia.com/gpu: 1) is reached by no enforce policy") in findings(
        text, "gke-gpu"
    )


def test_gpu_nodes_no_enforce_policy_reaches() -> None:
    audit_only = """
        version: 1
        policies:
        - name: a100
          match: {servers: [a100-*]}
          placement:
            tolerations: [{key: seldon-gpu-srv, operator: Exists}]
            nodeSelector: {nvidia.com/gpu.product: A100-SXM4-40GB}
        - name: mig
          match: {servers: [mig-*]}
          placement:
            tolerations: [{key: seldon-gpu-srv, operator: Exists}]
            nodeSelector: {nvidia.com/mig.capable: "true"}
          mode: audit
        """
    assert findings(audit_only, "gpu-pools") == [
        ("warning", "GPU node a100-80-1 (nvidia.com/gpu: 8) is reached by no enforce policy"),
        ("warning", "GPU node l4-1 (nvidia.com/gpu: 1) is reached by no enforce policy"),
        ("warning", "GPU node mig-1 (nvidia.com/mig-1g.5gb: 56) is reached by no enforce policy"),
    ]


def test_audit_policy_that_fits_no_node_is_a_warning_enforce_an_error() -> None:
    text = """
        version: 1
        policies:
        - name: h100
          placement: {tolerations: [{key: seldon-gpu-srv, operator: Exists}], nodeSelector: {nvidia.com/gpu.product: H100}}
          mode: {mode}
        """
    for mode, severity in (("audit", "warning"), ("enforce", "error")):
        [first, *_] = findings(text.replace("{mode}", mode), "gpu-pools")
        assert first[0] == severity and first[1].startswith(
            "h100: its placement fits no node (a100-40-1: nodeSelector"
        )


@pytest.mark.parametrize(
    ("earlier", "later", "shadowed"),
    [
        ("{}", "{servers: [a]}", True),
        ("{servers: ['*']}", "{servers: [mlserver-llm-*]}", True),
        ("{servers: [mlserver-*]}", "{servers: [mlserver-llm-*]}", True),
        ("{servers: [mlserver-llm-*]}", "{servers: ['*']}", False),
        ("{servers: [a?]}", "{servers: ['a*']}", False),  # '?' cannot stand for every '*' expansion
        (
            "{servers: ['*'], resources: [nvidia.com/gpu]}",
            "{servers: ['*'], resources: [nvidia.com/mig-*]}",
            False,
        ),
        ("{resources: [nvidia.com/*]}", "{resources: [nvidia.com/mig-*], servers: [x]}", True),
        ("{serverTypes: [mlserver, triton]}", "{serverTypes: [triton]}", True),
        ("{serverTypes: [triton]}", "{serverTypes: [mlserver, triton]}", False),
        ("{capabilities: [gpu]}", "{capabilities: [gpu, llm]}", True),
        ("{capabilities: [gpu, llm]}", "{capabilities: [gpu]}", False),
        ("{namespaces: [seldon-*]}", "{}", False),
        (
            "{podSelector: {matchLabels: {team: nlp}}}",
            "{podSelector: {matchLabels: {team: nlp, tier: a}}}",
            True,
        ),
        ("{podSelector: {matchLabels: {team: nlp}}}", "{}", False),
        # found unpinned by the mutation run (docs/mutation.md)
        # podSelector: the later selector must imply the earlier one, labels and expressions
        ("{podSelector: {matchLabels: {team: nlp}}}", "{podSelector: {matchLabels: {team: cv}}}", False),
        ("{podSelector: {matchLabels: {team: nlp}}}", "{podSelector: {matchLabels: {tier: a}}}", False),
        ("{podSelector: {}}", "{podSelector: {matchLabels: {tier: a}}}", True),
        ("{}", "{podSelector: {matchLabels: {tier: a}}}", True),
        (
            "{podSelector: {matchExpressions: [{key: team, operator: Exists}]}}",
            "{podSelector: {matchExpressions: [{key: team, operator: Exists}, {key: b, operator: Exists}]}}",
            True,
        ),
        (
            "{podSelector: {matchExpressions: [{key: team, operator: Exists}]}}",
            "{podSelector: {matchExpressions: [{key: b, operator: Exists}]}}",
            False,
        ),
        (
            "{podSelector: {matchExpressions: [{key: team, operator: Exists}]}}",
            "{podSelector: {matchLabels: {team: nlp}}}",
            False,
        ),
        (
            "{podSelector: {matchLabels: {team: nlp}, matchExpressions: [{key: b, operator: Exists}]}}",
            "{podSelector: {matchLabels: {team: nlp}}}",
            False,
        ),
        (
            "{podSelector: {matchLabels: {team: nlp}}}",
            "{podSelector: {matchLabels: {team: nlp}, matchExpressions: [{key: b, operator: Exists}]}}",
            True,
        ),
        # globs: an earlier '*' covers a literal; a literal does not cover a glob; '[' is not a '*'
        ("{servers: [a]}", "{servers: [a]}", True),
        ("{servers: [a]}", "{servers: [b]}", False),
        ("{servers: [a, b]}", "{servers: [b]}", True),
        ("{servers: [b]}", "{servers: [a, b]}", False),
        ("{servers: ['a*']}", "{servers: ['a[bc]']}", True),
        ("{servers: ['a[bc]*']}", "{servers: ['ab*']}", False),
        ("{servers: ['a?']}", "{servers: [ab]}", True),
        ("{servers: [a]}", "{}", False),
        ("{namespaces: [x]}", "{namespaces: [x]}", True),
        ("{resources: [nvidia.com/gpu]}", "{resources: [nvidia.com/gpu]}", True),
        ("{resources: [nvidia.com/gpu]}", "{}", False),
        # server types: absent means any; capabilities: absent means none required
        ("{serverTypes: [triton]}", "{}", False),
        ("{}", "{serverTypes: [triton]}", True),
        ("{capabilities: [gpu]}", "{}", False),
        ("{}", "{capabilities: [gpu]}", True),
        ("{capabilities: [gpu]}", "{capabilities: [gpu]}", True),
        ("{serverTypes: [triton]}", "{serverTypes: [triton]}", True),
    ],
)
def test_shadowing(earlier: str, later: str, shadowed: bool) -> None:
    text = f"""
        version: 1
        policies:
        - {{name: first, match: {earlier}, placement: {{nodeSelector: {{pool: a}}}}}}
        - {{name: second, match: {later}, placement: {{nodeSelector: {{pool: b}}}}}}
        """
    first, second = policies(text).policies
    assert shadows(first, second) is shadowed


def test_shadowed_policy_is_reported_unreachable() -> None:
    text = """
        version: 1
        policies:
        - {name: all-servers, match: {servers: ["*"]}, placement: {nodeSelector: {pool: general}}}
        - {name: gpu-servers, match: {servers: ["*"], resources: [nvidia.com/gpu]}, placement: {nodeSelector: {pool: infer-srv}}}
        """
    assert (
        "warning",
        "gpu-servers: unreachable: all-servers comes first and matches every Pod it matches",
    ) in findings(text, "gpu-pools")


def test_the_probe_pod_requests_the_literal_extended_resources_only() -> None:
    [policy] = one_policy(
        "{nodeSelector: {pool: gpu}}", match="{resources: [nvidia.com/gpu, 'example.com/*', cpu]}"
    ).policies
    assert probe_pod(policy) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe-p", "annotations": {"placement-webhook.io/policy": "p"}},
        "spec": {
            "containers": [
                {"name": "probe", "image": "probe", "resources": {"requests": {"nvidia.com/gpu": "1"}}}
            ],
            "tolerations": DEFAULT_TOLERATIONS,
            "nodeSelector": {"pool": "gpu"},
        },
    }


def test_the_probe_pod_with_extended_resource_toleration() -> None:
    [policy] = one_policy("{nodeSelector: {pool: gpu}}", match="{resources: [nvidia.com/gpu]}").policies
    assert probe_pod(policy)["spec"]["tolerations"] == DEFAULT_TOLERATIONS
    assert probe_pod(policy, extended_resource_toleration=True)["spec"]["tolerations"] == [
        *DEFAULT_TOLERATIONS,
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    ]


def test_render_findings_counts_in_words() -> None:
    assert render_findings([], nodes=3, where="n.yaml") == [
        "checked against 3 nodes from n.yaml:",
        "  no findings",
    ]
    one_each = [Finding("error", "a"), Finding("warning", "b")]
    assert render_findings(one_each, nodes=1, where="n.yaml") == [
        "checked against 1 nodes from n.yaml:",
        "  error: a",
        "  warning: b",
        "1 error, 1 warning",
    ]
    several = [Finding("error", "a"), Finding("error", "b"), Finding("warning", "c"), Finding("warning", "d")]
    assert render_findings(several, nodes=2, where="x")[-1] == "2 errors, 2 warnings"
    assert render_findings([Finding("warning", "c")], nodes=2, where="x")[-1] == "0 errors, 1 warning"


# --- simulate: the preferred terms the scheduler cannot parse -----------------------------------

BROKEN_PREFERENCE = {
    "nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 10,
                "preference": {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["x"]}]},
            }
        ]
    }
}
NO_POLICY = one_policy("{nodeSelector: {pool: infer-srv}}", match="{namespaces: [elsewhere]}")


def test_a_preferred_term_that_does_not_parse_fails_the_whole_pod_when_several_nodes_fit() -> None:
    pod = minimal_pod(affinity=BROKEN_PREFERENCE)
    result = simulate_subject(
        Subject(pod, "seldon-mesh", "test"), nodes=nodes("gpu-pools"), policies=NO_POLICY
    )
    assert fitting(result.after) == ["cpu-1", "cpu-2"]
    assert result.problems == [
        "cannot be scheduled: preferred term 0: invalid requirement gen Gt [x]: Gt needs one integer;"
        " the scheduler's NodeAffinity PreScore fails for the whole Pod while 2 nodes fit"
    ]
    assert simulation_json(result)["preScoreError"] == (
        "preferred term 0: invalid requirement gen Gt [x]: Gt needs one integer"
    )


def test_a_preferred_term_that_does_not_parse_is_only_a_note_when_one_node_fits() -> None:
    """``schedulePod`` uses a single feasible node without scoring, so PreScore never runs."""
    pod = minimal_pod(affinity=BROKEN_PREFERENCE, nodeName="cpu-2")
    result = simulate_subject(
        Subject(pod, "seldon-mesh", "test"), nodes=nodes("gpu-pools"), policies=NO_POLICY
    )
    assert (fitting(result.after), result.problems) == (["cpu-2"], [])
    assert result.notes == [
        "preferred term 0: invalid requirement gen Gt [x]: Gt needs one integer;"
        " the scheduler skips scoring only because one node fits"
    ]


def test_valid_preferred_terms_have_no_pre_score_error() -> None:
    result = simulate_subject(subject(*SERVER_LLM), nodes=nodes("gpu-pools"), policies=bundled_policies())
    assert result.pre_score_error is None and simulation_json(result)["preScoreError"] is None


# --- the report and its JSON, line by line ---------------------------------------------------------

SUBJECT = Subject(pod=minimal_pod(), namespace="seldon-mesh", source="pods.yaml")
BEFORE = [
    NodeFit("cpu-1"),
    NodeFit("gpu-node-long-name", "untolerated taint nvidia.com/gpu:NoSchedule"),
]
AFTER = [
    NodeFit("cpu-1", "node affinity does not match"),
    NodeFit("gpu-node-long-name", score=42, avoided=("spot=true:PreferNoSchedule", "x:PreferNoSchedule")),
]


def _patched(**overrides: Any) -> Simulation:
    review = Review(outcome="patched", pod=SUBJECT.pod, policy="gpu", warnings=["placement-webhook: w"])
    values: dict[str, Any] = {
        "subject": SUBJECT,
        "review": review,
        "before": BEFORE,
        "after": AFTER,
        "problems": ["may land on x, which offers no nvidia.com/gpu"],
        "notes": ["cannot check nvidia.com/gpu on y: no status.allocatable"],
    }
    values.update(overrides)
    return Simulation(**values)


def test_render_a_patched_pod() -> None:
    assert render_simulation(_patched()) == [
        "Pod seldon-mesh/srv-0 from pods.yaml",
        "  policy: gpu, outcome patched",
        "  NODE                BEFORE                                       AFTER",
        "  cpu-1               fits                                         node affinity does not match",
        "  gpu-node-long-name  untolerated taint nvidia.com/gpu:NoSchedule  fits (score 42,"
        " prefers not spot=true:PreferNoSchedule, prefers not x:PreferNoSchedule)",
        "  fits: 1 of 2 nodes before, 1 of 2 nodes after",
        "  problem: may land on x, which offers no nvidia.com/gpu",
        "  note: cannot check nvidia.com/gpu on y: no status.allocatable",
        "  warning: placement-webhook: w",
    ]


def test_render_a_fit_with_only_a_score_or_only_avoided_taints() -> None:
    after = [NodeFit("cpu-1", score=3), NodeFit("gpu-node-long-name", avoided=("t:PreferNoSchedule",))]
    lines = render_simulation(_patched(after=after, problems=[], notes=[]))
    assert lines[3:5] == [
        "  cpu-1               fits                                         fits (score 3)",
        "  gpu-node-long-name  untolerated taint nvidia.com/gpu:NoSchedule  fits (prefers not t:PreferNoSchedule)",
    ]
    assert lines[5:] == ["  fits: 1 of 2 nodes before, 2 of 2 nodes after", "  warning: placement-webhook: w"]


def test_render_a_denied_pod_without_policy() -> None:
    review = Review(outcome="denied", pod=SUBJECT.pod, denial="conflict")
    result = Simulation(SUBJECT, review, BEFORE, None, ["denied: conflict"])
    assert render_simulation(result) == [
        "Pod seldon-mesh/srv-0 from pods.yaml",
        "  policy: none matched, outcome denied",
        "  NODE                BEFORE                                       AFTER",
        "  cpu-1               fits                                         not created (denied)",
        "  gpu-node-long-name  untolerated taint nvidia.com/gpu:NoSchedule  not created (denied)",
        "  fits: 1 of 2 nodes before, - after",
        "  problem: denied: conflict",
    ]


def test_simulation_json_field_by_field() -> None:
    assert simulation_json(_patched()) == {
        "pod": "seldon-mesh/srv-0",
        "source": "pods.yaml",
        "policy": "gpu",
        "outcome": "patched",
        "before": {
            "fits": ["cpu-1"],
            "nodes": [
                {"node": "cpu-1", "fits": True, "reason": None, "score": 0, "preferNoSchedule": []},
                {
                    "node": "gpu-node-long-name",
                    "fits": False,
                    "reason": "untolerated taint nvidia.com/gpu:NoSchedule",
                    "score": 0,
                    "preferNoSchedule": [],
                },
            ],
        },
        "after": {
            "fits": ["gpu-node-long-name"],
            "nodes": [
                {
                    "node": "cpu-1",
                    "fits": False,
                    "reason": "node affinity does not match",
                    "score": 0,
                    "preferNoSchedule": [],
                },
                {
                    "node": "gpu-node-long-name",
                    "fits": True,
                    "reason": None,
                    "score": 42,
                    "preferNoSchedule": ["spot=true:PreferNoSchedule", "x:PreferNoSchedule"],
                },
            ],
        },
        "problems": ["may land on x, which offers no nvidia.com/gpu"],
        "notes": ["cannot check nvidia.com/gpu on y: no status.allocatable"],
        "warnings": ["placement-webhook: w"],
        "preScoreError": None,
        "guardRefusal": None,
    }


def test_simulation_json_of_a_denied_pod_has_no_after() -> None:
    review = Review(outcome="denied", pod=SUBJECT.pod, denial="conflict")
    result = simulation_json(Simulation(SUBJECT, review, BEFORE[:1], None, ["denied: conflict"]))
    assert result["after"] is None
    assert result["preScoreError"] is None
    assert result["policy"] is None
    assert result["before"] == {
        "fits": ["cpu-1"],
        "nodes": [{"node": "cpu-1", "fits": True, "reason": None, "score": 0, "preferNoSchedule": []}],
    }


def test_simulation_json_carries_the_pre_score_error() -> None:
    assert simulation_json(_patched(pre_score_error="e"))["preScoreError"] == "e"
