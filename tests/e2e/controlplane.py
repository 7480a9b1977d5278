"""A real Kubernetes control plane for the e2e tests: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler as subprocesses on loopback, built by ``make control-plane``.

Self-contained on purpose (no ``webhook.*`` imports): the tests drive the product only through
its command line, and this module only through the binaries and the REST API.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "e2e" / "controlplane" / "build.sh"
K8S_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
BINARIES = (*K8S_BINARIES, "etcd")
OPTIONAL = ("helm",)  # built for the Helm chart's tests; these scenarios do not need it
SERVICE_CIDR = "10.0.0.0/24"
# the controllers the scenarios need; no nodelifecycle, so nothing taints the kubelet-less nodes
CONTROLLERS = (
    "statefulset,replicaset,deployment,daemonset,job,namespace,serviceaccount-token,serviceaccount,"
    "endpointslice,garbagecollector,root-ca-certificate-publisher-controller"
)
HOW_TO_BUILD = "run `make control-plane` (or set KUBEBUILDER_ASSETS)"

T = TypeVar("T")


def cache_dir() -> Path:
    """Where ``make control-plane`` puts the binaries (the build script knows the versions)."""
    out = subprocess.run(["bash", str(BUILD_SCRIPT), "--dir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def find_binaries() -> dict[str, Path] | None:
    """Each binary from KUBEBUILDER_ASSETS if it is there, else from the build cache; None if any is missing."""
    places = [Path(p) for p in (os.environ.get("KUBEBUILDER_ASSETS"), str(cache_dir())) if p]
    found: dict[str, Path] = {}
    for name in (*BINARIES, *OPTIONAL):
        for place in places:
            if os.access(place / name, os.X_OK):
                found[name] = place / name
                break
        else:
            if name not in OPTIONAL:
                return None
    return found


def versions(binaries: Mapping[str, Path]) -> dict[str, str]:
    """One line per binary, as each reports its own version."""
    commands = {
        "kube-apiserver": ["--version"],
        "kube-controller-manager": ["--version"],
        "kube-scheduler": ["--version"],
        "kubectl": ["version", "--client"],
        "etcd": ["--version"],
        "helm": ["version", "--short"],
    }
    out = {}
    for name, args in commands.items():
        if name not in binaries:
            out[name] = "not built"
            continue
        result = subprocess.run([str(binaries[name]), *args], capture_output=True, text=True, timeout=30)
        out[name] = " ".join((result.stdout or result.stderr).split("\n")[0].split())
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something other than None/False; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value is not None and value is not False:
                return value
        except Exception as error:  # retried until the deadline, then reported
            last = error
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout}s waiting for {what}" + (f": {last}" if last else "")
            )
        time.sleep(interval)


# --- certificates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def _name(common: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


class Pki:
    """A throw-away CA and the certificates the components need, all ECDSA P-256."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self._ca = (
            x509.CertificateBuilder()
            .subject_name(_name("placement-webhook-e2e-ca"))
            .issuer_name(_name("placement-webhook-e2e-ca"))
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca = directory / "ca.crt"
        self.ca.write_bytes(self._ca.public_bytes(serialization.Encoding.PEM))
        _write_key(self._ca_key, directory / "ca.key")
        self.ca_key = directory / "ca.key"

    def issue(
        self,
        name: str,
        common: str,
        *,
        org: str | None = None,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
    ) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH if dns or ips else ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common, org))
            .issuer_name(self._ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        if dns or ips:
            sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
            sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._ca_key, hashes.SHA256())
        pair = KeyPair(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, pair.key)
        return pair

    def signing_key(self, name: str) -> tuple[Path, Path]:
        """The service-account token signing key and its public half."""
        key = ec.generate_private_key(ec.SECP256R1())
        private, public = self.dir / f"{name}.key", self.dir / f"{name}.pub"
        _write_key(key, private)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return private, public


