"""The order the server tests start in, and a server run in the test's own process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server_helpers import free_port
from webhook.cluster.certs import ensure_dev_certificates
from webhook.server.serve import Webhook, bind_sockets, build_server
from webhook.server.settings import ServerSettings


def _is_the_soak(item: pytest.Item) -> bool:
    return item.path.name == "test_soak.py" and item.get_closest_marker("slow") is not None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The short soak first. It takes ~22 s, mostly waiting; pytest-xdist hands tests out in
    collection order, and collected late the soak ran last on one worker while the other had run
    out of tests: its whole length added to the wall time of ``pytest -n 2``."""
    items.sort(key=lambda item: not _is_the_soak(item))


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[Webhook]:
    """The real uvicorn, TLS and protocol on a thread of this process, so a test can see (and
    stop) the server's own objects."""
    ensure_dev_certificates(tmp_path / "certs")
    settings = ServerSettings(cert_dir=tmp_path / "certs", host="127.0.0.1", port=free_port())
    served = build_server(settings)
    sockets = bind_sockets(settings.host, settings.port)
    loop_factory = served.server.config.get_loop_factory()

    def serve() -> None:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(served.server.serve(sockets=sockets))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not served.server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    try:
        yield served
    finally:
        served.server.should_exit = True
        thread.join(timeout=30)
        for sock in sockets:
            sock.close()
        served.admission_log.close()
