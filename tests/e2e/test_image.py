"""The chart's Pods run from ``make image``'s image, as the chart's container spec says.

The Job writes the certificate with the image's ``placement-webhook certs --install`` as its
ServiceAccount; three server replicas serve behind the Service as user 65532 with a read-only
root, the Secret and the ConfigMap mounted where the chart mounts them, and reload both when the
kubelet swaps their files. A spec the image cannot run (a path, a user, a flag) never gets ready.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import image
from tests.e2e.conftest import probe_pod
from tests.e2e.controlplane import wait_for
from tests.e2e.imaged import NS, ImagedCluster, failures_since, imaged_cluster, require_image
from tests.e2e.kube import create_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

REPLICAS = 3
PLACED = "e2e-image-placed"


@pytest.fixture(scope="module")
def imaged(binaries: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[ImagedCluster]:
    require_image()
    with imaged_cluster(binaries, {"replicas": REPLICAS}, keep_logs=failures_since(request)) as cluster:
        create_namespace(cluster.api, PLACED)
        yield cluster


def _process_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _root_mount_options(pid: int) -> list[str]:
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            return fields[5].split(",")
    raise AssertionError(f"no root mount for {pid}")


def test_every_replica_runs_the_image_as_the_chart_says(imaged: ImagedCluster) -> None:
    deployment = next(o for o in imaged.objects if o["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    config = image.image_config()
    assert config["User"].split(":")[0] == str(spec["securityContext"]["runAsUser"]), "the image's USER"
    pods = imaged.ready_pods()
    assert len(pods) == REPLICAS
    assert len({p["status"]["podIP"] for p in pods}) == REPLICAS
    for container in imaged.kubelet.containers.values():
        if container.spec["name"] != "webhook":
            continue
        assert container.process is not None and container.process.alive()
        status = _process_status(container.process.popen.pid)
        assert status["Uid"].split()[:2] == ["65532", "65532"], status["Uid"]
        assert status["Gid"].split()[:2] == ["65532", "65532"], status["Gid"]
        assert status["CapEff"] == "0000000000000000" and status["NoNewPrivs"] == "1"
        assert "ro" in _root_mount_options(container.process.popen.pid)
    for pod in pods:
        assert imaged.get(pod, "/readyz").status_code == 200
    job = imaged.api.get(f"/apis/batch/v1/namespaces/{NS}/jobs/placement-webhook-certs")
    assert job["status"].get("succeeded") == 1


def test_a_server_pod_is_placed_through_the_service(imaged: ImagedCluster) -> None:
    def placed() -> dict[str, Any] | None:
        pod = imaged.api.create(f"/api/v1/namespaces/{PLACED}/pods", probe_pod(), dryRun="All")
        return pod if "placement-webhook.io/policy" in (pod["metadata"].get("annotations") or {}) else None

    pod = wait_for("the API server to call the webhook", placed, 30)
    assert any(t.get("key") == "seldon-gpu-srv" for t in pod["spec"]["tolerations"])


def test_a_changed_configmap_reaches_every_replica_through_the_volume_swap(imaged: ImagedCluster) -> None:
    config_map = imaged.api.get(f"/api/v1/namespaces/{NS}/configmaps/placement-webhook-policies")
    policies = yaml.safe_load(config_map["data"]["policies.yaml"])
    changed = copy.deepcopy(policies)
    for policy in changed["policies"]:
        policy["name"] = f"swapped-{policy['name']}"
    pods = imaged.ready_pods()
    before = {p["metadata"]["name"]: imaged.metric(p, "placement_webhook_policy_generation") for p in pods}
    imaged.api.merge(
        f"/api/v1/namespaces/{NS}/configmaps/placement-webhook-policies",
        {"data": {"policies.yaml": yaml.safe_dump(changed, sort_keys=False)}},
    )
    try:

        def reloaded() -> bool:
            return all(
                imaged.metric(p, "placement_webhook_policy_generation") > before[p["metadata"]["name"]]
                for p in pods
            )

        wait_for("every replica to load the new policy file", reloaded, 30)
        for _ in range(2 * REPLICAS):  # several creates: each may reach another replica
            pod = imaged.api.create(f"/api/v1/namespaces/{PLACED}/pods", probe_pod(), dryRun="All")
            assert pod["metadata"]["annotations"]["placement-webhook.io/policy"] == "swapped-gpu-servers"
    finally:
        imaged.api.merge(
            f"/api/v1/namespaces/{NS}/configmaps/placement-webhook-policies",
            {"data": {"policies.yaml": config_map["data"]["policies.yaml"]}},
        )


def _mismatched(imaged: ImagedCluster, name: str, change: Any) -> dict[str, Any]:
    """The chart's Deployment under another name (outside the Service), with one change."""
    deployment = copy.deepcopy(next(o for o in imaged.objects if o["kind"] == "Deployment"))
    deployment["metadata"] = {"name": name, "namespace": NS}
    labels = {"app.kubernetes.io/name": "placement-webhook", "app.kubernetes.io/component": name}
    deployment["spec"]["selector"] = {"matchLabels": labels}
    deployment["spec"]["template"]["metadata"]["labels"] = labels
    deployment["spec"]["replicas"] = 1
    deployment["spec"]["template"]["spec"].pop("topologySpreadConstraints", None)
    change(deployment["spec"]["template"]["spec"])
    return deployment


