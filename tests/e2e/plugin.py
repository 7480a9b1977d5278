"""Loaded for every pytest run (see the top-level conftest.py): one line saying which control plane
the e2e tests use, with every binary's version, or how to get one when it is missing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.controlplane import HOW_TO_BUILD, find_binaries, versions


def pytest_sessionstart(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller prints it once
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    binaries = find_binaries()
    if binaries is None:
        reporter.write_line(f"e2e: no control plane, the e2e tests will be skipped: {HOW_TO_BUILD}")
        return
    found = versions(binaries)
    reporter.write_line(f"e2e control plane ({binaries['kube-apiserver'].parent}):")
    for name, version in found.items():
        reporter.write_line(f"  {name}: {version}")


E2E_PREFIX = "tests/e2e/"


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # only with pytest-xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with every e2e test in one group, so one worker starts one control plane.

    xdist 3.8 groups by a ``@group`` suffix it writes into ``item._nodeid``, which pytest 9 no longer
    reads (node ids live in ``_id``): the ``xdist_group`` marks are ignored and the e2e tests would
    be spread over both workers. This scheduler groups them by path instead, and keeps xdist's own
    grouping for a suffix that does arrive.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class E2EGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(E2E_PREFIX):
                return "e2e"
            return str(super()._split_scope(nodeid))

    return E2EGroupScheduling(config, log)
