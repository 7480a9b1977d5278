"""Generated Pods sent to the app ``serve`` builds, in this process, and generated policy files
swapped into the real server over TLS; every answer is checked as the API server would apply it: it
must patch cleanly, validate strictly, touch only placement, keep what the Pod had, equal the
engine's own decision, and leave nothing to do on a second review."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from tests.helpers import (
    BUNDLED_POLICIES,
    admission_review,
    assert_only_placement_added,
    mutate,
    validate_pod,
)
from tests.server_helpers import (
    Client,
    ConfigMapDir,
    InProcessServer,
    RunningServer,
    TlsConnection,
    in_process_server,
    running_server,
)
from tests.strategies import hostile_pods, policy_documents
from webhook.errors import PolicyError
from webhook.policy.compiled import PolicySet
from webhook.policy.loading import load_policies_text

BUNDLED = load_policies_text(BUNDLED_POLICIES.read_text())  # loaded apart from the server's
SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


@dataclass
class Served:
    """The module's server and the policies it serves now; ``serve`` swaps them like a ConfigMap."""

    server: RunningServer
    configmap: ConfigMapDir
    text: str
    policies: PolicySet

    def serve(self, text: str) -> None:
        if text == self.text:
            return
        generation = self.server.readyz()["generation"]
        self.configmap.update(text)
        self.server.wait_for(lambda: self.server.readyz()["generation"] > generation)
        self.text, self.policies = text, load_policies_text(text)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp: Path = tmp_path_factory.mktemp("adversarial")
    text = BUNDLED_POLICIES.read_text()
    configmap = ConfigMapDir(tmp / "policies", text)
    with running_server(tmp, policies=configmap.path) as server:
        yield Served(server, configmap, text, load_policies_text(text))


@pytest.fixture(scope="module")
def server(served: Served) -> RunningServer:
    return served.server


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    with in_process_server(tmp_path_factory.mktemp("adversarial-api"), policies=BUNDLED_POLICIES) as app:
        yield app


def check_review(
    client: Client, pod: dict[str, Any], policies: PolicySet, namespace: str = "seldon-mesh"
) -> None:
    """One Pod through the server, checked against every invariant."""
    review = admission_review(copy.deepcopy(pod), namespace=namespace)
    answer = client.review(review)  # asserts 200
    assert answer == mutate(review, policies=policies).answer
    response = answer["response"]
    assert response["uid"] == review["request"]["uid"]
    event(f"outcome: {response.get('auditAnnotations', {}).get('outcome', 'no policy')}")
    if "patch" not in response:
        return
    assert response["patchType"] == "JSONPatch"
    mutated = jsonpatch.apply_patch(pod, json.loads(base64.b64decode(response["patch"])))
    validate_pod(mutated)
    assert_only_placement_added(pod, mutated)
    again = client.review(admission_review(mutated, namespace=namespace))["response"]
    assert "patch" not in again, "a second review must change nothing"


@settings(SETTINGS, max_examples=40)
@given(pod=hostile_pods(), namespace=st.sampled_from(["seldon-mesh", "other"]))
def test_generated_pods_under_the_bundled_policies(
    api: InProcessServer, pod: dict[str, Any], namespace: str
) -> None:
    validate_pod(pod)  # the generator only makes Pods the API server would accept
    check_review(api, pod, BUNDLED, namespace)


@pytest.mark.slow
@settings(SETTINGS, max_examples=8)
@given(document=policy_documents(), pods=st.lists(hostile_pods(), min_size=3, max_size=5))
def test_generated_policy_files_swapped_in_live(
    served: Served, conn: TlsConnection, document: str, pods: list[dict[str, Any]]
) -> None:
    try:
        load_policies_text(document)
    except PolicyError:
        assume(False)
    served.serve(document)
    for pod in pods:
        check_review(conn, pod, served.policies)
