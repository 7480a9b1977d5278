"""The real server with namespaceSelector policies and no way to read namespaces: started so, not
ready, and a Pod whose placement depends on the labels gets a 502 (failurePolicy decides), never a
guess; given such a file by a reload, it refuses the reload and stays ready.
With a reachable API server the cache itself is tested in tests/e2e/test_namespace_selector.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import GUARDED_BY_NAMESPACE, admission_review, minimal_pod
from tests.server_helpers import ConfigMapDir, running_server

pytestmark = pytest.mark.slow

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


def test_a_reload_that_needs_namespaces_without_credentials_is_refused_and_the_server_stays_ready(
    tmp_path: Path,
) -> None:
    """Issue 28: a valid file the server cannot serve is refused like an invalid one (it used to be
    taken, and /readyz turned 503 on every replica); the error names the chart value."""
    configmap = ConfigMapDir(tmp_path / "policies", PLAIN)
    with running_server(tmp_path, policies=configmap.path, env=NO_CLUSTER) as server:
        # policies without namespaceSelector: no cache, no credentials needed, ready
        assert server.readyz()["status"] == 200
        configmap.update(WITH_SELECTOR)  # a reload introduces a namespaceSelector
        server.wait_for(lambda: server.readyz().get("lastReloadError") is not None)
        ready = server.readyz()
        assert (ready["status"], ready["ready"], ready["generation"], ready["policies"]) == (200, True, 1, 1)
        assert ready["lastReloadError"].endswith(
            ": valid, but cannot be served: namespace cache cannot start: KUBECONFIG=/nonexistent/kubeconfig:"
            " no such file; policies with match.namespaceSelector need the server to get, list and watch"
            " Namespaces: install the chart with namespaceSelector.enabled=true (its ClusterRole and a"
            " mounted token)"
        )
        with server.connect() as conn:  # the last good policies keep answering
            answer = conn.review(admission_review(minimal_pod(), namespace="team-a"))["response"]
            assert answer["allowed"] is True and "patch" not in answer
            metrics = conn.call("GET", "/metrics")[1].decode()
        assert 'placement_webhook_policy_reloads_total{result="failure"} 1.0' in metrics
        assert "placement_webhook_undecided_total 0.0" in metrics


def test_without_credentials_the_server_is_not_ready_and_does_not_guess(tmp_path: Path) -> None:
    """Started with a file that needs the labels: not ready, and never a guess."""
    configmap = ConfigMapDir(tmp_path / "policies", WITH_SELECTOR)
    with running_server(tmp_path, policies=configmap.path, env=NO_CLUSTER) as server:
        server.wait_for(lambda: server.readyz()["status"] == 503)
        assert server.readyz() == {
            "status": 503,
            "ready": False,
            "problems": ["namespace cache cannot start: KUBECONFIG=/nonexistent/kubeconfig: no such file"],
            "policies": 2,
            "reservations": 0,
            "generation": 1,
            "lastReloadError": None,
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


def test_the_guard_does_not_guess_either(tmp_path: Path) -> None:
    """Whether policy nlp grants the toleration depends on the labels: /validate gives no answer
    (502, its failurePolicy decides); a Pod tolerating nothing reserved is answered as always."""
    configmap = ConfigMapDir(tmp_path / "policies", GUARDED_BY_NAMESPACE)
    tolerating = minimal_pod()
    tolerating["spec"]["tolerations"] = [{"key": "seldon-gpu-srv", "operator": "Exists"}]
    other = minimal_pod()
    other["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    with (
        running_server(tmp_path, policies=configmap.path, env=NO_CLUSTER) as server,
        server.connect() as conn,
    ):
        body = json.dumps(admission_review(tolerating, namespace="team-a")).encode()
        assert conn.call("POST", "/validate", body) == (
            502,
            b"labels of namespace 'team-a' are unknown and policy nlp matches on namespaceSelector;"
            b" not deciding\n",
        )
        answer = conn.call(
            "POST", "/validate", json.dumps(admission_review(other, namespace="team-a")).encode()
        )
        assert answer[0] == 200 and json.loads(answer[1])["response"]["allowed"] is True
