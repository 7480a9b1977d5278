"""The namespace cache's state machine, event by event (the real watch runs in tests/e2e), and
its effect on decisions: a namespace relabelled while the server runs changes the next review."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.helpers import minimal_pod, policies
from webhook.cluster.namespaces import GoneError, NamespaceState, next_backoff
from webhook.engine.mutation import review_pod


def namespace(name: str, version: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "resourceVersion": version, "labels": labels},
    }


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


def listed(*items: dict[str, Any], version: str = "100") -> NamespaceState:
    state = NamespaceState()
    state.replace(list(items), resource_version=version)
    return state


def test_a_list_fills_the_state_and_sets_the_version_to_watch_from() -> None:
    state = NamespaceState()
    assert (state.listed, state.labels("a"), len(state)) == (False, None, 0)
    state.replace(
        [namespace("a", "7", team="nlp"), namespace("b", "9"), {"metadata": {}}], resource_version="100"
    )
    assert (state.listed, state.resource_version, len(state)) == (True, "100", 2)
    assert state.labels("a") == {"team": "nlp"}
    assert state.labels("b") == {}  # known, without labels: not the same as unknown
    assert state.labels("c") is None


def test_events_add_relabel_and_delete_in_order() -> None:
    state = listed(namespace("a", "7", team="nlp"))
    state.apply(event("ADDED", namespace("b", "101", team="cv")))
    state.apply(event("MODIFIED", namespace("a", "102", team="cv", env="prod")))
    assert (state.labels("a"), state.labels("b"), state.resource_version) == (
        {"team": "cv", "env": "prod"},
        {"team": "cv"},
        "102",
    )
    state.apply(event("MODIFIED", namespace("a", "103")))  # every label removed
    assert state.labels("a") == {}
    state.apply(event("DELETED", namespace("b", "104", team="cv")))
    assert (state.labels("b"), state.resource_version, len(state)) == (None, "104", 1)
    state.apply(event("DELETED", namespace("never-seen", "105")))  # harmless
    assert state.resource_version == "105"


def test_a_bookmark_moves_only_the_version() -> None:
    state = listed(namespace("a", "7", team="nlp"))
    state.apply(event("BOOKMARK", {"kind": "Namespace", "metadata": {"resourceVersion": "500"}}))
    assert (state.resource_version, state.labels("a"), len(state)) == ("500", {"team": "nlp"}, 1)


def test_410_gone_asks_for_a_new_list_and_other_errors_fail_the_watch() -> None:
    state = listed(namespace("a", "7"))
    with pytest.raises(GoneError, match="too old resource version"):
        state.apply(
            event("ERROR", {"kind": "Status", "code": 410, "message": "too old resource version: 7 (90)"})
        )
    with pytest.raises(RuntimeError, match="watch error: 500 etcd"):
        state.apply(event("ERROR", {"kind": "Status", "code": 500, "message": "etcd"}))
    assert state.resource_version == "100"  # an error moves nothing


def test_a_relist_replaces_everything_including_namespaces_deleted_meanwhile() -> None:
    state = listed(namespace("a", "7", team="nlp"), namespace("gone", "8"))
    state.replace([namespace("a", "300", team="cv"), namespace("new", "301")], resource_version="310")
    assert (state.labels("a"), state.labels("gone"), state.labels("new"), state.resource_version) == (
        {"team": "cv"},
        None,
        {},
        "310",
    )


def test_a_direct_get_is_remembered_without_moving_the_watch() -> None:
    state = listed(namespace("a", "7", team="nlp"))
    state.remember(namespace("fresh", "900", team="nlp"))
    assert (state.labels("fresh"), state.resource_version) == ({"team": "nlp"}, "100")
    state.remember(namespace("a", "901", team="old"))  # the watch's own entry wins
    assert state.labels("a") == {"team": "nlp"}


def test_label_values_that_are_not_strings_are_dropped() -> None:
    odd = namespace("a", "7")
    odd["metadata"]["labels"] = {"team": "nlp", "n": 1, "x": None}
    assert listed(odd).labels("a") == {"team": "nlp"}


def test_backoff_doubles_to_thirty_seconds() -> None:
    delays, previous = [], None
    for _ in range(9):
        previous = next_backoff(previous)
        delays.append(previous)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


TEAMS = policies("""
    version: 1
    policies:
    - name: nlp
      match: {namespaceSelector: {matchLabels: {team: nlp}}}
      placement: {nodeSelector: {pool: nlp}}
    - name: others
      placement: {nodeSelector: {pool: general}}
    """)


def decided(labels: Mapping[str, str] | None) -> str | None:
    return review_pod(minimal_pod(), namespace="team-a", policies=TEAMS, namespace_labels=labels).policy


def test_a_relabel_while_running_changes_later_decisions() -> None:
    state = listed(namespace("team-a", "7", team="nlp"))
    assert decided(state.labels("team-a")) == "nlp"
    state.apply(event("MODIFIED", namespace("team-a", "101", team="cv")))
    assert decided(state.labels("team-a")) == "others"
    state.apply(event("MODIFIED", namespace("team-a", "102", team="nlp")))
    assert decided(state.labels("team-a")) == "nlp"
    # a restart: the watch failed, a new list gives the truth as of now
    state.replace([namespace("team-a", "200", team="cv")], resource_version="200")
    assert decided(state.labels("team-a")) == "others"


class RefusingCore:
    """A CoreV1Api whose every LIST of Namespaces the API server refuses (the RBAC is missing)."""

    def list_namespace(self, **_: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        raise ApiException(status=403, reason="Forbidden")


def test_a_refused_list_is_a_failure_naming_the_refusal() -> None:
    """What a reload waiting for the first LIST reports (webhook.server.namespace_lookup)."""
    from kubernetes import client

    from webhook.cluster.namespaces import NamespaceCache

    cache = NamespaceCache(client.ApiClient(client.Configuration()), sleep=lambda _: True)
    assert not cache.ready and cache.stats.last_error is None
    cache.core = RefusingCore()  # type: ignore[assignment]
    cache._run()  # one attempt: the fake sleep stops the loop after the first backoff
    assert (cache.ready, cache.failure) == (
        False,
        "the API server refused to list Namespaces (403 Forbidden)",
    )
