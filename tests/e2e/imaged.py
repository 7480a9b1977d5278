"""The chart installed in a control plane of its own and every one of its Pods run from the image.

A second control plane (the session's runs the source tree's ``serve`` for the other scenarios):
the chart rendered by the real helm with the scenario's values and applied server-side; the
bootstrap Job's Pod and the Deployment's Pods run by ``tests/e2e/kubelet.py`` from ``make image``'s
image, each in a network namespace of its own, reaching the API server at the ``kubernetes``
Service's address (10.0.0.1, a relay) with the token the API server mounts; the API server calls
the webhook through the Service's EndpointSlice, as with a Pod network.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy import chart
from tests.e2e import image, kube, netns
from tests.e2e.controlplane import ControlPlane, control_plane, wait_for
from tests.e2e.kubelet import Kubelet, running
from tests.e2e.relay import Relay

NS = "placement-webhook"
SERVICE_HOST = f"placement-webhook.{NS}.svc"
SELECTOR = "app.kubernetes.io/name=placement-webhook"
SERVER_SELECTOR = f"{SELECTOR},app.kubernetes.io/component=server"
KUBERNETES_SERVICE = "10.0.0.1"  # the first address of the e2e SERVICE_CIDR


@dataclass
class ImagedCluster:
    plane: ControlPlane
    kubelet: Kubelet
    objects: list[dict[str, Any]]

    @property
    def api(self) -> Any:
        return self.plane.api

    def deployment(self) -> dict[str, Any]:
        return dict(self.api.get(f"/apis/apps/v1/namespaces/{NS}/deployments/placement-webhook"))

    def server_pods(self) -> list[dict[str, Any]]:
        return kube.pods(self.api, NS, SERVER_SELECTOR)

    def ready_pods(self) -> list[dict[str, Any]]:
        return [p for p in self.server_pods() if _ready(p) and not p["metadata"].get("deletionTimestamp")]

    def ca(self) -> ssl.SSLContext:
        import base64

        secret = self.api.get(f"/api/v1/namespaces/{NS}/secrets/placement-webhook-tls")
        return ssl.create_default_context(cadata=base64.b64decode(secret["data"]["ca.crt"]).decode())

    def get(self, pod: dict[str, Any], path: str) -> httpx.Response:
        """GET from one replica, verifying the Service's name as the API server does."""
        port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
        with httpx.Client(verify=self.ca(), timeout=5) as client:
            url = f"https://{pod['status']['podIP']}:{port}{path}"
            return client.get(url, extensions={"sni_hostname": SERVICE_HOST})

    def metric(self, pod: dict[str, Any], name: str) -> float:
        total = 0.0
        for line in self.get(pod, "/metrics").text.splitlines():
            if line.startswith((name + "{", name + " ")):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_available(self, replicas: int, timeout: float = 120) -> None:
        def available() -> bool:
            status = self.deployment().get("status", {})
            return bool(
                status.get("availableReplicas") == replicas
                and status.get("updatedReplicas") == replicas
                and status.get("replicas") == replicas
                and len(self.ready_pods()) == replicas
            )

        wait_for(f"{replicas} available replicas from the image", available, timeout)


def require_image() -> None:
    """Skip (or, with PLACEMENT_WEBHOOK_REQUIRE_E2E=1 as in CI, fail) without a current image."""
    problem = image.unavailable() or (
        None if image.image_exists(image.IMAGE) else "no image: run `make image`"
    )
    if (
        problem is None
        and (image.image_config().get("Labels") or {}).get(image.INPUTS_LABEL) != image.inputs_digest()
    ):
        problem = "the image is older than the source tree: run `make image`"
    if problem:
        if os.environ.get("PLACEMENT_WEBHOOK_REQUIRE_E2E") == "1":
            pytest.fail(f"PLACEMENT_WEBHOOK_REQUIRE_E2E=1 but {problem}", pytrace=False)
        pytest.skip(problem)


def failures_since(request: pytest.FixtureRequest) -> Callable[[], bool]:
    """Whether a test has failed since the fixture started (then its logs are kept)."""
    before = request.session.testsfailed
    return lambda: request.session.testsfailed > before


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart as ``helm template`` renders it for this release, with the image the build made."""
    repository, tag = image.IMAGE.rsplit(":", 1)
    return chart.template({"image": {"repository": repository, "tag": tag}, **values})


@contextlib.contextmanager
def imaged_cluster(
    binaries: dict[str, Path],
    values: dict[str, Any],
    *,
    before: Sequence[Path] = (),
    after_apply: Callable[[ControlPlane, list[dict[str, Any]]], None] | None = None,
    keep_logs: Callable[[], bool] = lambda: False,
) -> Iterator[ImagedCluster]:
    """``before``: manifests applied before the chart (CRDs); ``after_apply``: what runs once the
    chart is applied and before its Pods are waited for (e.g. writing the Secret cert-manager would).
    The run directory (component and container logs) is removed at the end unless ``keep_logs()``."""
    run_dir = Path(tempfile.mkdtemp(prefix="placement-webhook-imaged-"))
    try:
        with _imaged(binaries, values, run_dir, before, after_apply) as cluster:
            yield cluster
    except BaseException:
        print(f"\ne2e: logs of the imaged cluster kept in {run_dir}/logs", file=sys.stderr)
        raise
    if keep_logs():
        print(f"\ne2e: logs of the imaged cluster kept in {run_dir}/logs", file=sys.stderr)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)


@contextlib.contextmanager
def _imaged(
    binaries: dict[str, Path],
    values: dict[str, Any],
    run_dir: Path,
    before: Sequence[Path],
    after_apply: Callable[[ControlPlane, list[dict[str, Any]]], None] | None,
) -> Iterator[ImagedCluster]:
    tag = str(os.getpid())
    with control_plane(binaries, run_dir) as plane, netns.service_address(KUBERNETES_SERVICE):
        relay = Relay(KUBERNETES_SERVICE, ("127.0.0.1", plane.api_port))
        try:
            for index, node in enumerate(kube.node_objects()):
                kube.create_node(plane.api, node, index)
            kube.create_namespace(plane.api, NS, {"pod-security.kubernetes.io/enforce": "restricted"})
            for path in before:
                plane.kubectl("apply", "--server-side", "-f", str(path))
            for path in before:  # CRDs: established before objects of their kinds are applied
                plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(path))
            objects = render(values)
            manifest = run_dir / "chart.yaml"
            manifest.write_text(yaml.safe_dump_all(objects))
            plane.kubectl("apply", "--server-side", "-f", str(manifest))
            if after_apply is not None:
                after_apply(plane, objects)
            with running(plane, NS, SELECTOR, relay.address, tag) as kubelet:
                cluster = ImagedCluster(plane, kubelet, objects)
                try:
                    cluster.wait_available(int(values.get("replicas", 2)))
                except TimeoutError as error:
                    logs = "\n".join(
                        f"{p.name}: {p.read_text()[-600:]}"
                        for p in plane.logs.glob("placement-webhook-*.log")
                    )
                    raise RuntimeError(f"{error}\nkubelet: {kubelet.errors[-5:]}\n{logs}") from None
                yield cluster
        finally:
            relay.close()
