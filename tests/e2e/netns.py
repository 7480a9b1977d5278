"""A network namespace with a veth pair, so a local process has a non-loopback Pod address.

The API server (on the host) reaches ``inside`` through the veth's connected route, exactly as it
would reach a Pod IP; the webhook serves there and the Service's EndpointSlice points at it. Each
namespace has a /30 of its own (``slot``), and a default route to the host, so every one reaches
slot 0's host address, where the relay to the API server listens (the ``kubernetes`` Service).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

# /30s from the benchmarking range are unlikely to clash with anything on the machine
NETWORK = "10.213.0"
PREFIX = 30
SLOTS = 64
HOST_ADDRESS = f"{NETWORK}.1"  # slot 0's host side: the relay to the API server listens here


def addresses(slot: int) -> tuple[str, str]:
    """The host side and the namespace side of slot ``slot``'s veth."""
    if not 0 <= slot < SLOTS:
        raise ValueError(f"slot {slot} is outside 0..{SLOTS - 1}")
    return f"{NETWORK}.{4 * slot + 1}", f"{NETWORK}.{4 * slot + 2}"


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
    for match in re.finditer(r"^\d+: pwh(\d+)(s\d+)?[@:]", links, re.M):
        pid, suffix = int(match.group(1)), match.group(2) or ""
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _ip("link", "del", f"pwh{pid}{suffix}", check=False)
            _ip("netns", "del", f"pw-e2e-{pid}{suffix}", check=False)


@contextlib.contextmanager
def network_namespace(tag: str, slot: int = 0) -> Iterator[Netns]:
    """Slot 0 is the suite's own (``tag`` is the test run's pid, so a killed run's are found);
    other slots are named ``{tag}s{slot}`` and share that pid prefix."""
    host, inside = addresses(slot)
    suffix = f"s{slot}" if slot else ""
    name, host_if, ns_if = f"pw-e2e-{tag}{suffix}", f"pwh{tag}{suffix}"[:15], f"pwn{tag}{suffix}"[:15]
    if not slot:
        remove_stale()
    taken = subprocess.run(["ip", "-o", "addr", "show", "to", f"{host}/32"], capture_output=True, text=True)
    if taken.stdout.strip():
        raise RuntimeError(f"{host} is already in use (another e2e run?): {taken.stdout.strip()}")
    _ip("netns", "add", name)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", f"{host}/{PREFIX}", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"{inside}/{PREFIX}", "dev", ns_if)
        _ip("-n", name, "link", "set", ns_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "route", "add", "default", "via", host)
        yield Netns(name, host, inside)
    finally:
        _ip("link", "del", host_if, check=False)  # deletes its peer too
        _ip("netns", "del", name, check=False)


@contextlib.contextmanager
def service_address(address: str) -> Iterator[str]:
    """``address`` as a Service's ClusterIP: an address of the host (on its loopback link; no
    dummy links on these kernels) that every namespace reaches through its default route. Used
    for the ``kubernetes`` Service's address, which the API server's certificate names, for Pods
    that use their in-cluster configuration."""
    taken = subprocess.run(
        ["ip", "-o", "addr", "show", "to", f"{address}/32"], capture_output=True, text=True
    )
    if taken.stdout.strip():
        raise RuntimeError(f"{address} is already in use (another e2e run?): {taken.stdout.strip()}")
    _ip("addr", "add", f"{address}/32", "dev", "lo")
    try:
        yield address
    finally:
        _ip("addr", "del", f"{address}/32", "dev", "lo", check=False)
