"""Install placement-webhook in the e2e cluster as a user would, and run its server.

``kubectl apply --server-side -k deploy/base``; ``placement-webhook certs --install`` as the
bootstrap Job's ServiceAccount (with the Job's own arguments, read back from the API server);
``placement-webhook serve`` with the certificate from the TLS Secret, inside a network namespace,
behind one of the Deployment's Pods marked Running and Ready at that address, so the API server
reaches it through the Service's EndpointSlice and verifies the Service's DNS name.
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.controlplane import ControlPlane, Process, spawn, wait_for, write_kubeconfig
from tests.e2e.kube import ROOT, load_objects, mark_running, pods
from tests.e2e.netns import Netns
from tests.e2e.relay import Relay

CLI = ROOT / ".venv" / "bin" / "placement-webhook"
NS = "placement-webhook"
SERVICE_HOST = f"placement-webhook.{NS}.svc"
SERVER_SELECTOR = "app.kubernetes.io/name=placement-webhook,app.kubernetes.io/component=server"
PORT = 8443


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``placement-webhook ARGS`` as a subprocess, never inside-cluster credentials."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "PLACEMENT_WEBHOOK_"))}
    return subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        input=stdin,
        timeout=120,
    )


def job_arguments(plane: ControlPlane) -> list[str]:
    """The bootstrap Job's command line as the API server stored it."""
    job = plane.api.get(f"/apis/batch/v1/namespaces/{NS}/jobs/placement-webhook-certs")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["placement-webhook"]
    return list(container["args"])


def service_account_kubeconfig(plane: ControlPlane, account: str, namespace: str = NS) -> Path:
    """A kubeconfig holding a TokenRequest token for the ServiceAccount (what the Job's Pod mounts)."""
    token = plane.kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    path = plane.run_dir / f"sa-{namespace}-{account}.kubeconfig"
    return write_kubeconfig(path, plane.server, plane.pki.ca, token=token)


def server_environment(plane: ControlPlane, relay: Relay, *, native: bool = False) -> dict[str, str]:
    """What the chart's Deployment gives ``serve`` beyond its flags: a token of its ServiceAccount
    (here a kubeconfig holding one, reaching the API server through ``relay`` as a Pod reaches the
    ``kubernetes`` Service: the guard's Node cache, by deploy/base's RBAC) and, with ``native``,
    the native guard's settings, read from deploy/base. Off by default in this suite: a native
    policy refuses before the guard webhook is asked (validating admission policies run first),
    and the other scenarios assert the webhook's own answers."""
    token = plane.kubectl("create", "token", "placement-webhook", "-n", NS, "--duration=2h").stdout.strip()
    server = f"https://{relay.address[0]}:{relay.address[1]}"
    kubeconfig = write_kubeconfig(plane.run_dir / "server.kubeconfig", server, plane.pki.ca, token=token)
    config = json.loads(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["tls-server-name"] = "127.0.0.1"  # the API server's certificate
    kubeconfig.write_text(json.dumps(config))
    env = {"KUBECONFIG": str(kubeconfig)}
    if native:
        objects = load_objects(ROOT / "deploy" / "base" / "deployment.yaml")
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env |= {
            e["name"]: e["value"]
            for e in container["env"]
            if e["name"].startswith("PLACEMENT_WEBHOOK_NATIVE")
        }
    return env


def install_certificates(plane: ControlPlane, *extra: str) -> subprocess.CompletedProcess[str]:
    kubeconfig = service_account_kubeconfig(plane, "placement-webhook-certs")
    return cli(*job_arguments(plane), "--kubeconfig", str(kubeconfig), *extra)


def read_tls_secret(plane: ControlPlane, directory: Path) -> Path:
    secret = plane.api.get(f"/api/v1/namespaces/{NS}/secrets/placement-webhook-tls")
    directory.mkdir(parents=True, exist_ok=True)
    for key in ("tls.crt", "tls.key", "ca.crt"):
        (directory / key).write_bytes(base64.b64decode(secret["data"][key]))
    (directory / "tls.key").chmod(0o600)
    return directory


@dataclass
class Webhook:
    """The ``serve`` process inside the network namespace, as the Deployment's Pod would run it."""

    plane: ControlPlane
    netns: Netns
    cert_dir: Path
    policies: Path
    process: Process | None = None
    logged_before_start: int = 0
    # a second install (tests/e2e/test_helm.py) serves beside the first on another port
    port: int = PORT
    service_host: str = SERVICE_HOST
    log_name: str = "webhook"
    #: extra environment of ``serve`` (e.g. a KUBECONFIG for the namespace cache)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.plane.logs / f"{self.log_name}.log"

    @property
    def url(self) -> str:
        return f"https://{self.netns.inside}:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(
            verify=ssl.create_default_context(cafile=str(self.cert_dir / "ca.crt")), timeout=5
        )

    def get(self, path: str) -> httpx.Response:
        # the certificate names the Service, not the address: verify it as the API server does
        with self.client() as client:
            return client.get(f"{self.url}{path}", extensions={"sni_hostname": self.service_host})

    def start(self, *, wait_ready: bool = True) -> None:
        """Start ``serve``; unless ``wait_ready`` is False, wait until /healthz and /readyz say 200."""
        argv = [
            *self.netns.exec_prefix(),
            str(CLI),
            "serve",
            f"--policies={self.policies}",
            f"--cert-dir={self.cert_dir}",
            f"--host={self.netns.inside}",
            f"--port={self.port}",
            "--no-dev-certs",
        ]
        env = {"PLACEMENT_WEBHOOK_RELOAD_INTERVAL": "0.2", **self.env}
        self.logged_before_start = len(self.admissions()) if self.log.exists() else 0
        self.process = spawn(self.log_name, argv, self.log, env)
        self.plane.processes.append(self.process)
        if not wait_ready:
            return

        def ready() -> bool:
            if self.process is not None and not self.process.alive():
                raise RuntimeError(f"placement-webhook serve exited:\n{self.process.tail()}")
            response = self.get("/readyz")
            if response.status_code != 200:
                raise RuntimeError(f"/readyz {response.status_code}: {response.text}")
            return True

        wait_for("placement-webhook /readyz", ready, 30)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.plane.processes.remove(self.process)
            self.process = None

    def admissions(self) -> list[dict[str, Any]]:
        """The admission log lines the server wrote (one per request the API server sent)."""
        lines = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("msg") == "admission":
                    lines.append(record)
        return lines

    def settled_admissions(self) -> list[dict[str, Any]]:
        """The admission log lines once every admission counted in /metrics has been logged
        (the server writes its log from a background thread, a little after answering)."""

        def settled() -> list[dict[str, Any]] | None:
            lines = self.admissions()
            counted = self.metric("placement_webhook_admissions_total")  # since this process started
            return lines if len(lines) == self.logged_before_start + counted else None

        return wait_for("the webhook's log to catch up with its metrics", settled, 10, interval=0.05)

    def metric(self, name: str) -> float:
        """The sum of a counter over all its label sets, from /metrics."""
        total = 0.0
        for line in self.get("/metrics").text.splitlines():
            if re.match(rf"{re.escape(name)}(\{{|\s)", line):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def set_policies(self, text: str) -> None:
        """Replace the policy file and wait until the server has loaded it."""
        before = self.metric("placement_webhook_policy_generation")
        tmp = self.policies.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.policies)
        wait_for("the new policies", lambda: self.metric("placement_webhook_policy_generation") > before, 20)


