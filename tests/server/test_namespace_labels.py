"""The server with namespaceSelector policies and no way to read namespaces: not ready, and a Pod
whose placement depends on the labels gets a 502 (failurePolicy decides), never a guess. The real
server for a reload that introduces a namespaceSelector; the app in this process for the guard.
With a reachable API server the cache itself is tested in tests/e2e/test_namespace_selector.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import GUARDED_BY_NAMESPACE, admission_review, minimal_pod
from tests.server_helpers import ConfigMapDir, in_process_server, running_server

NO_CLUSTER = {"KUBECONFIG": "/nonexistent/kubeconfig", "KUBERNETES_SERVICE_HOST": ""}
PLAIN = """
version: 1
policies:
- name: plain
  match: {namespaces: [plain-*]}
  placement: {nodeSelector: {pool: plain}}
"""
WITH_SELECTOR = (
    PLAIN
    + """
- name: nlp
  match: {namespaceSelector: {matchLabels: {team: nlp}}}
  placement: {nodeSelector: {pool: nlp}}
"""
)


@pytest.mark.slow
def test_without_credentials_the_server_is_not_ready_and_does_not_guess(tmp_path: Path) -> None:
    configmap = ConfigMapDir(tmp_path / "policies", PLAIN)
    with running_server(tmp_path, policies=configmap.path, env=NO_CLUSTER) as server:
        # policies without namespaceSelector: no cache, no credentials needed, ready
        assert server.readyz()["status"] == 200
        configmap.update(WITH_SELECTOR)  # a reload introduces a namespaceSelector
        server.wait_for(lambda: server.readyz()["status"] == 503)
        assert server.readyz() == {
            "status": 503,
            "ready": False,
            "problems": ["namespace cache cannot start: KUBECONFIG=/nonexistent/kubeconfig: no such file"],
        }
        with server.connect() as conn:
            body = json.dumps(admission_review(minimal_pod(), namespace="team-a")).encode()
            assert conn.call("POST", "/mutate", body) == (
                502,
                b"labels of namespace 'team-a' are unknown and policy nlp matches on namespaceSelector;"
                b" not deciding\n",
            )
            # an earlier policy decides without the labels: answered as always
            plain = conn.review(admission_review(minimal_pod(), namespace="plain-1"))["response"]
            assert plain["auditAnnotations"] == {"policy": "plain", "outcome": "patched"}
            metrics = conn.call("GET", "/metrics")[1].decode()
        assert "placement_webhook_undecided_total 1.0" in metrics
        assert "placement_webhook_namespace_cache_size 0.0" in metrics
        assert 'placement_webhook_namespace_cache_misses_total{result="error"} 0.0' in metrics
        warned = [line for line in server.logs() if line["msg"] == "namespace labels unknown; no answer"]
        assert [(w["namespace"], w["policy"]) for w in warned] == [("team-a", "nlp")]
        errors = [line for line in server.logs() if line["msg"] == "namespace cache cannot start"]
        assert len(errors) == 1  # retried at every reload check, logged once


def test_the_guard_does_not_guess_either(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether policy nlp grants the toleration depends on the labels: /validate gives no answer
    (502, its failurePolicy decides); a Pod tolerating nothing reserved is answered as always."""
    configmap = ConfigMapDir(tmp_path / "policies", GUARDED_BY_NAMESPACE)
    tolerating = minimal_pod()
    tolerating["spec"]["tolerations"] = [{"key": "seldon-gpu-srv", "operator": "Exists"}]
    other = minimal_pod()
    other["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    for name, value in NO_CLUSTER.items():
        monkeypatch.setenv(name, value)
    with in_process_server(tmp_path, policies=configmap.path) as api:
        body = json.dumps(admission_review(tolerating, namespace="team-a")).encode()
        assert api.call("POST", "/validate", body) == (
            502,
            b"labels of namespace 'team-a' are unknown and policy nlp matches on namespaceSelector;"
            b" not deciding\n",
        )
        answer = api.call(
            "POST", "/validate", json.dumps(admission_review(other, namespace="team-a")).encode()
        )
        assert answer[0] == 200 and json.loads(answer[1])["response"]["allowed"] is True
