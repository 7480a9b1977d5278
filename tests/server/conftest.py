"""The order the server tests start in."""

from __future__ import annotations

import pytest


def _is_the_soak(item: pytest.Item) -> bool:
    return item.path.name == "test_soak.py" and item.get_closest_marker("slow") is not None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The short soak first. It takes ~22 s, mostly waiting; pytest-xdist hands tests out in
    collection order, and collected late the soak ran last on one worker while the other had run
    out of tests: its whole length added to the wall time of ``pytest -n 2``."""
    items.sort(key=lambda item: not _is_the_soak(item))