def apply_base(plane: ControlPlane) -> subprocess.CompletedProcess[str]:
    return plane.kubectl("apply", "--server-side", "-k", str(ROOT / "deploy" / "base"))


def publish_endpoint(
    plane: ControlPlane, address: str, namespace: str = NS, service: str = "placement-webhook"
) -> dict[str, Any]:
    """Mark one scheduled server Pod Running and Ready at ``address``; wait for its EndpointSlice."""

    def bound_pod() -> dict[str, Any] | None:
        bound = [p for p in pods(plane.api, namespace, SERVER_SELECTOR) if p["spec"].get("nodeName")]
        return bound[0] if bound else None

    pod = wait_for("a scheduled placement-webhook Pod", bound_pod, 60)
    mark_running(plane.api, pod, address)

    def published() -> bool:
        slices = plane.api.items(
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
            labelSelector=f"kubernetes.io/service-name={service}",
        )
        return any(
            address in endpoint["addresses"] and endpoint.get("conditions", {}).get("ready")
            for s in slices
            for endpoint in s.get("endpoints") or []
        )

    wait_for("the Service's EndpointSlice to list the webhook", published, 30)
    return pod


def wait_until_called(plane: ControlPlane, namespace: str, pod: dict[str, Any], timeout: float = 30) -> None:
    """Until the API server calls the webhook (its configuration informer lags the write)."""

    def mutated() -> bool:
        result = plane.api.create(f"/api/v1/namespaces/{namespace}/pods", pod, dryRun="All")
        return "placement-webhook.io/policy" in (result["metadata"].get("annotations") or {})

    wait_for("the API server to call the webhook", mutated, timeout, interval=0.2)


def policies_from_configmap(plane: ControlPlane) -> str:
    cm = plane.api.get(f"/api/v1/namespaces/{NS}/configmaps/placement-webhook-policies")
    return str(cm["data"]["policies.yaml"])


def without(args: Sequence[str], prefix: str) -> list[str]:
    return [a for a in args if not a.startswith(prefix)]
