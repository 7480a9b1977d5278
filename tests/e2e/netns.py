"""A network namespace with a veth pair, so a local process has a non-loopback Pod address.

The API server (on the host) reaches ``inside`` through the veth's connected route, exactly as it
would reach a Pod IP; the webhook serves there and the Service's EndpointSlice points at it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

# a /30 from the benchmarking range is unlikely to clash with anything on the machine
HOST_ADDRESS = "10.213.0.1"
POD_ADDRESS = "10.213.0.2"
PREFIX = 30


@dataclass(frozen=True)
class Netns:
    name: str
    host: str
    inside: str

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]


def unavailable() -> str | None:
    """Why a namespace cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    return None


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


def remove_stale() -> None:
    """Namespaces and veths left by a run that was killed (SIGKILL skips teardown): named by its pid."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for match in re.finditer(r"^\d+: pwh(\d+)[@:]", links, re.M):
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _ip("link", "del", f"pwh{pid}", check=False)
            _ip("netns", "del", f"pw-e2e-{pid}", check=False)


@contextlib.contextmanager
def network_namespace(tag: str) -> Iterator[Netns]:
    name, host_if, ns_if = f"pw-e2e-{tag}", f"pwh{tag}"[:15], f"pwn{tag}"[:15]
    remove_stale()
    taken = subprocess.run(
        ["ip", "-o", "addr", "show", "to", f"{HOST_ADDRESS}/32"], capture_output=True, text=True
    )
    if taken.stdout.strip():
        raise RuntimeError(f"{HOST_ADDRESS} is already in use (another e2e run?): {taken.stdout.strip()}")
    _ip("netns", "add", name)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", f"{HOST_ADDRESS}/{PREFIX}", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"{POD_ADDRESS}/{PREFIX}", "dev", ns_if)
        _ip("-n", name, "link", "set", ns_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield Netns(name, HOST_ADDRESS, POD_ADDRESS)
    finally:
        _ip("link", "del", host_if, check=False)  # deletes its peer too
        _ip("netns", "del", name, check=False)
