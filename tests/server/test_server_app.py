"""The ASGI app in-process, for faults that cannot be provoked from outside a healthy server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import BUNDLED_POLICIES, GUARDED_BY_NAMESPACE, ROOT, admission_review, fixture, minimal_pod
from webhook.engine.handlers import Mutator
from webhook.engine.memo import LoadedPolicies
from webhook.server.app import AppState, create_app
from webhook.server.metrics import Metrics
from webhook.server.namespace_lookup import NamespaceLookup
from webhook.server.reloading import PolicyStore


def test_internal_error_is_a_500_with_traceback_and_uid_logged(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    store = PolicyStore(BUNDLED_POLICIES, metrics)
    store.loaded = LoadedPolicies("corrupt")  # type: ignore[arg-type]  # every decision now fails unexpectedly
    app = create_app(AppState(store, None, metrics, 1 << 20, 5.0))

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as client:
            return await client.post("/mutate", json=admission_review(fixture("triton-gpu-0"), uid="uid-500"))

    with caplog.at_level(logging.ERROR, logger="placement_webhook"):
        response = asyncio.run(call())
    assert response.status_code == 500 and response.text == "internal error; see the webhook's log\n"
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.fields == {"uid": "uid-500"}  # type: ignore[attr-defined]
    assert record.exc_info is not None and isinstance(record.exc_info[1], AttributeError)
    assert b"placement_webhook_internal_errors_total 1.0" in metrics.render()


@pytest.mark.parametrize(
    ("raised", "problem", "traceback"),
    [
        (
            RuntimeError("loader bug\nsecond line"),
            "cannot load: RuntimeError: loader bug\\nsecond line",
            True,
        ),
        (
            RecursionError("maximum recursion depth exceeded"),
            "cannot load: RecursionError: maximum recursion depth exceeded",
            False,
        ),
        (MemoryError(), "cannot load: MemoryError: ", True),
    ],
)
def test_any_exception_while_reloading_keeps_the_last_good_policies(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    raised: Exception,
    problem: str,
    traceback: bool,
) -> None:
    import webhook.server.reloading as reloading

    path = tmp_path / "p.yaml"
    path.write_bytes(BUNDLED_POLICIES.read_bytes())
    metrics = Metrics()
    store = PolicyStore(path, metrics)
    good = store.policies

    def broken(_: object) -> None:
        raise raised

    monkeypatch.setattr(reloading, "load_policies", broken)
    path.write_text(path.read_text() + "\n# changed\n")
    with caplog.at_level(logging.ERROR, logger="placement_webhook"):
        assert store.reload_if_changed() is False
    assert store.policies is good and store.generation == 1
    assert store.last_error == f"{path}: {problem}"
    assert b'placement_webhook_policy_reloads_total{result="failure"} 1.0' in metrics.render()
    (record,) = caplog.records
    assert record.getMessage() == "policy reload rejected; the last good policies keep serving"
    assert record.fields["problems"] == [f"{path}: {problem}"]  # type: ignore[attr-defined]
    assert (record.exc_info is not None) is traceback


class RecordingLabels:
    """A namespace label source (``LabelSource``) that knows team-a and records every lookup."""

    ready = True
    failure = None

    def __init__(self) -> None:
        self.asked: list[str] = []

    def start(self) -> None:
        pass

    def labels(self, name: str) -> Mapping[str, str] | None:
        self.asked.append(name)
        return {"team": "nlp"} if name == "team-a" else None

    def fetch(self, name: str) -> Mapping[str, str] | None:
        self.asked.append(f"GET {name}")
        return None


def test_the_guard_looks_labels_up_only_for_pods_that_tolerate_a_reserved_taint(tmp_path: Path) -> None:
    """A Pod tolerating nothing reserved is judged without its namespace's labels: a namespace not
    yet in the cache costs it no direct GET."""
    path = tmp_path / "policies.yaml"
    path.write_text(GUARDED_BY_NAMESPACE)
    metrics, source = Metrics(), RecordingLabels()
    lookup = NamespaceLookup(lambda: source)
    lookup.ensure_started()
    app = create_app(AppState(PolicyStore(path, metrics), None, metrics, 1 << 20, 5.0, namespaces=lookup))
    tolerating, other = minimal_pod(), minimal_pod()
    tolerating["spec"]["tolerations"] = [{"key": "seldon-gpu-srv", "operator": "Exists"}]
    other["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]

    async def validate(pod: dict[str, Any], namespace: str) -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as client:
            response = await client.post("/validate", json=admission_review(pod, namespace=namespace))
            return response.json()["response"]

    assert asyncio.run(validate(tolerating, "team-a"))["allowed"] is True  # policy nlp grants it
    assert asyncio.run(validate(other, "team-new"))["allowed"] is True
    assert source.asked == ["team-a"]


def call(app: Any, method: str, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as client:
            return await client.request(method, path)

    return asyncio.run(go())


def test_every_404_and_405_is_a_counted_one_line_refusal() -> None:
    """bad_requests_total counts "requests answered with a 4xx": Starlette's own 404 and 405 and the
    webhook paths' 405 too, each with a short plain-text body."""
    metrics = Metrics()
    app = create_app(AppState(PolicyStore(BUNDLED_POLICIES, metrics), None, metrics, 1 << 20, 5.0))
    served = "POST /mutate, POST /validate, GET /healthz, GET /readyz, GET /metrics"
    for method, path, status, text in [
        ("GET", "/review", 404, f"not found: this server serves {served}\n"),
        ("POST", "/", 404, f"not found: this server serves {served}\n"),
        ("PUT", "/healthz", 405, "method not allowed: use GET\n"),
        ("POST", "/metrics", 405, "method not allowed: use GET\n"),
        ("GET", "/mutate", 405, "method not allowed: use POST\n"),
        ("GET", "/validate", 405, "method not allowed: use POST\n"),
    ]:
        response = call(app, method, path)
        assert (response.status_code, response.text) == (status, text), (method, path)
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        if status == 405:
            assert response.headers["allow"] in ("GET, HEAD", "POST")
    rendered = metrics.render().decode()
    assert 'placement_webhook_bad_requests_total{code="404"} 2.0' in rendered
    assert 'placement_webhook_bad_requests_total{code="405"} 4.0' in rendered
    assert "# HELP placement_webhook_undecided_total Admissions answered 502 " in rendered  # as _undecided