def write_kubeconfig(
    path: Path, server: str, ca: Path, *, client: KeyPair | None = None, token: str | None = None
) -> Path:
    user: dict[str, str] = {}
    if client is not None:
        user = {"client-certificate": str(client.cert), "client-key": str(client.key)}
    if token is not None:
        user = {"token": token}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "user"}}],
        "current-context": "e2e",
    }
    path.write_text(json.dumps(config, indent=1))
    path.chmod(0o600)
    return path


# --- processes ----------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """No orphans even when pytest itself is killed: the kernel sends SIGKILL when it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 10) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout)


def spawn(name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> Process:
    with log.open("ab") as out:
        popen = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as a whole
            preexec_fn=_die_with_parent,
            env={**os.environ, **(env or {})},
        )
    return Process(name, popen, log)


# --- the API -------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, code: int, body: Any) -> None:
        self.code, self.body = code, body
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{code}: {message}")


class Api:
    """Plain REST calls as one identity (admin by default), JSON in and out."""

    def __init__(
        self, server: str, ca: Path, client: KeyPair | None = None, token: str | None = None
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        context = ssl.create_default_context(cafile=str(ca))
        if client:
            context.load_cert_chain(client.cert, client.key)
        self.http = httpx.Client(base_url=server, verify=context, headers=headers, timeout=30)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        **params: Any,
    ) -> Any:
        response = self.http.request(
            method,
            path,
            content=None if body is None else json.dumps(body),
            headers={"Content-Type": content_type},
            params={k.replace("_", ""): v for k, v in params.items()},
        )
        try:
            data = response.json()
        except ValueError:
            data = response.text
        if response.status_code >= 400:
            raise ApiError(response.status_code, data)
        return data

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, **params)

    def maybe(self, path: str) -> Any | None:
        try:
            return self.get(path)
        except ApiError as error:
            if error.code == 404:
                return None
            raise

    def create(self, path: str, body: Any, **params: Any) -> Any:
        return self.request("POST", path, body, **params)

    def merge(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def delete(self, path: str, **params: Any) -> Any | None:
        try:
            return self.request("DELETE", path, **params)
        except ApiError as error:
            if error.code == 404:
                return None
            raise

    def items(self, path: str, **params: Any) -> list[dict[str, Any]]:
        return list(self.get(path, **params)["items"])

    def close(self) -> None:
        self.http.close()


# --- the control plane --------------------------------------------------------------------------


@dataclass
class ControlPlane:
    binaries: Mapping[str, Path]
    run_dir: Path
    processes: list[Process] = field(default_factory=list)
    api_port: int = 0
    #: more kube-apiserver flags (a scenario's own control plane)
    apiserver_flags: Sequence[str] = ()

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        self.pki = Pki(self.run_dir / "pki")
        self.logs = self.run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._etcd()
        self._apiserver()
        self.admin = self.pki.issue("admin", "e2e-admin", org="system:masters")
        self.admin_kubeconfig = write_kubeconfig(
            self.run_dir / "admin.kubeconfig", self.server, self.pki.ca, client=self.admin
        )
        self.api = Api(self.server, self.pki.ca, self.admin)
        wait_for("kube-apiserver /readyz", lambda: self._ready(self.processes[-1], self._readyz), 90)
        self._controller_manager()
        self._scheduler()

    def _readyz(self) -> bool:
        return self.api.http.get("/readyz").status_code == 200

    def _ready(self, process: Process, check: Callable[[], bool]) -> bool:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited {process.popen.returncode}:\n{process.tail()}")
        try:
            return check()
        except httpx.HTTPError:
            return False

    def _etcd(self) -> None:
        client, peer = free_port(), free_port()
        data = Path(tempfile.mkdtemp(prefix="etcd-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        self._etcd_data = data
        self.etcd_url = f"http://127.0.0.1:{client}"
        process = self._spawn(
            "etcd",
            [
                str(self.binaries["etcd"]),
                f"--data-dir={data}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",  # a throw-away store in memory
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            return bool(httpx.get(f"{self.etcd_url}/health", timeout=2).json().get("health") == "true")

        wait_for("etcd /health", lambda: self._ready(process, healthy), 30)

    def _apiserver(self) -> None:
        self.api_port = free_port()
        serving = self.pki.issue(
            "apiserver",
            "kube-apiserver",
            dns=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
            # 10.0.0.1: the kubernetes Service, where Pods run from the image reach the API server
            ips=["127.0.0.1", "10.0.0.1"],
        )
        sa_key, sa_pub = self.pki.signing_key("sa")
        self.sa_key = sa_key
        self._spawn(
            "kube-apiserver",
            [
                str(self.binaries["kube-apiserver"]),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # the default/kubernetes Endpoints would need a non-loopback address; nothing here uses them
                "--endpoint-reconciler-type=none",
                f"--secure-port={self.api_port}",
                f"--etcd-servers={self.etcd_url}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={self.pki.ca}",
                "--authorization-mode=Node,RBAC",
                # on top of the defaults (PodSecurity is one of them since 1.25; named to be sure)
                "--enable-admission-plugins=NodeRestriction,PodSecurity",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                # a webhook Service is called at its endpoint's address, as with a real Pod network
                "--enable-aggregator-routing=true",
                "--allow-privileged=true",
                f"--cert-dir={self.run_dir / 'apiserver-certs'}",
                "--profiling=false",
                "--v=1",
                *self.apiserver_flags,
            ],
        )

    def _component_kubeconfig(self, name: str, user: str) -> Path:
        pair = self.pki.issue(name, user)
        return write_kubeconfig(self.run_dir / f"{name}.kubeconfig", self.server, self.pki.ca, client=pair)

    def _healthz(self, process: Process, port: int) -> None:
        def ok() -> bool:
            # its self-signed serving certificate: nothing to verify it with, and only /healthz is read
            return httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=2).status_code == 200

        wait_for(f"{process.name} /healthz", lambda: self._ready(process, ok), 60)

    def _controller_manager(self) -> None:
        self._component(
            "kube-controller-manager",
            "system:kube-controller-manager",
            [
                f"--controllers={CONTROLLERS}",
                f"--service-account-private-key-file={self.sa_key}",
                f"--root-ca-file={self.pki.ca}",
                "--use-service-account-credentials=true",  # each controller with its own RBAC, as kubeadm
                # no cloud, no kubelets: react quickly
                "--concurrent-statefulset-syncs=5",
            ],
            cert_dir="kcm-certs",
        )

    def _scheduler(self) -> None:
        self._component("kube-scheduler", "system:kube-scheduler", [], cert_dir="scheduler-certs")

    def _component(self, name: str, user: str, flags: list[str], *, cert_dir: str) -> None:
        """A control-plane client (controller manager, scheduler) with its own kubeconfig and /healthz."""
        kubeconfig = self._component_kubeconfig(name, user)
        port = free_port()
        process = self._spawn(
            name,
            [
                str(self.binaries[name]),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                *flags,
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.run_dir / cert_dir}",
                "--v=1",
            ],
        )
        self._healthz(process, port)

    def _spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Process:
        process = spawn(name, argv, self.logs / f"{name}.log", env)
        self.processes.append(process)
        return process

    def check_alive(self) -> None:
        for process in self.processes:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited {process.popen.returncode}:\n{process.tail()}")

    def stop(self) -> None:
        # the reverse order: clients first, etcd last
        for process in reversed(self.processes):
            process.stop()
        if hasattr(self, "api"):
            self.api.close()
        if hasattr(self, "_etcd_data"):
            shutil.rmtree(self._etcd_data, ignore_errors=True)

    # --- kubectl ---------------------------------------------------------------------------------

    def kubectl(
        self, *args: str, kubeconfig: Path | None = None, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binaries["kubectl"]), f"--kubeconfig={kubeconfig or self.admin_kubeconfig}", *args],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result


@contextlib.contextmanager
def control_plane(
    binaries: Mapping[str, Path], run_dir: Path, *, apiserver_flags: Sequence[str] = ()
) -> Iterator[ControlPlane]:
    plane = ControlPlane(binaries, run_dir, apiserver_flags=apiserver_flags)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()
