"""The shared Seldon fixtures against the bundled policies, and the policy test cases as data."""

from __future__ import annotations

from pathlib import Path

import jsonpatch
import pytest

from tests.helpers import CASES, FIXTURES, SHARED_FIXTURES, bundled_policies, fixture, validate_pod
from webhook.cli.policytests import find_cases, run_case
from webhook.engine.mutation import review_pod

GPU_TOLERATION = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


def test_shared_fixtures_are_current() -> None:
    shared = SHARED_FIXTURES
    if not shared.is_dir():
        pytest.skip(f"{shared} is not present in this checkout; tests use the copies in {FIXTURES}")
    for source in shared.glob("*.yaml"):
        assert (FIXTURES / source.name).read_text() == source.read_text(), source.name


@pytest.mark.parametrize("name", ["triton-gpu-0", "mlserver-0", "seldon-scheduler-0"])
def test_fixtures_are_valid_pods(name: str) -> None:
    validate_pod(fixture(name))


def test_gpu_server_is_placed_and_keeps_its_noexecute_tolerations() -> None:
    pod = fixture("triton-gpu-0")
    result = review_pod(pod, namespace="seldon-mesh", policies=bundled_policies())
    assert result.outcome == "patched" and result.policy == "gpu-servers"
    tolerations = result.pod["spec"]["tolerations"]
    assert tolerations[:2] == pod["spec"]["tolerations"]  # the two default NoExecute tolerations
    assert tolerations[2:] == [GPU_TOLERATION]
    node_affinity = result.pod["spec"]["affinity"]["nodeAffinity"]
    assert node_affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["infer-srv"]}]}
    ]
    assert jsonpatch.apply_patch(pod, result.patch) == result.pod
    validate_pod(result.pod)


@pytest.mark.parametrize("name", ["mlserver-0", "seldon-scheduler-0"])
def test_cpu_server_and_scheduler_are_untouched(name: str) -> None:
    pod = fixture(name)
    result = review_pod(pod, namespace="seldon-mesh", policies=bundled_policies())
    assert (
        result.outcome == "unchanged" and result.policy is None and result.patch == [] and result.pod is pod
    )


@pytest.mark.parametrize("case", find_cases(CASES), ids=lambda p: p.parent.name)
def test_policy_case(case: Path) -> None:
    result = run_case(case)
    assert result.passed, "\n".join(result.failures)


def test_every_case_with_an_expected_pod_is_a_valid_pod() -> None:
    expected = list(CASES.rglob("expected.yaml"))
    assert expected
    import yaml

    for path in expected:
        for pod in yaml.safe_load_all(path.read_text()):
            validate_pod(pod)
