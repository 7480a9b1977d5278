"""The ASGI app in-process, for faults that cannot be provoked from outside a healthy server."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from tests.helpers import BUNDLED_POLICIES, admission_review, fixture
from webhook.server.app import AppState, create_app
from webhook.server.metrics import Metrics
from webhook.server.reloading import PolicyStore


def test_internal_error_is_a_500_with_traceback_and_uid_logged(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    store = PolicyStore(BUNDLED_POLICIES, metrics)
    store.policies = "corrupt"  # type: ignore[assignment]  # every decision now fails unexpectedly
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
