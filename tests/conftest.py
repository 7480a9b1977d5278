"""Fixtures shared by the modules that start a real server (each defines its own ``server``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server_helpers import RunningServer, TlsConnection


@pytest.fixture
def conn(server: RunningServer) -> Iterator[TlsConnection]:
    """A kept-alive TLS connection to the module's server, closed after the test."""
    connection = server.connect()
    yield connection
    connection.close()
