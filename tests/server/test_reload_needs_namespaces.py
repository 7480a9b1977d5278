"""A valid policy file the server cannot serve is refused like an invalid one, never served unready.

Hot-reloading a file that newly uses ``namespaceSelector`` while the server may not list Namespaces
used to count as a success and turn ``/readyz`` 503 on every replica (with ``failurePolicy: Fail``
every Seldon Pod create then failed). The reload now waits for the namespace cache's first LIST:
a refusal (403, no credentials) keeps the last good policies, counts a failure, names the missing
permission and the chart value, and the file is taken at a later poll once it can be served.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import httpx

from webhook.errors import ClusterError
from webhook.server.app import AppState, create_app
from webhook.server.metrics import Metrics
from webhook.server.namespace_lookup import LabelSource, NamespaceLookup
from webhook.server.reloading import PolicyStore
from webhook.server.serve import namespaces_servable

WITHOUT_SELECTOR = """\
version: 1
policies:
- name: everyone
  placement: {nodeSelector: {pool: general}}
"""
WITH_SELECTOR = """\
version: 1
policies:
- name: nlp-team
  match: {namespaceSelector: {matchLabels: {team: nlp}}}
  placement: {nodeSelector: {pool: nlp}}
"""


class RefusedSource:
    """A namespace cache whose LIST the API server refuses (no RBAC) until ``granted``."""

    def __init__(self) -> None:
        self.ready = False
        self.failure: str | None = "the API server refused to list Namespaces (403 Forbidden)"

    def grant(self) -> None:
        self.ready, self.failure = True, None

    def start(self) -> None:
        pass

    def labels(self, name: str) -> Mapping[str, str] | None:
        return {"team": "nlp"} if self.ready else None

    def fetch(self, name: str) -> Mapping[str, str] | None:
        return None


def readyz(store: PolicyStore, lookup: NamespaceLookup, metrics: Metrics) -> httpx.Response:
    app = create_app(AppState(store, None, metrics, 1 << 20, 5.0, namespaces=lookup))

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as client:
            return await client.get("/readyz")

    return asyncio.run(call())


def store_with(tmp_path: Path, lookup: NamespaceLookup) -> tuple[PolicyStore, Path, Metrics]:
    path = tmp_path / "policies.yaml"
    path.write_text(WITHOUT_SELECTOR)
    metrics = Metrics()
    return PolicyStore(path, metrics, can_serve=namespaces_servable(lookup)), path, metrics


def test_a_reload_the_namespace_cache_cannot_serve_is_refused_and_taken_once_it_can(tmp_path: Path) -> None:
    source = RefusedSource()
    lookup = NamespaceLookup(lambda: source)
    store, path, metrics = store_with(tmp_path, lookup)
    path.write_text(WITH_SELECTOR)
    assert store.reload_if_changed() is False
    assert [p.name for p in store.policies.policies] == ["everyone"] and store.generation == 1
    assert store.last_error == (
        f"{path}: valid, but cannot be served: namespace cache: first list of namespaces failed:"
        " the API server refused to list Namespaces (403 Forbidden); policies with"
        " match.namespaceSelector need the server to get, list and watch Namespaces: install the chart"
        " with namespaceSelector.enabled=true (its ClusterRole and a mounted token)"
    )
    assert b'placement_webhook_policy_reloads_total{result="failure"} 1.0' in metrics.render()
    response = readyz(store, lookup, metrics)
    assert response.status_code == 200, response.text  # the replica stays in
    assert response.json()["lastReloadError"] == store.last_error
    assert store.reload_if_changed() is False  # still refused: counted once, not at every poll
    assert b'placement_webhook_policy_reloads_total{result="failure"} 1.0' in metrics.render()
    source.grant()  # the RBAC is applied: the file kept aside is taken at the next poll
    assert store.reload_if_changed() is True
    assert [p.name for p in store.policies.policies] == ["nlp-team"] and store.generation == 2
    assert store.last_error is None
    assert readyz(store, lookup, metrics).status_code == 200


def test_without_credentials_the_reload_is_refused_naming_the_chart_value(tmp_path: Path) -> None:
    def no_credentials() -> LabelSource:
        raise ClusterError("no in-cluster service account and no usable kubeconfig")

    lookup = NamespaceLookup(no_credentials)
    store, path, metrics = store_with(tmp_path, lookup)
    path.write_text(WITH_SELECTOR)
    assert store.reload_if_changed() is False
    assert store.last_error is not None
    assert store.last_error.startswith(
        f"{path}: valid, but cannot be served: namespace cache cannot start: no in-cluster service account"
    )
    assert "namespaceSelector.enabled=true" in store.last_error
    assert readyz(store, lookup, metrics).status_code == 200


def test_a_file_that_does_not_newly_need_the_cache_is_taken_at_once(tmp_path: Path) -> None:
    """No wait and no check for files without namespaceSelector, or when the current one has it."""
    asked: list[str] = []

    def never() -> LabelSource:
        asked.append("start")
        raise ClusterError("not to be called")

    store, path, _ = store_with(tmp_path, NamespaceLookup(never))
    path.write_text(WITHOUT_SELECTOR.replace("general", "other"))
    assert store.reload_if_changed() is True and asked == []


def test_a_slow_first_list_is_waited_for_then_refused(tmp_path: Path) -> None:
    source = RefusedSource()
    source.failure = None  # neither listed nor failed: the API server does not answer
    lookup = NamespaceLookup(lambda: source)
    assert (
        lookup.serving_problem(wait=0.1)
        == "namespace cache: first list of namespaces not complete after 0.1 s"
    )
    source.grant()
    assert lookup.serving_problem(wait=0.1) is None


def test_a_refusal_still_waiting_names_the_reason_it_has_now(tmp_path: Path) -> None:
    """A first check that timed out on a loaded machine and a later one that got the 403: the error
    shown is the 403, with the chart value, and the failure is still counted once."""
    source = RefusedSource()
    source.failure = None  # the first LIST has not answered yet
    lookup = NamespaceLookup(lambda: source)
    store, path, metrics = store_with(tmp_path, lookup)
    store.can_serve = namespaces_servable(lookup, wait=0.1)
    path.write_text(WITH_SELECTOR)
    assert store.reload_if_changed() is False
    assert store.last_error == (
        f"{path}: valid, but cannot be served: namespace cache: first list of namespaces not complete after 0.1 s"
    )
    source.failure = "the API server refused to list Namespaces (403 Forbidden)"
    assert store.reload_if_changed() is False
    assert store.last_error is not None and "(403 Forbidden)" in store.last_error
    assert "namespaceSelector.enabled=true" in store.last_error
    assert b'placement_webhook_policy_reloads_total{result="failure"} 1.0' in metrics.render()
