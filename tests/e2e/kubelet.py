"""The part of a kubelet the chart's Pods need, running them from the image: no container runtime.

For each Pod the scheduler bound and the selector picks, as a kubelet with runc would: a network
namespace with a Pod IP of its own; the volumes the Pod names (Secret, ConfigMap, emptyDir and the
projected ServiceAccount token the API server added) laid out by the atomic writer and kept in
step with the API; the container's command, arguments, environment, user, groups and read-only
root combined from the image's configuration and the container spec (``tests/e2e/launch.py``
starts it in the image's root filesystem); the Pod's status (Running, its IP, Ready from the
readiness probe); a restart when the container exits (``restartPolicy: Always``), or the Pod's
phase when it runs to completion; and, when the Pod is deleted, the ``preStop`` sleep, SIGTERM,
SIGKILL at the grace period, and the final delete. Anything in a spec it does not implement
(``subPath``, ``valueFrom``, another probe or volume kind) raises: a mismatch is never papered over.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e import image, netns
from tests.e2e.controlplane import ApiError, ControlPlane, Process, spawn
from tests.e2e.kube import ROOT
from tests.e2e.volumes import sync_volumes


@dataclass
class Container:
    pod: dict[str, Any]
    slot: int
    network: netns.Netns
    closing: contextlib.ExitStack
    volumes: Path
    launch_spec: Path
    process: Process | None = None
    ready: bool = False
    restarts: int = 0
    terminating: bool = False
    failures: int = 0
    next_probe: float = 0.0
    exit_codes: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.pod["spec"]["containers"][0])


@dataclass
class Termination:
    """How a deleted Pod's container ended: for the scenarios' counts."""

    pod: str
    signalled_after: float  # seconds from the deletion to SIGTERM (the preStop sleep)
    exited_after: float  # seconds from SIGTERM to the exit
    exit_code: int | None


class Kubelet:
    def __init__(
        self, plane: ControlPlane, namespace: str, selector: str, api_service: tuple[str, int], tag: str
    ) -> None:
        self.plane, self.namespace, self.selector, self.api_service, self.tag = (
            plane, namespace, selector, api_service, tag,
        )  # fmt: skip
        self.config = image.image_config(image.IMAGE)
        self.containers: dict[str, Container] = {}  # by Pod uid
        self.terminations: list[Termination] = []
        self.errors: list[str] = []
        self._free_slots = list(range(1, netns.SLOTS))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="kubelet", daemon=True)
        self._endings: list[threading.Thread] = []  # Pods being terminated
        self._rootfs = image.SharedRootfs()
        self._last_volume_sync = 0.0

    # --- the loop ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # also cuts a preStop sleep short: the kubelet is going away
        self._thread.join(timeout=30)
        for ending in self._endings:
            ending.join(timeout=30)
        for container in list(self.containers.values()):
            self._kill(container)
            self._release(container)
        self._rootfs.close()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.sync()
            except Exception as error:  # keep running; the scenario reads the errors
                self.errors.append(f"{type(error).__name__}: {error}")

    def sync(self) -> None:
        pods = self.plane.api.items(f"/api/v1/namespaces/{self.namespace}/pods", labelSelector=self.selector)
        seen = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            container = self.containers.get(uid)
            if container is None:
                finished = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
                if (
                    pod["spec"].get("nodeName")
                    and not pod["metadata"].get("deletionTimestamp")
                    and not finished
                ):
                    self._create(pod)
                continue
            container.pod = pod
            if pod["metadata"].get("deletionTimestamp") and not container.terminating:
                container.terminating = True
                ending = threading.Thread(target=self._terminate, args=(container,), daemon=True)
                self._endings.append(ending)
                ending.start()
            elif not container.terminating:
                self._supervise(container)
        for uid in set(self.containers) - seen:  # deleted with grace 0 by someone else
            container = self.containers[uid]
            if not container.terminating:
                self._kill(container)
                self._release(container)
        if time.monotonic() - self._last_volume_sync > 1.0:
            self._last_volume_sync = time.monotonic()
            for container in list(self.containers.values()):
                if not container.terminating:
                    self._write_volumes(container)

    # --- one Pod ---------------------------------------------------------------------------------

    def _create(self, pod: dict[str, Any]) -> None:
        """Volumes first (a Secret not written yet keeps the Pod waiting, as ContainerCreating
        does), then the network namespace, then the container."""
        directory = self.plane.run_dir / "kubelet" / pod["metadata"]["uid"]
        with self._lock:
            slot = self._free_slots.pop(0)
        closing = contextlib.ExitStack()
        container = Container(
            pod, slot, netns.Netns("", "", ""), closing, directory / "volumes", directory / "launch.json"
        )
        try:
            self._write_volumes(container)
        except ApiError as error:
            if error.code != 404:
                raise
            with self._lock:
                self._free_slots.append(slot)
            return
        container.network = closing.enter_context(netns.network_namespace(self.tag, slot))
        self.containers[pod["metadata"]["uid"]] = container
        container.launch_spec.parent.mkdir(parents=True, exist_ok=True)
        container.launch_spec.write_text(json.dumps(self._launch_spec(container)))
        self._run(container)

    def _run(self, container: Container) -> None:
        argv = [*container.network.exec_prefix(), "unshare", "--mount", "--propagation", "private",
                sys.executable, "-m", "tests.e2e.launch", str(container.launch_spec)]  # fmt: skip
        log = self.plane.logs / f"{container.name}.log"
        container.process = spawn(container.name, argv, log, env={"PYTHONPATH": str(ROOT)})
        container.ready, container.failures = False, 0
        container.next_probe = time.monotonic()
        self._report(container)

    def _supervise(self, container: Container) -> None:
        process = container.process
        if process is not None and not process.alive():
            container.exit_codes.append(process.popen.returncode)
            if container.pod["spec"].get("restartPolicy", "Always") == "Always" or (
                container.pod["spec"]["restartPolicy"] == "OnFailure" and process.popen.returncode != 0
            ):
                container.restarts += 1
                self._run(container)
            else:
                self._report(container, exited=process.popen.returncode)
                self._release(container)
            return
        if time.monotonic() >= container.next_probe:
            self._probe(container)

    def _probe(self, container: Container) -> None:
        probe = container.spec.get("readinessProbe")
        if probe is None:
            ready = True
        else:
            container.next_probe = time.monotonic() + probe.get("periodSeconds", 10)
            ready = self._probe_once(container, probe)
            if not ready:
                container.failures += 1
                ready = container.ready and container.failures < probe.get("failureThreshold", 3)
            else:
                container.failures = 0
        if ready != container.ready:
            container.ready = ready
            self._report(container)

    def _probe_once(self, container: Container, probe: dict[str, Any]) -> bool:
        get = probe.get("httpGet")
        known = {
            "httpGet",
            "periodSeconds",
            "timeoutSeconds",
            "failureThreshold",
            "successThreshold",
            "initialDelaySeconds",
        }
        if get is None or set(probe) - known or probe.get("successThreshold", 1) != 1:
            raise NotImplementedError(f"readiness probe {probe}")
        port = _port(container.spec, get["port"])
        url = f"{get.get('scheme', 'HTTP').lower()}://{container.network.inside}:{port}{get['path']}"
        try:  # the kubelet does not verify a probe's certificate
            response = httpx.get(url, verify=False, timeout=probe.get("timeoutSeconds", 1))
        except httpx.HTTPError:
            return False
        return 200 <= response.status_code < 400

    def _terminate(self, container: Container) -> None:
        """Deletion: preStop, SIGTERM, SIGKILL at the grace period, then the Pod object goes."""
        meta = container.pod["metadata"]
        started = time.monotonic()
        grace = meta.get(
            "deletionGracePeriodSeconds", container.pod["spec"].get("terminationGracePeriodSeconds", 30)
        )
        pre_stop = container.spec.get("lifecycle", {}).get("preStop")
        if pre_stop is not None:
            if set(pre_stop) != {"sleep"}:
                raise NotImplementedError(f"preStop {pre_stop}")
            self._stop.wait(min(pre_stop["sleep"]["seconds"], grace))
        signalled = time.monotonic()
        process, code = container.process, None
        if process is not None and process.alive():
            os.kill(process.popen.pid, signal.SIGTERM)
            try:
                code = process.popen.wait(max(0.0, started + grace - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(process.popen.pid, signal.SIGKILL)
                code = process.popen.wait(10)
        self.terminations.append(
            Termination(meta["name"], signalled - started, time.monotonic() - signalled, code)
        )
        with contextlib.suppress(ApiError, RuntimeError):  # RuntimeError: the plane is stopping
            self.plane.api.delete(
                f"/api/v1/namespaces/{self.namespace}/pods/{meta['name']}", gracePeriodSeconds=0
            )
        self._release(container)

    def _kill(self, container: Container) -> None:
        if container.process is not None and container.process.alive():
            os.kill(container.process.popen.pid, signal.SIGKILL)
            container.process.popen.wait(10)

    def _release(self, container: Container) -> None:
        self.containers.pop(container.pod["metadata"]["uid"], None)
        container.closing.close()
        with self._lock:
            self._free_slots.append(container.slot)

    # --- status ----------------------------------------------------------------------------------

    def _report(self, container: Container, exited: int | None = None) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ready = "True" if container.ready else "False"
        state: dict[str, Any] = {"running": {"startedAt": now}}
        phase = "Running"
        if exited is not None:
            phase, ready = ("Succeeded" if exited == 0 else "Failed"), "False"
            state = {"terminated": {"exitCode": exited, "finishedAt": now}}
        status = {
            "phase": phase,
            "podIP": container.network.inside,
            "podIPs": [{"ip": container.network.inside}],
            "hostIP": container.network.host,
            "conditions": [
                {"type": kind, "status": value, "lastTransitionTime": now}
                for kind, value in (
                    ("PodReadyToStartContainers", "True"),
                    ("Initialized", "True"),
                    ("ContainersReady", ready),
                    ("Ready", ready),
                    ("PodScheduled", "True"),
                )
            ],
            "containerStatuses": [
                {
                    "name": container.spec["name"],
                    "image": container.spec["image"],
                    "imageID": image.IMAGE,
                    "ready": ready == "True",
                    "started": exited is None,
                    "restartCount": container.restarts,
                    "state": state,
                }
            ],
        }
        meta = container.pod["metadata"]
        with contextlib.suppress(ApiError):  # deleted meanwhile
            self.plane.api.merge(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status", {"status": status}
            )

    # --- volumes and the launch spec -------------------------------------------------------------

    def _write_volumes(self, container: Container) -> None:
        sync_volumes(self.plane.api, container.pod, container.volumes)

    def _launch_spec(self, container: Container) -> dict[str, Any]:
        spec, pod_spec = container.spec, container.pod["spec"]
        security = {**pod_spec.get("securityContext", {}), **spec.get("securityContext", {})}
        image_user, _, image_group = (self.config.get("User") or "0").partition(":")
        uid = int(security.get("runAsUser", image_user or 0))
        gid = int(security.get("runAsGroup", image_group or 0))
        if security.get("runAsNonRoot") and uid == 0:
            raise RuntimeError(f"{container.name}: runAsNonRoot, but the container would run as root")
        groups = sorted({gid, *([security["fsGroup"]] if "fsGroup" in security else []),
                         *security.get("supplementalGroups", [])})  # fmt: skip
        env = dict(e.split("=", 1) for e in self.config.get("Env") or [])
        host, port = self.api_service
        env |= {"HOSTNAME": container.name, "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": str(port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(port), "KUBERNETES_PORT": f"tcp://{host}:{port}"}  # fmt: skip
        for variable in spec.get("env", []):
            if "value" not in variable:
                raise NotImplementedError(f"env {variable}")
            env[variable["name"]] = variable["value"]
        command = spec.get("command") or self.config.get("Entrypoint") or []
        args = (
            spec.get("args")
            if "args" in spec
            else ([] if spec.get("command") else self.config.get("Cmd") or [])
        )
        volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
        mounts: list[dict[str, Any]] = []
        for mount in spec.get("volumeMounts", []):
            if mount.get("subPath") or mount.get("subPathExpr"):
                raise NotImplementedError(f"volumeMount {mount}")
            volume = volumes[mount["name"]]
            if "emptyDir" in volume:
                size = volume["emptyDir"].get("sizeLimit", "64Mi").replace("Mi", "m").replace("Gi", "g")
                mounts.append({"kind": "tmpfs", "target": mount["mountPath"], "size": size})
            else:
                source = container.volumes / mount["name"]
                mounts.append({"kind": "bind", "source": str(source), "target": mount["mountPath"],
                               "readOnly": bool(mount.get("readOnly"))})  # fmt: skip
        rootfs = self._rootfs.path(writable=not security.get("readOnlyRootFilesystem"), name=container.name)
        return {
            "rootfs": str(rootfs), "mounts": mounts, "readOnlyRoot": bool(security.get("readOnlyRootFilesystem")),
            "uid": uid, "gid": gid, "groups": groups,
            "noNewPrivs": security.get("allowPrivilegeEscalation") is False,
            "argv": [*command, *args], "env": env, "workdir": self.config.get("WorkingDir") or "/",
        }  # fmt: skip


def _port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in container.get("ports", []) if p.get("name") == port))


@contextlib.contextmanager
def running(
    plane: ControlPlane, namespace: str, selector: str, api_service: tuple[str, int], tag: str
) -> Iterator[Kubelet]:
    kubelet = Kubelet(plane, namespace, selector, api_service, tag)
    kubelet.start()
    try:
        yield kubelet
    finally:
        kubelet.stop()
