"""Fixtures shared by the modules that start a real server (each defines its own ``server``), and
the ``property`` marker of every hypothesis test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import is_hypothesis_test

from tests.server_helpers import RunningServer, TlsConnection


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every ``@given`` test is a ``property`` test: `make mutate` leaves them out by that marker
    (``[tool.mutmut]`` in pyproject.toml), so a new or renamed one cannot slip back into the
    mutation runs (tests/test_mutation_config.py checks it)."""
    for item in items:
        if isinstance(item, pytest.Function) and is_hypothesis_test(item.obj):
            item.add_marker(pytest.mark.property)


@pytest.fixture
def conn(server: RunningServer) -> Iterator[TlsConnection]:
    """A kept-alive TLS connection to the module's server, closed after the test."""
    connection = server.connect()
    yield connection
    connection.close()
