"""The namespace cache's adapter: ``NamespaceCache`` driving the pure state machine
(tests/kube/test_namespace_state.py) against a scripted Kubernetes API (the real watch runs in
tests/e2e), and the state's effect on decisions: a namespace relabelled while the server runs
changes the next review."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.helpers import minimal_pod, policies
from tests.kube.test_namespace_state import event, listed, namespace
from webhook.cluster.namespaces import NamespaceCache
from webhook.engine.mutation import review_pod

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


def refusing_request(*_: Any, **__: Any) -> Any:
    """An API server that refuses every call (the RBAC is missing)."""
    from kubernetes.client.exceptions import ApiException

    raise ApiException(status=403, reason="Forbidden")


def test_a_refused_list_is_a_failure_naming_the_refusal() -> None:
    """What a reload waiting for the first LIST reports (webhook.server.namespace_lookup)."""
    from kubernetes import client

    from webhook.cluster.namespaces import NamespaceCache

    cache = NamespaceCache(client.ApiClient(client.Configuration()), sleep=lambda _: True)
    assert not cache.ready and cache.stats.last_error is None
    cache.request = refusing_request
    cache._run()  # one attempt: the fake sleep stops the loop after the first backoff
    assert (cache.ready, cache.failure) == (
        False,
        "the API server refused to list Namespaces (403 Forbidden)",
    )


# --- the adapter: NamespaceCache's loop and lookups with a scripted API (no network) -----------------


class Response:
    """What ``webhook.cluster.client.request`` returns: the body, streamed for a watch."""

    def __init__(self, body: bytes = b"", events: list[dict[str, Any]] | None = None) -> None:
        self.data = body
        self.lines = [json.dumps(e).encode() + b"\n" for e in events or []]
        self.released = False

    def stream(self, amt: Any = None, decode_content: Any = None) -> Iterator[bytes]:
        yield from self.lines

    def release_conn(self) -> None:
        self.released = True


class ScriptedCore:
    """The API as far as the cache calls it (``request``): each call takes the next scripted
    answer and is recorded as ``list``, ``watch`` or ``get NAME`` with its path, timeout and query."""

    def __init__(self, *answers: Response | BaseException) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(
        self,
        verb: str,
        path: str,
        *,
        names: Mapping[str, str] | None = None,
        query: Sequence[tuple[str, Any]] = (),
        timeout: Any = None,
    ) -> Response:
        assert verb == "GET"
        options = dict(query)
        call = f"get {names['name']}" if names else "watch" if options.get("watch") else "list"
        self.calls.append((call, {"path": path, "timeout": timeout, **options}))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


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
    cache.request = core
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
    assert [w["resourceVersion"] for w in watches] == ["10", "12", "20", "20", "30"]
    assert watches[0] == {
        "path": "/api/v1/namespaces",
        "watch": True,
        "resourceVersion": "10",
        "allowWatchBookmarks": True,
        "timeoutSeconds": 60,
        "timeout": (30.0, 90),
    }
    assert core.calls[0][1] == {"path": "/api/v1/namespaces", "timeout": 30.0, "limit": 500}
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
    assert [kwargs["resourceVersion"] for call, kwargs in core.calls if call == "watch"] == ["200", "300"]


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
    assert core.calls == [("get fresh", {"path": "/api/v1/namespaces/{name}", "timeout": 1.5})]
    assert cache.stats.misses == {miss: 1}
    assert cache.labels("fresh") == labels  # remembered only when found


def _page(version: str, token: str | None, *items: Any) -> Response:
    metadata = {"resourceVersion": version, **({"continue": token} if token else {})}
    return Response(
        json.dumps({"kind": "NamespaceList", "metadata": metadata, "items": list(items)}).encode()
    )


def test_the_first_list_is_paged_and_starts_over_when_its_continue_token_expires() -> None:
    core = ScriptedCore(
        _page("5", "t1", namespace("a", "1")),
        ApiException(status=410, reason="Gone"),  # the token expired between pages: start over
        _page("9", "t2", namespace("a", "8", team="x")),
        _page("9", None, namespace("b", "9")),
        OSError("the watch"),  # its backoff stops the loop
    )
    cache = scripted_cache(core, [], stop_after=1)
    cache._run()
    lists = [kwargs for call, kwargs in core.calls if call == "list"]
    assert [kwargs.get("continue") for kwargs in lists] == [None, "t1", None, "t2"]
    assert all(kwargs["limit"] == 500 for kwargs in lists)
    assert (cache.ready, len(cache.state), cache.labels("a"), cache.state.resource_version) == (
        True, 2, {"team": "x"}, "9",
    )  # fmt: skip