def _moved_policies(spec: dict[str, Any]) -> None:
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "policies")
    mount["mountPath"] = "/etc/policies"


def _unknown_flag(spec: dict[str, Any]) -> None:
    spec["containers"][0]["args"] = ["--reload-every=2"]


def _without_fs_group(spec: dict[str, Any]) -> None:
    """The Secret's files are 0440: only the fsGroup lets user 65532 read them."""
    del spec["securityContext"]["fsGroup"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (_moved_policies, "/etc/placement-webhook/policies/policies.yaml"),
        (_unknown_flag, "--reload-every"),
        (_without_fs_group, "ermission denied"),
    ],
    ids=["a-path", "a-flag", "a-group"],
)
def test_a_container_spec_the_image_cannot_run_never_gets_ready(
    imaged: ImagedCluster, change: Any, why: str
) -> None:
    name = f"mismatch-{change.__name__.strip('_').replace('_', '-')}"
    deployment = _mismatched(imaged, name, change)
    imaged.api.create(f"/apis/apps/v1/namespaces/{NS}/deployments", deployment)
    try:

        def explained() -> str | None:
            logs = "".join(p.read_text(errors="replace") for p in imaged.plane.logs.glob(f"{name}-*.log"))
            said = logs + "\n".join(imaged.kubelet.errors)
            return said if why in said else None

        said = wait_for(f"{name} to fail, naming {why}", explained, 30)
        pods = imaged.api.items(
            f"/api/v1/namespaces/{NS}/pods", labelSelector=f"app.kubernetes.io/component={name}"
        )
        assert pods and not any(
            c["type"] == "Ready" and c["status"] == "True"
            for p in pods
            for c in p.get("status", {}).get("conditions", [])
        ), said[-2000:]
    finally:
        imaged.api.delete(f"/apis/apps/v1/namespaces/{NS}/deployments/{name}")


def test_the_api_server_exports_the_webhook_metrics_the_dashboard_and_alerts_read(
    imaged: ImagedCluster,
) -> None:
    """tests/server/test_dashboard.py checks queries against a table of kube-apiserver's admission
    metrics; here the real API server, which has called our webhooks, exports them as the table says."""
    from prometheus_client.parser import text_string_to_metric_families

    from tests.server.test_dashboard import APISERVER_METRICS

    pod = imaged.api.create(f"/api/v1/namespaces/{PLACED}/pods", probe_pod(), dryRun="All")
    assert "placement-webhook.io/policy" in pod["metadata"]["annotations"]
    text = imaged.plane.api.http.get("/metrics").text
    seen: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            seen.setdefault(sample.name, set()).update(set(sample.labels) - {"le"})
    for metric, labels in APISERVER_METRICS.items():
        series = seen.get(metric) or seen.get(f"{metric}_bucket")
        if metric in (
            "apiserver_admission_webhook_admission_duration_seconds",
            "apiserver_admission_webhook_request_total",
        ):
            assert series, f"{metric}: no samples, though the API server has called the webhooks"
        if series:
            assert series == labels, (metric, series)
