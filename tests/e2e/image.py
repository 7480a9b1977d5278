"""``make image``: the Dockerfile built daemonless with buildah, on a base made of Debian packages.

No registry image can be pulled on the machines this project is built on, so the Dockerfile's
``PYTHON_IMAGE`` is a stand-in: Debian bookworm's minbase with python3, python3-venv and
python-is-python3, made by mmdebstrap and imported into buildah's storage. The Dockerfile itself is
the one users build with ``docker build`` on ``python:3.11-slim``. The base is cached outside the
repository (with the control plane, ``~/.cache/placement-webhook``), keyed by its recipe; the image
carries a label with a digest of its inputs (Dockerfile, lock file, package sources), so the e2e
suite can tell a current image from a stale one.

Storage is buildah's own under the cache directory (``vfs`` driver, ``chroot`` isolation: no
daemon, no overlay mounts, root only). The machine's CA bundle (the package index may sit behind a
TLS-intercepting proxy) reaches the pip step as a build secret: mounted for that RUN, never in a
layer. Standard library only: it runs before the project's virtualenv exists.

    python3 -m tests.e2e.image build        # build (or reuse) the base, then the image
    python3 -m tests.e2e.image buildah ...  # buildah with the project's storage options
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/placement-webhook:e2e"
INPUTS_LABEL = "io.placement-webhook.inputs"
#: the stand-in for python:3.11-slim-bookworm (Debian bookworm's Python is 3.11)
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3")
BASE_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")
CA_BUNDLE = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))
#: what the image is built from: a change to any of them makes the image stale
INPUT_PATHS = ("Dockerfile", ".dockerignore", "requirements.lock", "pyproject.toml", "README.md", "LICENSE",
               "policies.yaml", "webhook")  # fmt: skip


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "placement-webhook" / "containers"


def buildah_command(*args: str) -> list[str]:
    """buildah with the project's storage: its own root, vfs, chroot isolation."""
    store = cache_dir()
    return [
        "buildah", f"--root={store / 'storage'}", f"--runroot={store / 'run'}", "--storage-driver=vfs",
        *args,
    ]  # fmt: skip


def buildah(*args: str, capture: bool = True) -> str:
    env = {**os.environ, "BUILDAH_ISOLATION": "chroot"}
    result = subprocess.run(buildah_command(*args), env=env, text=True, capture_output=capture)
    if result.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout.strip() if capture else ""


def unavailable() -> str | None:
    """Why an image cannot be built or run here, or None."""
    if os.geteuid() != 0:
        return "building and running the image needs root (buildah chroot isolation)"
    missing = [tool for tool in ("buildah", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (Debian packages: apt-get install buildah mmdebstrap)"
    return None


def base_recipe() -> dict[str, object]:
    return {"suite": BASE_SUITE, "variant": "minbase", "packages": BASE_PACKAGES, "excludes": BASE_EXCLUDES}


def base_tag() -> str:
    digest = hashlib.sha256(json.dumps(base_recipe(), sort_keys=True).encode()).hexdigest()[:16]
    return f"localhost/placement-webhook-base:{BASE_SUITE}-{digest}"


def _tracked_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = ROOT / name
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        else:
            files.append(path)
    return files


def inputs_digest() -> str:
    """A digest of everything the image is built from (file names, contents, symlink targets)."""
    digest = hashlib.sha256(base_tag().encode())
    for path in _tracked_files(INPUT_PATHS):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(str(path.readlink()).encode() if path.is_symlink() else path.read_bytes())
    return digest.hexdigest()


def image_exists(name: str) -> bool:
    env = {**os.environ, "BUILDAH_ISOLATION": "chroot"}
    found = subprocess.run(buildah_command("inspect", "--type=image", name), env=env, capture_output=True)
    return found.returncode == 0


def image_config(name: str = IMAGE) -> dict[str, Any]:
    """The OCI image configuration (User, Env, Entrypoint, Cmd, WorkingDir, Labels)."""
    config: dict[str, Any] = json.loads(buildah("inspect", "--type=image", name))["OCIv1"]["config"]
    return config


def build_base() -> str:
    """The stand-in base image, made once per recipe: mmdebstrap into a tarball, imported."""
    tag = base_tag()
    if image_exists(tag):
        return tag
    tarball = cache_dir() / f"{tag.rsplit(':', 1)[1]}.tar"
    tarball.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    command = ["mmdebstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", "--quiet"]
    command += [f"--dpkgopt=path-exclude={pattern}" for pattern in BASE_EXCLUDES]
    subprocess.run([*command, BASE_SUITE, str(tarball)], check=True)
    container = buildah("from", "scratch")
    try:
        buildah("add", container, str(tarball), "/")
        buildah("config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--cmd", "python3", container)  # fmt: skip
        buildah("commit", "--quiet", container, tag)
    finally:
        buildah("rm", container)
        tarball.unlink(missing_ok=True)
    print(f"base {tag}: built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return tag


def build(*, force: bool = False) -> str:
    """Build the image unless one from the same inputs exists; returns its name."""
    digest = inputs_digest()
    if not force and image_exists(IMAGE) and (image_config().get("Labels") or {}).get(INPUTS_LABEL) == digest:
        print(f"{IMAGE}: up to date ({digest[:12]})", file=sys.stderr)
        return IMAGE
    base = build_base()
    started = time.monotonic()
    command = ["bud", "--quiet", "--layers=false", f"--build-arg=PYTHON_IMAGE={base}",
               f"--label={INPUTS_LABEL}={digest}", f"--tag={IMAGE}"]  # fmt: skip
    if CA_BUNDLE.is_file():
        command.append(f"--secret=id=ca-bundle,src={CA_BUNDLE}")
    buildah(*command, str(ROOT), capture=False)
    print(f"{IMAGE}: built in {time.monotonic() - started:.0f} s, {image_size(IMAGE)}", file=sys.stderr)
    return IMAGE


def image_size(name: str) -> str:
    """buildah's own account of the image's size (uncompressed), e.g. ``317 MB``."""
    listing = json.loads(buildah("images", "--json", name))
    return str(listing[0]["size"]) if listing else "unknown"


class SharedRootfs:
    """The image's root filesystem: one buildah container shared by every read-only-root container
    (nothing can write to it), one of its own for any other."""

    def __init__(self) -> None:
        self._containers: dict[str, Path] = {}

    def path(self, *, writable: bool, name: str) -> Path:
        key = name if writable else "shared"
        if key not in self._containers:
            working = buildah("from", "--name", f"pw-e2e-{os.getpid()}-{key}", IMAGE)
            self._containers[key] = Path(buildah("mount", working))
        return self._containers[key]

    def close(self) -> None:
        for key in list(self._containers):
            with contextlib.suppress(RuntimeError):
                buildah("rm", f"pw-e2e-{os.getpid()}-{key}")
            del self._containers[key]


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["buildah"]:
        env = {**os.environ, "BUILDAH_ISOLATION": "chroot"}
        return subprocess.run(buildah_command(*argv[1:]), env=env).returncode
    if argv[:1] == ["build"]:
        problem = unavailable()
        if problem:
            print(f"make image: {problem}", file=sys.stderr)
            return 1
        build(force="--force" in argv)
        return 0
    print("usage: python3 -m tests.e2e.image build [--force] | buildah ARGS...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
