"""The namespace cache's state machine, event by event (the real watch runs in tests/e2e), and
its effect on decisions: a namespace relabelled while the server runs changes the next review."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.helpers import minimal_pod, policies
from webhook.cluster.namespaces import GoneError, NamespaceCache, NamespaceState, next_backoff
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


# --- the adapter: NamespaceCache's loop and lookups with a scripted API (no network) -----------------


class Response:
    """What ``_preload_content=False`` returns: the body, streamed for a watch."""

    def __init__(self, body: bytes = b"", events: list[dict[str, Any]] | None = None) -> None:
        self.data = body
        self.lines = [json.dumps(e).encode() + b"\n" for e in events or []]
        self.released = False

    def stream(self, amt: Any = None, decode_content: Any = None) -> Iterator[bytes]:
        yield from self.lines

    def release_conn(self) -> None:
        self.released = True


class ScriptedCore:
    """``CoreV1Api`` as far as the cache calls it: each call takes the next scripted answer."""

    def __init__(self, *answers: Response | BaseException) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _next(self, call: str, kwargs: dict[str, Any]) -> Response:
        self.calls.append((call, kwargs))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def list_namespace(self, **kwargs: Any) -> Response:
        return self._next("watch" if kwargs.get("watch") else "list", kwargs)

    def read_namespace(self, name: str, **kwargs: Any) -> Response:
        return self._next(f"get {name}", kwargs)


def namespace_list(version: str, *items: Any) -> Response:
    return Response(
        json.dumps(
            {"kind": "NamespaceList", "metadata": {"resourceVersion": version}, "items": list(items)}
        ).encode()
    )


def scripted_cache(
    core: ScriptedCore, sleeps: list[float], *, stop_after: int, **options: Any
) -> NamespaceCache:
    """A cache on ``core`` whose backoff sleeps are recorded; the ``stop_after``-th one stops it."""
    cache = NamespaceCache(
        client.ApiClient(),
        sleep=lambda seconds: sleeps.append(seconds) or len(sleeps) >= stop_after,
        **options,
    )
    cache.core = core  # type: ignore[assignment]
    return cache


def test_the_loop_lists_watches_resumes_relists_on_410_and_backs_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first_watch = Response(
        events=[
            event("MODIFIED", namespace("a", "11", team="cv")),
            event("BOOKMARK", {"metadata": {"resourceVersion": "12"}}),
        ]
    )
    gone = Response(events=[event("ERROR", {"kind": "Status", "code": 410, "message": "too old"})])
    core = ScriptedCore(
        namespace_list("10", namespace("a", "7", team="nlp"), "not an object", namespace("b", "8")),
        first_watch,  # ends on time: resumed from 12
        gone,  # 410 as an event: a new LIST at once, no backoff
        namespace_list("20", namespace("a", "19", team="x")),
        ApiException(status=500, reason="etcd\nsecond line"),  # the watch fails: backoff 0.5 s
        ApiException(status=410, reason="Gone"),  # 410 as a status: backoff 1 s, then a new LIST
        namespace_list("30"),
        OSError("x" * 300),  # backoff 2 s, and the sleep stops the loop
    )
    sleeps: list[float] = []
    cache = scripted_cache(core, sleeps, stop_after=3, watch_seconds=60)
    assert cache.ready is False
    cache._run()
    assert [call for call, _ in core.calls] == [
        "list",
        "watch",
        "watch",
        "list",
        "watch",
        "watch",
        "list",
        "watch",
    ]
    watches = [kwargs for call, kwargs in core.calls if call == "watch"]
    assert [w["resource_version"] for w in watches] == ["10", "12", "20", "20", "30"]
    assert watches[0] == {
        "watch": True,
        "resource_version": "10",
        "allow_watch_bookmarks": True,
        "timeout_seconds": 60,
        "_preload_content": False,
        "_request_timeout": (30.0, 90),
    }
    assert core.calls[0][1] == {"_preload_content": False, "_request_timeout": 30.0}
    assert first_watch.released and gone.released
    assert 0.4 <= sleeps[0] <= 0.6 and 0.8 <= sleeps[1] <= 1.2 and 1.6 <= sleeps[2] <= 2.4
    assert (cache.ready, len(cache.state), cache.labels("a"), cache.state.resource_version) == (
        True,
        0,
        None,
        "30",
    )
    assert cache.stats.restarts == 4
    assert cache.stats.last_error == "OSError: " + "x" * 200
    failures = [r for r in caplog.records if r.getMessage() == "namespace watch failed; retrying"]
    assert [r.fields["error"] for r in failures] == [  # type: ignore[attr-defined]
        "500 etcd",  # an API error is its status and the first line of its reason
        "410 Gone",
        "OSError: " + "x" * 200,
    ]
    assert [r.fields["retry_in_s"] for r in failures] == [0.5, 1.0, 2.0]  # type: ignore[attr-defined]


def test_a_watch_that_ends_on_time_resets_the_backoff_and_the_last_error() -> None:
    core = ScriptedCore(
        namespace_list("10"),
        OSError("one"),  # 0.5 s
        Response(),  # ends on time
        OSError("two"),  # 0.5 s again
    )
    sleeps: list[float] = []
    cache = scripted_cache(core, sleeps, stop_after=2)
    cache._run()
    assert [round(s / 0.5) for s in sleeps] == [1, 1]
    assert (cache.stats.restarts, cache.stats.last_error) == (2, "OSError: two")


def test_a_state_handed_over_is_watched_without_a_list_until_the_relist_interval() -> None:
    core = ScriptedCore(Response(), Response(), OSError("stop"))
    sleeps: list[float] = []
    cache = scripted_cache(core, sleeps, stop_after=1)
    cache.state.replace([namespace("a", "7")], resource_version="100")
    cache._run()
    assert [call for call, _ in core.calls] == ["watch", "watch", "watch"]
    # with no interval left, every pass lists first, a handed-over state included
    core = ScriptedCore(namespace_list("200"), Response(), namespace_list("300"), OSError("stop"))
    cache = scripted_cache(core, [], stop_after=1, relist_interval=0.0)
    cache.state.replace([namespace("a", "7")], resource_version="100")
    cache._run()
    assert [call for call, _ in core.calls] == ["list", "watch", "list", "watch"]
    assert [kwargs["resource_version"] for call, kwargs in core.calls if call == "watch"] == ["200", "300"]


def test_a_stop_during_a_watch_ends_the_loop_after_the_event() -> None:
    core = ScriptedCore(
        namespace_list("10"),
        Response(events=[event("ADDED", namespace("a", "11")), event("ADDED", namespace("b", "12"))]),
    )
    cache = scripted_cache(core, [], stop_after=1)
    applied = cache.state.apply

    def apply_then_stop(e: Mapping[str, Any]) -> None:
        applied(e)
        cache.stop()

    cache.state.apply = apply_then_stop  # type: ignore[method-assign]
    cache._run()
    assert (cache.labels("a"), cache.labels("b"), cache.state.resource_version) == ({}, None, "11")


@pytest.mark.parametrize(
    ("answer", "labels", "miss"),
    [
        (Response(json.dumps(namespace("fresh", "5", team="nlp")).encode()), {"team": "nlp"}, "found"),
        (ApiException(status=404), None, "not_found"),
        (ApiException(status=403), None, "error"),
        (OSError("refused"), None, "error"),
        (Response(b"not json"), None, "error"),
    ],
)
def test_fetch_reads_one_namespace_and_counts_the_miss(
    answer: Response | BaseException, labels: Any, miss: str
) -> None:
    core = ScriptedCore(answer)
    cache = scripted_cache(core, [], stop_after=1, lookup_timeout=1.5)
    assert cache.fetch("fresh") == labels
    assert core.calls == [("get fresh", {"_preload_content": False, "_request_timeout": 1.5})]
    assert cache.stats.misses == {miss: 1}
    assert cache.labels("fresh") == labels  # remembered only when found
