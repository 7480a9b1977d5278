"""Secret, ConfigMap and projected volumes laid out as the kubelet lays them out.

The kubelet's atomic writer (pkg/volume/util/atomic_writer.go) puts a volume's files in a
timestamped directory ``..2026_12_05_10_00_00.123456789``, points the symlink ``..data`` at it and
makes each visible name a symlink through ``..data`` (``policies.yaml -> ..data/policies.yaml``).
An update writes a new timestamped directory, points a new ``..data_tmp`` at it, renames that over
``..data`` (one atomic step: a reader sees the old set or the new one, never a mix) and removes the
old directory. The server reloads its policy and certificate files through exactly this swap.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.e2e.controlplane import Api

DATA = "..data"


def _timestamped() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("..%Y_%m_%d_%H_%M_%S.") + f"{now.microsecond:06d}{os.getpid() % 1000:03d}"


def write_atomically(directory: Path, files: Mapping[str, bytes], *, mode: int, gid: int | None) -> None:
    """Write (or replace) the volume's whole set of files, as one atomic swap of ``..data``."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    old = (directory / DATA).readlink() if (directory / DATA).is_symlink() else None
    new = directory / _timestamped()
    new.mkdir(mode=0o755)
    for name, content in files.items():
        path = new / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        # with an fsGroup the kubelet gives the group read access and ownership
        path.chmod(mode | (0o040 if gid is not None else 0))
        if gid is not None:
            os.chown(path, 0, gid)
    if gid is not None:
        os.chown(new, 0, gid)
    tmp = directory / f"{DATA}_tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(new.name)
    tmp.replace(directory / DATA)
    for name in {n.split("/", 1)[0] for n in files}:
        visible = directory / name
        if not visible.is_symlink():
            visible.symlink_to(f"{DATA}/{name}")
    if old is not None:
        stale = {n.name for n in (directory / old).iterdir()} - {n.split("/", 1)[0] for n in files}
        shutil.rmtree(directory / old, ignore_errors=True)
        for name in stale:
            (directory / name).unlink(missing_ok=True)


def sync_volumes(api: Api, pod: dict[str, Any], root: Path) -> None:
    """Bring every volume of ``pod`` under ``root`` in step with the API (the kubelet's periodic
    sync): a changed Secret or ConfigMap is swapped in atomically; emptyDirs are tmpfs mounts made
    at launch. Raises ApiError 404 while a source does not exist yet."""
    gid = pod["spec"].get("securityContext", {}).get("fsGroup")
    for volume in pod["spec"].get("volumes", []):
        if "emptyDir" in volume:
            continue
        files, mode = _volume_files(api, pod, volume, root / "..tokens")
        directory = root / volume["name"]
        if _visible(directory) != files:
            write_atomically(directory, files, mode=mode, gid=gid)


def _volume_files(
    api: Api, pod: dict[str, Any], volume: dict[str, Any], tokens: Path
) -> tuple[dict[str, bytes], int]:
    namespace = pod["metadata"]["namespace"]
    if "secret" in volume:
        source = volume["secret"]
        secret = api.get(f"/api/v1/namespaces/{namespace}/secrets/{source['secretName']}")
        files = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
        return _items(files, source), source.get("defaultMode", 0o644)
    if "configMap" in volume:
        source = volume["configMap"]
        config_map = api.get(f"/api/v1/namespaces/{namespace}/configmaps/{source['name']}")
        files = {k: v.encode() for k, v in (config_map.get("data") or {}).items()}
        return _items(files, source), source.get("defaultMode", 0o644)
    if "projected" in volume:
        return _projected(api, pod, volume["projected"], tokens), volume["projected"].get(
            "defaultMode", 0o644
        )
    raise NotImplementedError(f"volume {volume}")


def _projected(api: Api, pod: dict[str, Any], projected: dict[str, Any], tokens: Path) -> dict[str, bytes]:
    """The ServiceAccount token (a TokenRequest bound to the Pod, requested once), the cluster's
    CA from the kube-root-ca.crt ConfigMap and the namespace: what the API server adds to a Pod
    whose ServiceAccount token is mounted."""
    files: dict[str, bytes] = {}
    meta = pod["metadata"]
    for source in projected["sources"]:
        if "serviceAccountToken" in source:
            token = source["serviceAccountToken"]
            cached = tokens / token["path"]
            if not cached.is_file():
                account = pod["spec"].get("serviceAccountName", "default")
                spec: dict[str, Any] = {
                    "expirationSeconds": token.get("expirationSeconds", 3600),
                    "boundObjectRef": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": meta["name"],
                        "uid": meta["uid"],
                    },
                }
                if token.get("audience"):
                    spec["audiences"] = [token["audience"]]
                path = f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token"
                issued = api.create(path, {"spec": spec})
                tokens.mkdir(parents=True, exist_ok=True)
                cached.write_text(issued["status"]["token"])
            files[token["path"]] = cached.read_bytes()
        elif "configMap" in source:
            name = source["configMap"]["name"]
            data = api.get(f"/api/v1/namespaces/{meta['namespace']}/configmaps/{name}")["data"]
            files |= _items({k: v.encode() for k, v in data.items()}, source["configMap"])
        elif "downwardAPI" in source:
            for item in source["downwardAPI"]["items"]:
                if item.get("fieldRef", {}).get("fieldPath") != "metadata.namespace":
                    raise NotImplementedError(f"downwardAPI item {item}")
                files[item["path"]] = meta["namespace"].encode()
        else:
            raise NotImplementedError(f"projected source {source}")
    return files


def _items(files: dict[str, bytes], source: dict[str, Any]) -> dict[str, bytes]:
    if "items" not in source:
        return files
    return {item["path"]: files[item["key"]] for item in source["items"]}


def _visible(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    return {
        p.name: p.read_bytes() for p in directory.iterdir() if not p.name.startswith("..") and p.is_file()
    }
