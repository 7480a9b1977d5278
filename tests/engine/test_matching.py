"""Which policy applies: every given criterion must hold, the first matching policy wins."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import fixture, minimal_pod, policies
from webhook.engine.handlers import Mutator
from webhook.engine.matching import explain_selection, matching_policies, mismatch_reason, select_policy
from webhook.engine.mutation import review_pod
from webhook.kube.objects import is_nonzero_quantity, read_pod_facts
from webhook.policy.compiled import PolicySet
from webhook.simulation.reachability import check_policies


def gpu_pod() -> dict[str, Any]:
    return fixture("triton-gpu-0")


def single(match: str) -> PolicySet:
    return policies(f"""
        version: 1
        policies:
        - name: p
          match: {match}
          placement: {{nodeSelector: {{pool: x}}}}
        """)


def reason(match: str, pod: dict[str, Any], namespace: str = "seldon-mesh") -> str | None:
    (policy,) = single(match).policies
    return mismatch_reason(policy, read_pod_facts(pod, namespace=namespace))


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ("{}", None),  # empty match holds for every Pod
        ("{namespaces: [seldon-*]}", None),
        ("{namespaces: [prod, 'seldon-m?sh']}", None),
        ("{namespaces: [default]}", 'namespace "seldon-mesh" not in [default]'),
        ("{servers: ['triton-*']}", None),
        ("{servers: ['mlserver-llm-*']}", 'server "triton-gpu" not in [mlserver-llm-*]'),
        ("{serverTypes: [triton, mlserver]}", None),
        ("{serverTypes: [mlserver]}", 'server type "triton" not in [mlserver]'),
        ("{capabilities: [onnx, pytorch]}", None),  # all must be present
        ("{capabilities: [onnx, llm]}", "capabilities lack [llm]"),
        ("{resources: [nvidia.com/gpu]}", None),
        ("{resources: ['nvidia.com/*']}", None),
        ("{resources: [amd.com/gpu]}", "no container requests [amd.com/gpu]"),
        ("{podSelector: {matchLabels: {app.kubernetes.io/name: seldon-server}}}", None),
        ("{podSelector: {matchExpressions: [{key: team, operator: DoesNotExist}]}}", None),
        ("{podSelector: {matchLabels: {team: nlp}}}", "labels do not match podSelector"),
        (
            "{namespaces: [seldon-*], servers: ['*'], resources: [nvidia.com/gpu], serverTypes: [triton]}",
            None,
        ),
    ],
)
def test_criteria_on_the_gpu_server(match: str, expected: str | None) -> None:
    assert reason(match, gpu_pod()) == expected


@pytest.mark.parametrize(
    "criterion", ["{servers: ['*']}", "{serverTypes: [triton]}", "{capabilities: [onnx]}"]
)
def test_server_criteria_never_match_pods_without_the_server_label(criterion: str) -> None:
    pod = gpu_pod()
    del pod["metadata"]["labels"]["seldon-server-name"]
    assert reason(criterion, pod) == "not a Seldon server Pod (no seldon-server-name label)"


def test_namespace_and_label_criteria_match_any_pod() -> None:
    scheduler = fixture("seldon-scheduler-0")
    assert (
        reason(
            "{namespaces: [seldon-mesh], podSelector: {matchLabels: {app.kubernetes.io/name: seldon-scheduler}}}",
            scheduler,
        )
        is None
    )


def test_env_from_value_from_is_not_a_server_type() -> None:
    pod = minimal_pod()
    pod["spec"]["containers"][0]["env"] = [
        {"name": "SELDON_SERVER_TYPE", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}}
    ]
    assert reason("{serverTypes: [mlserver]}", pod) == "server type (no SELDON_SERVER_TYPE) not in [mlserver]"


def test_resources_in_init_containers_and_limits_count_but_zero_does_not() -> None:
    pod = minimal_pod(
        initContainers=[{"name": "warm", "image": "x", "resources": {"limits": {"nvidia.com/gpu": 1}}}]
    )
    assert reason("{resources: [nvidia.com/gpu]}", pod) is None
    pod = minimal_pod()
    pod["spec"]["containers"][0]["resources"] = {"requests": {"nvidia.com/gpu": "0"}}
    assert reason("{resources: [nvidia.com/gpu]}", pod) == "no container requests [nvidia.com/gpu]"


@pytest.mark.parametrize(
    ("quantity", "nonzero"),
    [
        ("1", True),
        (2, True),
        ("500m", True),
        ("1Gi", True),
        ("0", False),
        (0, False),
        ("0.0", False),
        ("0Gi", False),
        ("1e3", True),
        ("bogus", False),
        (None, False),
        (True, False),
    ],
)
def test_nonzero_quantity(quantity: Any, nonzero: bool) -> None:
    assert is_nonzero_quantity(quantity) is nonzero


def test_first_match_wins_and_explanation_stops_there() -> None:
    policy_set = policies("""
        version: 1
        policies:
        - name: llm
          match: {servers: ['mlserver-llm-*']}
          placement: {nodeSelector: {pool: a}}
        - name: gpu
          match: {resources: [nvidia.com/gpu]}
          placement: {nodeSelector: {pool: b}}
        - name: any
          placement: {nodeSelector: {pool: c}}
        """)
    facts = read_pod_facts(gpu_pod(), namespace="seldon-mesh")
    chosen = select_policy(policy_set, facts)
    assert chosen is not None and chosen.name == "gpu"
    assert explain_selection(policy_set, facts) == [
        ("llm", "skip", 'server "triton-gpu" not in [mlserver-llm-*]'),
        ("gpu", "match", None),
    ]


# --- audit policies never shadow ---------------------------------------------------------------------

AUDIT_THEN_ENFORCE = """
    version: 1
    policies:
    - name: llm
      match: {servers: ['mlserver-llm-*']}
      placement: {nodeSelector: {pool: a}}
      mode: audit
    - name: next
      match: {resources: [nvidia.com/gpu]}
      placement: {nodeSelector: {pool: next}}
      mode: audit
    - name: gpu
      match: {resources: [nvidia.com/gpu]}
      placement: {nodeSelector: {pool: gpu}}
    - name: later
      match: {servers: ['*']}
      placement: {nodeSelector: {pool: later}, tolerations: [{key: t, operator: Exists}]}
      mode: audit
    - name: other-enforce
      placement: {nodeSelector: {pool: other}}
    """


def test_audit_policies_do_not_stop_the_first_enforce_policy() -> None:
    policy_set = policies(AUDIT_THEN_ENFORCE)
    facts = read_pod_facts(gpu_pod(), namespace="seldon-mesh")
    chosen = select_policy(policy_set, facts)
    assert chosen is not None and chosen.name == "gpu"
    assert [p.name for p in matching_policies(policy_set, facts)] == ["next", "gpu", "later"]
    assert explain_selection(policy_set, facts) == [
        ("llm", "skip", 'server "triton-gpu" not in [mlserver-llm-*]'),
        ("next", "audit", None),
        ("gpu", "match", None),
        ("later", "audit", None),
    ]


def test_every_matching_audit_policy_warns_and_the_enforce_policy_applies() -> None:
    result = review_pod(gpu_pod(), namespace="seldon-mesh", policies=policies(AUDIT_THEN_ENFORCE))
    assert (result.outcome, result.policy, result.audits) == ("patched", "gpu", ("next", "later"))
    assert result.pod["spec"]["nodeSelector"] == {"pool": "gpu"}
    assert result.warnings == [
        "placement-webhook: audit: policy next would add nodeSelector pool=next",
        "placement-webhook: audit: policy later would add toleration t",
        "placement-webhook: audit: policy later would add nodeSelector pool=later",
    ]
    answer = Mutator().respond(result).review("u")["response"]
    assert answer["auditAnnotations"] == {"policy": "gpu", "outcome": "patched", "audit": "next,later"}
    assert answer["warnings"] == result.warnings


def test_audit_warnings_are_kept_when_the_enforce_policy_denies() -> None:
    pod = gpu_pod()
    pod["spec"]["nodeSelector"] = {"pool": "cpu"}
    policy_set = policies("""
        version: 1
        policies:
        - name: trial
          placement: {tolerations: [{key: t, operator: Exists}]}
          mode: audit
        - name: strict
          placement: {nodeSelector: {pool: gpu}}
          onConflict: deny
        """)
    result = review_pod(pod, namespace="seldon-mesh", policies=policy_set)
    assert (result.outcome, result.policy, result.audits) == ("denied", "strict", ("trial",))
    assert result.denial == "placement-webhook: policy strict conflicts with the Pod's own placement on pool"
    assert result.warnings == ["placement-webhook: audit: policy trial would add toleration t"]


def test_only_audit_policies_matching_is_an_audit_outcome() -> None:
    policy_set = policies("""
        version: 1
        policies:
        - name: quiet
          placement: {nodeSelector: {disk: ssd}}
          mode: audit
        - name: loud
          placement: {nodeSelector: {pool: gpu}}
          mode: audit
        """)
    pod = gpu_pod()
    pod["spec"]["nodeSelector"] = {"disk": "ssd"}  # quiet has nothing to add
    result = review_pod(pod, namespace="seldon-mesh", policies=policy_set)
    assert (result.outcome, result.policy, result.audits, result.patch) == (
        "audit",
        "loud",
        ("quiet", "loud"),
        [],
    )
    assert result.warnings == ["placement-webhook: audit: policy loud would add nodeSelector pool=gpu"]
    assert select_policy(policy_set, read_pod_facts(pod, namespace="seldon-mesh")) is None


def test_validate_nodes_reports_shadowing_by_the_same_rule() -> None:
    """``validate --nodes``: an audit policy first shadows nothing; an enforce one first does."""
    nodes = [{"metadata": {"name": "n", "labels": {"pool": "gpu"}}}]
    audit_first = policies("""
        version: 1
        policies:
        - name: trial
          placement: {nodeSelector: {pool: gpu}}
          mode: audit
        - name: gpu
          placement: {nodeSelector: {pool: gpu}}
        - name: trial-after
          placement: {nodeSelector: {pool: gpu}}
          mode: audit
        - name: never
          placement: {nodeSelector: {pool: gpu}}
        """)
    assert [f.message for f in check_policies(audit_first, nodes) if "unreachable" in f.message] == [
        "never: unreachable: gpu comes first and matches every Pod it matches"
    ]