def test_reservations_are_counted_in_readyz_and_the_metrics(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text((ROOT / "examples" / "reserved-gpu-pool.yaml").read_text())
    metrics = Metrics()
    store = PolicyStore(path, metrics)
    app = create_app(AppState(store, None, metrics, 1 << 20, 5.0))
    ready = call(app, "GET", "/readyz").json()
    assert ready == {
        "ready": True,
        "policies": 1,
        "reservations": 1,
        "generation": 1,
        "lastReloadError": None,
    }
    assert "placement_webhook_reservations 1.0" in call(app, "GET", "/metrics").text
    path.write_text(path.read_text() + "- taint: {key: tpu}\n  allow: [{namespaces: [ml]}]\n")
    assert store.reload_if_changed() is True
    assert call(app, "GET", "/readyz").json()["reservations"] == 2
    assert "placement_webhook_reservations 2.0" in call(app, "GET", "/metrics").text


def test_not_ready_still_says_what_is_in_force() -> None:
    """A 503 /readyz keeps the figures of a 200 one: the operator looking at a replica taken out of
    the Service needs to know which policies it holds and why its last reload failed."""
    metrics = Metrics()
    store = PolicyStore(BUNDLED_POLICIES, metrics)
    store.last_error = "policies.yaml:3: something"

    class Expired:
        class info:  # noqa: N801  # as CertificateStore.info
            @staticmethod
            def valid_now() -> bool:
                return False

    app = create_app(AppState(store, Expired(), metrics, 1 << 20, 5.0))  # type: ignore[arg-type]
    response = call(app, "GET", "/readyz")
    assert (response.status_code, response.json()) == (
        503,
        {
            "ready": False,
            "problems": ["serving certificate is not valid now"],
            "policies": 3,
            "reservations": 0,
            "generation": 1,
            "lastReloadError": "policies.yaml:3: something",
        },
    )


def test_a_handler_that_answers_errored_gets_its_status_and_no_admission_review() -> None:
    """``errored(code, message)`` is the other error plane: the server answers the HTTP status with
    the message as text (the API server's failurePolicy decides), for any handler."""
    from webhook.admission.response import errored
    from webhook.server.app import AdmissionEndpoint

    class Refusing:
        name, log_message = "refusing", "refusal"
        counter = Mutator.counter

        def wants_namespace_labels(self, request: Any, context: Any) -> bool:
            return False

        def wants_node(self, request: Any, context: Any) -> str | None:
            return None

        def handle(self, request: Any, context: Any, namespace_labels: Any, node_taints: Any = None) -> Any:
            return errored(422, "cannot judge this one")

    metrics = Metrics()
    state = AppState(PolicyStore(BUNDLED_POLICIES, metrics), None, metrics, 1 << 20, 5.0)
    endpoint = AdmissionEndpoint(Refusing(), state)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=endpoint)
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as client:
            return await client.post("/refuse", json=admission_review(fixture("triton-gpu-0")))

    response = asyncio.run(call())
    assert (response.status_code, response.text) == (422, "cannot judge this one\n")
    assert b'placement_webhook_bad_requests_total{code="422"} 1.0' in metrics.render()
