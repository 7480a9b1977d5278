"""The namespace cache's state machine, event by event, and its loop's decisions, without I/O
(the adapter with a scripted API is tested in tests/cluster, the real watch in tests/e2e)."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.kube.namespace_state import (
    CacheStats,
    GoneError,
    NamespaceState,
    WatchSchedule,
    describe_failure,
    next_backoff,
    read_list,
)


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


def test_namespaces_without_a_usable_name_are_skipped() -> None:
    nameless = [{"metadata": {"name": ""}}, {"metadata": {"name": 5}}, {"metadata": None}, {}]
    state = listed(*nameless, namespace("a", "7"))
    assert (len(state), state.labels("a"), state.labels("")) == (1, {}, None)
    state.apply(event("ADDED", {"metadata": {"name": "", "resourceVersion": "101"}}))
    state.remember({"metadata": {"name": ""}})
    assert (len(state), state.labels(""), state.resource_version) == (1, None, "101")


@pytest.mark.parametrize(
    ("kind", "labels", "version"),
    [
        ("ADDED", {"team": "cv"}, "200"),
        ("MODIFIED", {"team": "cv"}, "200"),
        ("DELETED", None, "200"),
        ("BOOKMARK", {"team": "nlp"}, "200"),
        ("SYNC", {"team": "nlp"}, "100"),  # an event type the API server does not send: ignored
        (None, {"team": "nlp"}, "100"),
    ],
)
def test_each_event_type_alone(kind: str | None, labels: dict[str, str] | None, version: str) -> None:
    state = listed(namespace("a", "7", team="nlp"))
    state.apply(event(kind, namespace("a", "200", team="cv")))  # type: ignore[arg-type]
    assert (state.labels("a"), state.resource_version) == (labels, version)


@pytest.mark.parametrize("version", ["", 5, None])
def test_an_event_without_a_usable_version_keeps_the_watch_position(version: Any) -> None:
    state = listed(namespace("a", "7"))
    obj = namespace("b", "x", team="cv")
    obj["metadata"]["resourceVersion"] = version
    state.apply(event("ADDED", obj))
    assert (state.labels("b"), state.resource_version) == ({"team": "cv"}, "100")


def test_an_event_without_a_name_moves_only_the_version() -> None:
    state = listed(namespace("a", "7", team="nlp"))
    state.apply(event("MODIFIED", {"metadata": {"resourceVersion": "101", "labels": {"x": "y"}}}))
    state.apply(event("DELETED", {"metadata": {"resourceVersion": "102"}}))
    assert (state.labels("a"), len(state), state.resource_version) == ({"team": "nlp"}, 1, "102")
    state.apply({"type": "MODIFIED"})  # no object at all
    assert (len(state), state.resource_version) == (1, "102")


def test_error_events_carry_their_code_and_message() -> None:
    state = listed(namespace("a", "7"))
    with pytest.raises(GoneError) as gone:
        state.apply(event("ERROR", {"kind": "Status", "code": 410}))
    assert str(gone.value) == "resourceVersion too old"
    with pytest.raises(GoneError) as gone:
        state.apply(event("ERROR", {"code": 410, "message": "too old resource version: 7 (90)"}))
    assert str(gone.value) == "too old resource version: 7 (90)"
    with pytest.raises(RuntimeError) as failed:
        state.apply(event("ERROR", {"code": 500, "message": "etcd"}))
    assert str(failed.value) == "watch error: 500 etcd"
    with pytest.raises(RuntimeError) as failed:
        state.apply({"type": "ERROR"})
    assert str(failed.value) == "watch error: None None"
    assert (state.resource_version, state.labels("a")) == ("100", {})


@pytest.mark.parametrize(
    ("document", "names", "version"),
    [
        (
            {
                "metadata": {"resourceVersion": "42"},
                "items": [namespace("a", "1"), "x", None, namespace("b", "2")],
            },
            ["a", "b"],
            "42",
        ),
        ({"metadata": {"resourceVersion": "42"}, "items": None}, [], "42"),
        ({"metadata": {"resourceVersion": ""}}, [], ""),
        ({"metadata": {"resourceVersion": 42}, "items": []}, [], ""),
        ({}, [], ""),
    ],
)
def test_read_list_takes_the_objects_and_the_version(
    document: dict[str, Any], names: list[str], version: str
) -> None:
    items, listed_version = read_list(document)
    assert ([i["metadata"]["name"] for i in items], listed_version) == (names, version)


def test_describe_failure_keeps_the_type_and_200_characters_of_the_first_line() -> None:
    assert describe_failure(OSError("refused")) == "OSError: refused"
    assert describe_failure(ValueError("first\nsecond")) == "ValueError: first"
    assert describe_failure(RuntimeError("y" * 250)) == "RuntimeError: " + "y" * 200
    assert describe_failure(OSError()) == "OSError: "  # no message at all


def test_an_api_answer_is_described_by_its_status_and_the_first_line_of_its_reason() -> None:
    error = RuntimeError("(403)\nReason: Forbidden\nHTTP response headers: ...")
    assert describe_failure(error, status=403, reason="Forbidden") == "403 Forbidden"
    assert describe_failure(error, status=500, reason="etcd\nsecond line") == "500 etcd"
    assert describe_failure(error, status=500, reason="z" * 250) == "500 " + "z" * 200
    assert describe_failure(error, status=404, reason=None) == "404"
    assert describe_failure(error, status=404, reason="") == "404"


@pytest.mark.parametrize(
    ("status", "refused"), [(401, True), (403, True), (404, False), (500, False), (None, False)]
)
def test_a_401_or_403_is_a_refusal_until_a_watch_ends_on_time(status: int | None, refused: bool) -> None:
    stats = CacheStats()
    schedule = WatchSchedule(relist_interval=600.0, stats=stats, relist_at=650.0)
    schedule.failed(RuntimeError("x"), status=403, reason="Forbidden")
    assert (stats.refused, stats.last_error) == (True, "403 Forbidden")
    schedule.failed(OSError("x"), status=status, reason="R")
    assert stats.refused is refused
    assert schedule.relist_at == 650.0  # no 410: resume the watch
    schedule.failed(RuntimeError("x"), status=401, reason="Unauthorized")
    schedule.watch_ended()
    assert (stats.refused, stats.last_error, schedule.backoff) == (False, None, None)


def test_what_is_kept_of_each_object_is_the_states_extract() -> None:
    def kept(obj: dict[str, Any]) -> Any:
        return ("kept", obj["metadata"]["name"], obj["metadata"]["resourceVersion"])

    state = NamespaceState(extract=kept)
    state.replace([namespace("a", "1")], resource_version="10")
    state.apply(event("ADDED", namespace("b", "11")))
    state.remember(namespace("c", "12"))
    assert [state.labels(n) for n in "abc"] == [("kept", "a", "1"), ("kept", "b", "11"), ("kept", "c", "12")]
    state.apply(event("MODIFIED", namespace("a", "13")))
    assert state.labels("a") == ("kept", "a", "13")


def test_cache_stats_count_misses_by_result() -> None:
    stats = CacheStats()
    for result in ["found", "error", "found", "not_found", "found"]:
        stats.missed(result)
    assert stats.misses == {"found": 3, "error": 1, "not_found": 1}


def test_a_new_state_is_listed_first_a_handed_over_one_after_the_interval() -> None:
    fresh = WatchSchedule.start(600.0, CacheStats(), listed=False, now=100.0)
    assert (fresh.relist_at, fresh.backoff) == (0.0, None)
    assert fresh.must_list(listed=False, now=0.0)
    handed_over = WatchSchedule.start(600.0, CacheStats(), listed=True, now=100.0)
    assert handed_over.relist_at == 700.0
    assert not handed_over.must_list(listed=True, now=699.5)
    assert handed_over.must_list(listed=True, now=700.0)
    assert handed_over.must_list(listed=False, now=100.0)  # not listed (yet): always
    stats = CacheStats()
    started = WatchSchedule.start(600.0, stats, listed=False, now=100.0)
    started.listed(200.0)
    started.gone()
    assert (started.relist_interval, started.relist_at, started.stats is stats, stats.restarts) == (
        600.0,
        0.0,
        True,
        1,
    )


def test_a_list_schedules_the_next_one_an_interval_later() -> None:
    schedule = WatchSchedule(relist_interval=600.0, stats=CacheStats())
    assert schedule.must_list(listed=True, now=0.0)
    schedule.listed(50.0)
    assert schedule.relist_at == 650.0
    assert not schedule.must_list(listed=True, now=649.0)
    assert schedule.must_list(listed=True, now=650.0)


def test_failures_back_off_and_count_a_watch_that_ends_on_time_resets() -> None:
    stats = CacheStats()
    schedule = WatchSchedule(relist_interval=600.0, stats=stats, relist_at=650.0)
    assert [schedule.failed(OSError(f"e{i}")) for i in range(3)] == [0.5, 1.0, 2.0]
    assert (stats.restarts, stats.last_error, schedule.backoff, schedule.relist_at) == (
        3,
        "OSError: e2",
        2.0,
        650.0,  # a failure that is no 410 keeps the relist time: resume the watch
    )
    schedule.watch_ended()
    assert (schedule.backoff, stats.last_error, stats.restarts) == (None, None, 3)
    assert schedule.failed(OSError("again")) == 0.5


def test_a_410_relists_at_once_as_an_event_without_waiting_as_a_status_after_the_backoff() -> None:
    stats = CacheStats()
    schedule = WatchSchedule(relist_interval=600.0, stats=stats, relist_at=650.0, backoff=4.0)
    schedule.gone()
    assert (stats.restarts, schedule.relist_at, schedule.backoff, stats.last_error) == (1, 0.0, 4.0, None)
    schedule.relist_at = 650.0
    assert schedule.failed(RuntimeError("(410)\nReason: Gone"), status=410, reason="Gone\nmore") == 8.0
    assert (stats.restarts, schedule.relist_at, stats.last_error) == (2, 0.0, "410 Gone")
    schedule.gone()
    assert stats.restarts == 3
    assert schedule.must_list(listed=True, now=0.0)
