"""The Helm chart is the one source of the manifests: ``deploy/`` and the chart's values table are
rendered from it, and its values schema holds a copy of policies.schema.json.
``python -m tests.deploy.chart --write`` regenerates them; without ``--write`` it
exits 1 when any of them is stale (tests/deploy/test_chart.py checks the same).

``deploy/base`` is ``helm template`` with the default values (plus ``namespace.create=true``, so
``kubectl apply -k`` makes the namespace with its Pod Security label); ``deploy/overlays/cert-manager``
is the same with ``certificates.mode=certManager``. Each file holds one template's objects, and a
``kustomization.yaml`` lists them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.controlplane import cache_dir

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "placement-webhook"
RELEASE = NAMESPACE = "placement-webhook"
KUBE_VERSION = "1.30.0"  # the chart's minimum: helm template's default (1.20) is refused
VALUES_SCHEMA = CHART / "values.schema.json"
POLICY_SCHEMA = ROOT / "policies.schema.json"
TABLE_START, TABLE_END = "<!-- values-table:start -->", "<!-- values-table:end -->"

# folder under deploy/ -> the values it is rendered with
RENDERINGS: dict[str, dict[str, Any]] = {
    "base": {"namespace": {"create": True}},
    "overlays/cert-manager": {"namespace": {"create": True}, "certificates": {"mode": "certManager"}},
}
HEADERS = {
    "base": "placement-webhook, self-contained: `kubectl apply -k deploy/base` (certificates from the bootstrap Job).",
    "overlays/cert-manager": "placement-webhook with certificates from cert-manager (installed already):\n"
    "# `kubectl apply -k deploy/overlays/cert-manager`.",
}
GENERATED = (
    "# Rendered from charts/placement-webhook (`python -m tests.deploy.chart --write`): edit the chart,\n"
    "# not this file; tests/deploy/test_chart.py fails when it is stale.\n"
)


def helm_binary() -> Path | None:
    """helm from the control-plane cache (``make control-plane``), else from PATH."""
    candidate = cache_dir() / "helm"
    if os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("helm")
    return Path(found) if found else None


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = helm_binary()
    if binary is None:
        raise RuntimeError("helm not found: run `make control-plane` (it builds helm into the cache)")
    home = Path(tempfile.gettempdir()) / "placement-webhook-helm-home"
    env = {**os.environ, "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config")}
    env["HELM_DATA_HOME"] = str(home / "data")
    result = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def template_text(
    values: dict[str, Any] | None = None,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    kube_version: str = KUBE_VERSION,
) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump(values or {}, file)
        file.flush()
        return helm(
            "template", release, str(CHART), "--namespace", namespace,
            "--kube-version", kube_version, "--values", file.name,
        ).stdout  # fmt: skip


def template(values: dict[str, Any] | None = None, **kwargs: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(template_text(values, **kwargs)) if d]


def split_by_template(text: str) -> dict[str, str]:
    """helm template's output as {template file name: its documents}, in helm's order."""
    files: dict[str, list[str]] = {}
    for document in re.split(r"^---\n", text, flags=re.M):
        match = re.match(r"# Source: [^/]+/templates/(\S+)\n", document)
        if match is None:
            assert not document.strip(), document
            continue
        body = document[match.end() :].strip("\n")
        if body:
            files.setdefault(match.group(1), []).append(body + "\n")
    return {name: "---\n".join(bodies) for name, bodies in files.items()}


def rendered_deploy() -> dict[str, str]:
    """Every generated file under deploy/ (relative path -> text)."""
    out: dict[str, str] = {}
    for folder, values in RENDERINGS.items():
        files = split_by_template(template_text(values))
        for name, body in files.items():
            out[f"{folder}/{name}"] = GENERATED + body
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted(files),
        }
        out[f"{folder}/kustomization.yaml"] = (
            f"# {HEADERS[folder]}\n{GENERATED}{yaml.safe_dump(kustomization, sort_keys=False)}"
        )
    return out


# --- the values table -------------------------------------------------------------------------------


def values_rows(text: str) -> list[tuple[str, str, str]]:
    """(key path, default as YAML flow, description) for every key with a ``# --`` comment above it."""
    data = yaml.safe_load(text)
    rows, stack, comment = [], [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = stripped.removeprefix("# --").strip()
            continue
        match = re.match(r"^( *)([A-Za-z][\w]*):", line)
        if not match:
            continue
        depth = len(match.group(1)) // 2
        stack = [*stack[:depth], match.group(2)]
        if comment is not None:
            value: Any = data
            for key in stack:
                value = value[key]
            shown = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
            shown = shown.removesuffix("\n...").removesuffix("...").strip()
            rows.append((".".join(stack), shown, comment))
            comment = None
    return rows


def values_table() -> str:
    lines = ["| Key | Default | Description |", "|-----|---------|-------------|"]
    for key, default, description in values_rows((CHART / "values.yaml").read_text()):
        default, description = default.replace("|", r"\|"), description.replace("|", r"\|")
        lines.append(f"| `{key}` | `{default}` | {description} |")
    return "\n".join(lines)


def readme_with_table(readme: str) -> str:
    start, end = readme.index(TABLE_START) + len(TABLE_START), readme.index(TABLE_END)
    return f"{readme[:start]}\n{values_table()}\n{readme[end:]}"


# --- the values schema -----------------------------------------------------------------------------


def values_schema_with_policies(text: str) -> str:
    """The chart's values schema with the project's policy file schema in its ``$defs``
    (``PolicyFile`` and the definitions it refers to, whose ``#/$defs/...`` references then hold
    as they are): helm checks structured ``policies`` values against it."""
    schema = json.loads(text)
    policy = json.loads(POLICY_SCHEMA.read_text())
    root = {k: v for k, v in policy.items() if k not in ("$defs", "$schema")}
    schema["$defs"] = {"PolicyFile": root, **policy["$defs"]}
    return json.dumps(schema, indent=2) + "\n"


# --- command line -----------------------------------------------------------------------------------


def stale() -> list[str]:
    """What differs from what the chart renders (relative paths), plus files that should not be there."""
    wanted = rendered_deploy()
    problems = [p for p, text in wanted.items() if not (ROOT / "deploy" / p).is_file()
                or (ROOT / "deploy" / p).read_text() != text]  # fmt: skip
    for folder in RENDERINGS:
        for path in (ROOT / "deploy" / folder).glob("*"):
            relative = f"{folder}/{path.name}"
            if path.is_file() and relative not in wanted:
                problems.append(f"{relative} (not rendered by the chart)")
    readme = (CHART / "README.md").read_text()
    if readme_with_table(readme) != readme:
        problems.append("charts/placement-webhook/README.md (values table)")
    schema = VALUES_SCHEMA.read_text()
    if values_schema_with_policies(schema) != schema:
        problems.append("charts/placement-webhook/values.schema.json (the policy file schema)")
    return problems


def write() -> None:
    VALUES_SCHEMA.write_text(values_schema_with_policies(VALUES_SCHEMA.read_text()))  # helm checks with it
    for folder in RENDERINGS:
        for path in (ROOT / "deploy" / folder).glob("*"):
            path.unlink()
    for relative, text in rendered_deploy().items():
        (ROOT / "deploy" / relative).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / "deploy" / relative).write_text(text)
    readme = CHART / "README.md"
    readme.write_text(readme_with_table(readme.read_text()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="regenerate instead of checking")
    if parser.parse_args().write:
        write()
        return 0
    problems = stale()
    for problem in problems:
        print(f"stale: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
