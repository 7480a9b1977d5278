"""The Dockerfile, checked by reading it (there is no Docker engine here to build it)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import ROOT
from tests.render import render

Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def stages() -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def build_args() -> dict[str, str]:
    return dict(args.split("=", 1) for kind, args in instructions() if kind == "ARG")


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (last matching pattern wins)."""
    ignored = False
    for pattern in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate, pattern = pattern.startswith("!"), pattern.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            ignored = not negate
    return ignored


def test_base_image_is_slim_and_pinned_to_a_patch_version() -> None:
    image = build_args()["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image
    assert all(args.split()[0] == "${PYTHON_IMAGE}" for args in (s[0][1] for s in stages()))
    assert len(stages()) >= 2


def test_final_stage_runs_the_server_as_a_numeric_non_root_user() -> None:
    final = dict(stages()[-1])
    user, _, group = final["USER"].partition(":")
    assert user.isdigit() and int(user) > 0 and (not group or group.isdigit())
    assert json.loads(final["ENTRYPOINT"]) == ["placement-webhook", "serve"]
    assert final["EXPOSE"].split() == ["8443"]
    deployment = next(o for o in render(ROOT / "deploy" / "base") if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(user)


def test_final_stage_gets_only_the_built_virtualenv_and_no_installer() -> None:
    final = stages()[-1]
    copies = [args for kind, args in final if kind == "COPY"]
    assert copies and all(args.startswith("--from=build ") for args in copies)
    runs = " ".join(args for kind, args in final if kind == "RUN")
    assert "pip install" not in runs and "apt-get" not in runs
    assert "uninstall" in runs and "pip" in runs
    build = [args for kind, args in stages()[0] if kind == "RUN"]
    # dependencies only from the hashed lock, then the package without resolving anything
    assert any("pip install --require-hashes --no-deps -r requirements.lock" in run for run in build)
    assert any("pip install --no-deps --no-build-isolation ." in run for run in build)


def test_every_copied_file_exists_and_reaches_the_build_context() -> None:
    sources = []
    for kind, args in instructions():
        if kind == "COPY" and not args.startswith("--from="):
            sources += shlex.split(args)[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not dockerignored(source), f"COPY {source}: excluded by .dockerignore"
    for link in (
        p for source in sources for p in [ROOT / source, *(ROOT / source).rglob("*")] if p.is_symlink()
    ):
        target = link.resolve().relative_to(ROOT).as_posix()  # a dangling link is silently not packaged
        assert link.resolve().exists() and not dockerignored(target), f"{link}: points outside the context"
        assert any(target == s or target.startswith(f"{s}/") for s in sources), (
            f"{link} -> {target}: not copied"
        )
    for secret in ("certs/tls.key", ".venv/bin/python", "tests/helpers.py"):
        assert dockerignored(secret), secret


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "hadolint"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_image_carries_the_oci_labels() -> None:
    final = stages()[-1]
    labels = dict(shlex.split(pair)[0].split("=", 1) for kind, args in final if kind == "LABEL" for pair in
                  re.findall(r'\S+="[^"]*"', args))  # fmt: skip
    assert sorted(labels) == [
        f"org.opencontainers.image.{key}"
        for key in ("created", "description", "licenses", "revision", "source", "title", "version")
    ]
    assert (
        labels["org.opencontainers.image.licenses"]
        == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    )
    version_arg = next(args for kind, args in final if kind == "ARG" and args.startswith("VERSION="))
    assert (
        version_arg == f"VERSION={tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['version']}"
    )


def _locked() -> dict[str, tuple[str, list[str], str]]:
    """{name: (version, hashes, what the lock says it is there for)} from requirements.lock."""
    entries: dict[str, tuple[str, list[str], str]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements.lock").read_text()):
        first = block.split()[0] if block.strip() and not block.startswith("#") else ""
        if "==" not in first:
            continue
        name, version = first.split("==")
        entries[canonicalize_name(name)] = (
            version, re.findall(r"--hash=sha256:([0-9a-f]{64})", block), " ".join(re.findall(r"# (?:via)?(.*)", block))
        )  # fmt: skip
    return entries


def test_the_lock_pins_exactly_what_pyproject_asks_for_with_hashes() -> None:
    """Stale when a dependency is added, removed or raised above its pin: run `make lock`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    locked = _locked()
    assert locked and all(hashes for _, hashes, _ in locked.values()), "every pin carries hashes"
    wanted = [Requirement(r) for r in project["project"]["dependencies"]]
    direct = {n for n, (_, _, why) in locked.items() if "placement-webhook (pyproject.toml)" in why}
    assert direct == {canonicalize_name(r.name) for r in wanted}
    for requirement in [*wanted, *map(Requirement, project["build-system"]["requires"])]:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock"
        assert requirement.specifier.contains(locked[name][0]), (
            f"{name}=={locked[name][0]} breaks {requirement}"
        )
