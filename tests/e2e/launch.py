"""Start one container from an image's root filesystem, as a container runtime would (runc's part).

Run as root in a mount namespace of its own (``unshare --mount --propagation private``) inside the
Pod's network namespace, with a JSON spec (see ``tests/e2e/kubelet.py``): the root filesystem is
bind-mounted on itself, gets ``/proc``, a minimal ``/dev`` and the volume mounts (mount points are
made in the container's writable layer first, as runc does), and is then made read-only when the
container says ``readOnlyRootFilesystem``. Then chroot, the supplementary groups, group and user
of the security context, ``no_new_privs`` for ``allowPrivilegeEscalation: false`` (and, as a
non-root user, no capabilities left), and exec of the command as the image and the container spec
combine it. The process keeps this process's pid, so a signal sent to it reaches the server.

Standard library only: it runs with the test run's interpreter before the chroot.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PR_SET_NO_NEW_PRIVS = 38
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def _inside(rootfs: Path, target: str, _depth: int = 0) -> Path:
    """``target`` resolved inside ``rootfs`` as runc does (securejoin): a symlink on the way
    (Debian's ``/var/run -> /run``) is followed within the root filesystem, never out of it."""
    if _depth > 40:
        raise ValueError(f"too many symlinks resolving {target}")
    path = rootfs
    parts = [p for p in target.split("/") if p not in ("", ".")]
    for index, part in enumerate(parts):
        if part == "..":
            path = path.parent if path != rootfs else rootfs
            continue
        candidate = path / part
        if candidate.is_symlink():
            link = str(candidate.readlink())
            rest = "/".join(parts[index + 1 :])
            base = "/" if link.startswith("/") else "/" + str(path.relative_to(rootfs))
            return _inside(rootfs, f"{base}/{link}/{rest}", _depth + 1)
        path = candidate
    return path


def prepare(spec: dict[str, Any]) -> None:
    rootfs = Path(spec["rootfs"])
    _mount("--bind", str(rootfs), str(rootfs))
    proc = _inside(rootfs, "/proc")
    proc.mkdir(exist_ok=True)
    _mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", str(proc))
    dev = _inside(rootfs, "/dev")
    dev.mkdir(exist_ok=True)
    _mount("-t", "tmpfs", "-o", "nosuid,mode=755,size=64k", "tmpfs", str(dev))
    for device in DEVICES:
        (dev / device).touch()
        _mount("--bind", f"/dev/{device}", str(dev / device))
    for mount in spec["mounts"]:
        target = _inside(rootfs, mount["target"])
        target.mkdir(parents=True, exist_ok=True)
        if mount["kind"] == "tmpfs":
            _mount("-t", "tmpfs", "-o", f"nosuid,nodev,mode=1777,size={mount['size']}", "tmpfs", str(target))
            continue
        _mount("--bind", mount["source"], str(target))
        if mount.get("readOnly"):
            _mount("-o", "remount,bind,ro,nosuid,nodev", str(target))
    if spec.get("readOnlyRoot"):
        _mount("-o", "remount,bind,ro", str(rootfs))


def resolve(command: str, env: dict[str, str]) -> str:
    """The executable as execvp would find it, inside the (already entered) root filesystem."""
    if "/" in command:
        return command
    for directory in env.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
        candidate = Path(directory) / command
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise FileNotFoundError(f"{command}: not found in the image's PATH {env.get('PATH')}")


def enter(spec: dict[str, Any]) -> None:
    os.chroot(spec["rootfs"])
    os.chdir(spec.get("workdir") or "/")
    os.setgroups(spec["groups"])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    if spec.get("noNewPrivs"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    env = dict(spec["env"])
    argv = list(spec["argv"])
    os.execve(resolve(argv[0], env), argv, env)


def main(path: str) -> None:
    spec = json.loads(Path(path).read_text())
    try:
        prepare(spec)
        enter(spec)
    except Exception as error:  # the kubelet would report CreateContainerError / RunContainerError
        print(f"launch: cannot start the container: {error}", file=sys.stderr)
        sys.exit(128)


if __name__ == "__main__":
    main(sys.argv[1])
