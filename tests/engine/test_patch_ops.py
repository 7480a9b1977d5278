"""The JSON Patch writes each value once: no op inside a value an earlier op added, no path twice."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, given, settings

from tests.engine.test_properties import load
from tests.helpers import minimal_pod, one_policy
from tests.strategies import hostile_pods, policy_documents
from webhook.engine.mutation import review_pod


def concrete_paths(original: dict[str, Any], ops: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Each op's path as tokens, ``-`` resolved to the index it appends at, applying as we go."""
    doc, paths = copy.deepcopy(original), []
    for op in ops:
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
        if tokens[-1] == "-":
            parent = jsonpatch.JsonPointer.from_parts(tokens[:-1]).resolve(doc)
            tokens[-1] = str(len(parent))
        paths.append(tuple(tokens))
        doc = jsonpatch.apply_patch(doc, [op])
    return paths


def assert_each_value_written_once(original: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    paths = concrete_paths(original, ops)
    assert len(set(paths)) == len(paths), f"a path is written twice: {ops}"
    for i, inner in enumerate(paths):
        for outer in paths[:i]:
            assert inner[: len(outer)] != outer, (
                f"{'/'.join(inner)} is inside a value added at {'/'.join(outer)}"
            )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod=hostile_pods(), document=policy_documents())
def test_no_op_writes_inside_another_ops_value_or_twice(pod: dict[str, Any], document: str) -> None:
    result = review_pod(pod, namespace="seldon-mesh", policies=load(document))
    assert jsonpatch.apply_patch(pod, result.patch) == result.pod
    assert_each_value_written_once(pod, result.patch)


EVERYTHING = (
    "{tolerations: [{key: a, operator: Exists}, {key: b, operator: Exists}],"
    " nodeSelector: {pool: infer-srv, gpu: 'true'},"
    " nodeAffinity: {required: [{key: zone, operator: Exists}],"
    " preferred: [{weight: 5, matchExpressions: [{key: acc, operator: Exists}]}]}}"
)


@pytest.mark.parametrize(
    ("spec", "paths"),
    [
        (  # nothing there: one op per field, each carrying all its values
            {},
            ["/spec/tolerations", "/spec/nodeSelector", "/spec/affinity", "/metadata/annotations"],
        ),
        (  # existing containers: one op per value
            {
                "tolerations": [],
                "nodeSelector": {"disk": "ssd"},
                "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
            },
            [
                "/spec/tolerations/-",
                "/spec/tolerations/-",
                "/spec/nodeSelector/pool",
                "/spec/nodeSelector/gpu",
                "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution",
                "/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution/-",
                "/metadata/annotations",
            ],
        ),
    ],
)
def test_each_value_is_written_once(spec: dict[str, Any], paths: list[str]) -> None:
    pod = minimal_pod(**spec)
    result = review_pod(pod, namespace="ns", policies=one_policy(EVERYTHING))
    assert [op["path"] for op in result.patch] == paths
    assert jsonpatch.apply_patch(pod, result.patch) == result.pod
    if not spec:
        assert result.patch[1]["value"] == {"pool": "infer-srv", "gpu": "true"}
        assert result.patch[2]["value"] == {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 5, "preference": {"matchExpressions": [{"key": "acc", "operator": "Exists"}]}}
                ],
            }
        }


def test_the_summary_and_the_log_count_the_real_ops() -> None:
    """review's "N patch ops" and the server's patch_ops field are len(patch): 4 here, not 7."""
    result = review_pod(minimal_pod(), namespace="ns", policies=one_policy(EVERYTHING))
    assert len(result.patch) == 4
