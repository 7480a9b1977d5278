"""``webhook.server.protocol`` overrides hooks of uvicorn's ``HttpToolsProtocol``, an internal
class whose hooks change between releases: the server is supported only on the releases its
tests passed on, which ``pyproject.toml`` pins. This test fails, naming the version and what to
do, when the installed uvicorn is outside that range (e.g. a pip install that ignored the pin)."""

from __future__ import annotations

import inspect
import tomllib
from importlib.metadata import version

from packaging.requirements import Requirement
from packaging.version import Version

from tests.helpers import ROOT
from webhook.server.protocol import GuardedHttpProtocol

#: the uvicorn releases the whole suite (tests/server: the protocol's own tests) passed on
TESTED = ("0.54.0", "0.55.0")


def _pinned() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [uvicorn] = [Requirement(d) for d in project["dependencies"] if Requirement(d).name == "uvicorn"]
    return uvicorn


def test_the_installed_uvicorn_is_a_tested_release() -> None:
    installed = version("uvicorn")
    assert Version(installed) in _pinned().specifier, (
        f"uvicorn {installed} is outside the tested range {_pinned().specifier}: "
        "webhook/server/protocol.py overrides uvicorn internals; install a release in the range, "
        "or run tests/server on the new one and widen the pin (and TESTED here) if they pass"
    )


def test_the_pin_admits_only_tested_releases_and_the_lock_is_one_of_them() -> None:
    specifier = _pinned().specifier
    assert all(Version(v) in specifier for v in TESTED)
    assert not any(Version(v) in specifier for v in ("0.53.0", "0.56.0", "1.0.0"))
    lock = (ROOT / "requirements.lock").read_text()
    [locked] = [line.split("==")[1].split()[0] for line in lock.splitlines() if line.startswith("uvicorn==")]
    assert locked in TESTED


def test_the_hooks_the_protocol_overrides_exist_in_this_uvicorn() -> None:
    """Every method the guarded protocol overrides is one uvicorn's protocol defines: a renamed
    hook would silently stop being called."""
    base = GuardedHttpProtocol.__mro__[1]
    overridden = [name for name in vars(GuardedHttpProtocol) if callable(vars(GuardedHttpProtocol)[name])]
    missing = [n for n in overridden if not n.startswith("_") and not hasattr(base, n)]
    assert not missing, f"uvicorn {version('uvicorn')} has no {missing}: the protocol's overrides are stale"


def test_the_attributes_the_protocol_reads_are_uvicorns() -> None:
    """The uvicorn state the guarded protocol reads or cancels is still set by uvicorn's protocol
    (the keep-alive timer above all: its leak is what ``connection_lost`` mends)."""
    source = inspect.getsource(GuardedHttpProtocol.__mro__[1])
    used = (
        "timeout_keep_alive_task",
        "timeout_keep_alive",
        "cycle",
        "scope",
        "logger",
        "connections",
        "transport",
        "loop",
    )
    missing = [name for name in used if f"self.{name} =" not in source and f"self.{name}: " not in source]
    assert not missing, f"uvicorn {version('uvicorn')}'s HttpToolsProtocol no longer sets {missing}"


def test_uvicorns_data_received_cancels_the_keep_alive_timer() -> None:
    """A new connection idles on uvicorn's keep-alive timer until its first byte, which uvicorn's
    ``data_received`` cancels: without that, a connection would be cut in the middle of a request."""
    source = inspect.getsource(GuardedHttpProtocol.__mro__[1].data_received)
    assert "_unset_keepalive_if_required()" in source, f"uvicorn {version('uvicorn')} changed data_received"
