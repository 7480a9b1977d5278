"""A small kustomize renderer for exactly the features ``deploy/`` uses, so tests need no kubectl.

Supported: ``resources`` (YAML files, or folders with a kustomization), ``configMapGenerator``
(``files`` with the base name as key; ``namespace``; ``options.labels``) with
``generatorOptions.disableNameSuffixHash: true``, and ``patches`` holding strategic-merge patches
(inline or ``path``) that either delete an object (``$patch: delete``) or merge maps into it.
Anything else raises ``UnsupportedError``, so a manifest change that needs more cannot pass silently;
when kubectl is present, tests also compare this renderer with ``kubectl kustomize``.
Like kustomize, a file outside the kustomization's folder is refused (its load restrictor).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
KNOWN_KEYS = {"apiVersion", "kind", "resources", "configMapGenerator", "generatorOptions", "patches"}


class UnsupportedError(Exception):
    """The kustomization uses something this renderer does not implement."""


def object_key(obj: Obj) -> tuple[str, str, str, str]:
    meta = obj.get("metadata", {})
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]


def _inside(root: Path, relative: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise UnsupportedError(f"{relative}: outside {root} (kustomize's load restrictor refuses it)")
    return path


def _config_map(root: Path, spec: Obj, options: Obj) -> Obj:
    if set(spec) - {"name", "namespace", "files", "options"} or set(spec.get("options", {})) - {"labels"}:
        raise UnsupportedError(
            f"configMapGenerator {spec.get('name')}: only name, namespace, files, options.labels"
        )
    if options != {"disableNameSuffixHash": True}:
        raise UnsupportedError("generatorOptions: only disableNameSuffixHash: true")
    metadata: Obj = {"name": spec["name"]}
    if "labels" in spec.get("options", {}):
        metadata["labels"] = dict(spec["options"]["labels"])
    if "namespace" in spec:
        metadata["namespace"] = spec["namespace"]
    data = {Path(f).name: _inside(root, f).read_text() for f in spec["files"]}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _merge(target: Obj, patch: Obj, where: str) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.setdefault(key, {}), dict):
            _merge(target[key], value, f"{where}.{key}")
        elif isinstance(value, list | dict) or key.startswith("$"):
            raise UnsupportedError(f"patch {where}.{key}: only scalar and map merges are implemented")
        else:
            target[key] = value


def _apply_patch(objects: list[Obj], patch: Obj) -> list[Obj]:
    patch = copy.deepcopy(patch)
    delete = patch.pop("$patch", None) == "delete"
    key = object_key(patch)
    if not any(object_key(o) == key for o in objects):
        raise UnsupportedError(f"patch target {key} not found")
    if delete:
        return [o for o in objects if object_key(o) != key]
    for obj in objects:
        if object_key(obj) == key:
            _merge(obj, {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}, key[3])
    return objects


def render(folder: Path) -> list[Obj]:
    """The objects ``kubectl kustomize folder`` would print (order aside)."""
    kustomization: Obj = yaml.safe_load((folder / "kustomization.yaml").read_text())
    if set(kustomization) - KNOWN_KEYS:
        raise UnsupportedError(f"{folder}: {sorted(set(kustomization) - KNOWN_KEYS)}")
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            objects += render(path)
        else:
            objects += [d for d in yaml.safe_load_all(_inside(folder, entry).read_text()) if d]
    options = kustomization.get("generatorOptions", {})
    objects += [_config_map(folder, spec, options) for spec in kustomization.get("configMapGenerator", [])]
    for entry in kustomization.get("patches", []):
        if set(entry) - {"patch", "path"}:
            raise UnsupportedError(f"patches: only patch or path, not {sorted(entry)}")
        text = entry["patch"] if "patch" in entry else _inside(folder, entry["path"]).read_text()
        objects = _apply_patch(objects, yaml.safe_load(text))
    keys = [object_key(o) for o in objects]
    if len(set(keys)) != len(keys):
        raise UnsupportedError(f"{folder}: the same object twice")
    return objects
