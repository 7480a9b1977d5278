"""The Helm chart in the real control plane, beside the kustomize install (other names, namespace,
port): install into a non-default namespace, place server Pods through it, renew its certificate
with the CronJob's command, upgrade with changed policies, uninstall. One test: each step needs the
one before it."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import chart
from tests.e2e import install
from tests.e2e.conftest import Cluster, probe_pod
from tests.e2e.controlplane import wait_for
from tests.e2e.kube import create_namespace, wait_scheduled

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

RELEASE, NS = "gpu", "e2e-helm-system"
NAME = f"{RELEASE}-placement-webhook"  # the chart's full name for this release
PORT = 9443  # the kustomize install's server listens on 8443 at the same address
PLACED = "e2e-helm-placed"
MWCS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
UPGRADED_POLICIES = """\
version: 1
policies:
- name: helm-upgraded
  match: {servers: ["*"], resources: [nvidia.com/gpu]}
  placement:
    tolerations:
    - {key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}
    nodeAffinity:
      required:
      - {key: pool, operator: In, values: [infer-srv]}
"""


def helm(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return chart.helm(*args, "--kubeconfig", str(cluster.plane.admin_kubeconfig))


def certs_command(cluster: Cluster, container: dict[str, Any], *extra: str) -> None:
    """The Job's (or CronJob's) container as its ServiceAccount would run it."""
    assert container["command"] == ["placement-webhook"]
    kubeconfig = install.service_account_kubeconfig(cluster.plane, f"{NAME}-certs", NS)
    result = install.cli(*container["args"], *extra, "--kubeconfig", str(kubeconfig))
    assert result.returncode == 0, result.stderr


def job_container(cluster: Cluster, name: str) -> dict[str, Any]:
    job = cluster.api.get(f"/apis/batch/v1/namespaces/{NS}/jobs/{name}")
    return dict(job["spec"]["template"]["spec"]["containers"][0])


def read_secret(cluster: Cluster, directory: Path) -> None:
    """What kubelet does for the mounted Secret: the files swapped in place."""
    secret = cluster.api.get(f"/api/v1/namespaces/{NS}/secrets/{NAME}-tls")
    directory.mkdir(parents=True, exist_ok=True)
    for key in ("tls.crt", "tls.key", "ca.crt"):
        tmp = directory / f".{key}.tmp"
        tmp.write_bytes(base64.b64decode(secret["data"][key]))
        tmp.chmod(0o600)
        tmp.replace(directory / key)


def config_map_policies(cluster: Cluster) -> str:
    return str(
        cluster.api.get(f"/api/v1/namespaces/{NS}/configmaps/{NAME}-policies")["data"]["policies.yaml"]
    )


def admitted_by(webhook: install.Webhook, namespace: str, pod: str) -> list[str | None]:
    return [
        c["policy"] for c in webhook.settled_admissions() if (c["namespace"], c["pod"]) == (namespace, pod)
    ]


def test_helm_install_place_renew_upgrade_uninstall(cluster: Cluster) -> None:
    plane, api = cluster.plane, cluster.api
    values = {"port": PORT, "replicas": 1}
    values_file = plane.run_dir / "helm-values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    helm(
        cluster, "install", RELEASE, str(chart.CHART), "-n", NS, "--create-namespace", "-f", str(values_file)
    )
    hook = api.get(f"{MWCS}/{NAME}")["webhooks"][0]
    assert hook["clientConfig"]["service"]["namespace"] == NS
    assert hook["namespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system", NS]

    # the bootstrap Job's command, but a 10-day certificate, so the renewal below has work to do
    container = job_container(cluster, f"{NAME}-certs")
    assert f"--namespace={NS}" in container["args"] and f"--service={NAME}" in container["args"]
    certs_command(cluster, container, "--days=10")
    assert api.get(f"{MWCS}/{NAME}")["webhooks"][0]["clientConfig"].get("caBundle")
    cert_dir, policies = plane.run_dir / "helm-certs", plane.run_dir / "helm-policies" / "policies.yaml"
    read_secret(cluster, cert_dir)
    policies.parent.mkdir()
    policies.write_text(config_map_policies(cluster))

    webhook = install.Webhook(
        plane, cluster.webhook.netns, cert_dir, policies,
        port=PORT, service_host=f"{NAME}.{NS}.svc", log_name="webhook-helm",
    )  # fmt: skip
    webhook.start()
    try:
        install.publish_endpoint(plane, webhook.netns.inside, NS, NAME)
        create_namespace(api, PLACED)

        counter = iter(range(1000))

        def placed_by_helm(prefix: str, policy: str) -> str | None:
            """A new server Pod's name once the release's server decided on it with ``policy``."""
            name = f"{prefix}-{next(counter)}"
            api.create(f"/api/v1/namespaces/{PLACED}/pods", probe_pod(name))
            return name if policy in admitted_by(webhook, PLACED, name) else None

        # the API server's configuration informer lags the install a little
        name = wait_for(
            "the release's webhook to be called", lambda: placed_by_helm("first", "gpu-servers"), 30, 0.3
        )
        pod = api.get(f"/api/v1/namespaces/{PLACED}/pods/{name}")
        toleration = {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
        assert toleration in pod["spec"]["tolerations"]
        assert wait_scheduled(api, PLACED, name)["spec"].get("nodeName")

        # renewal: the CronJob's command run once by hand renews the 10-day certificate, and the
        # server reloads it in place (it keeps answering, now with the new one)
        expiry = webhook.metric("placement_webhook_certificate_expiry_timestamp_seconds")
        cron = api.get(f"/apis/batch/v1/namespaces/{NS}/cronjobs/{NAME}-certs-renew")
        certs_command(cluster, cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0])
        read_secret(cluster, cert_dir)
        renewed = wait_for(
            "the server to load the renewed certificate",
            lambda: (
                webhook.metric("placement_webhook_certificate_expiry_timestamp_seconds")
                > expiry + 300 * 86400
                or None
            ),
            30,
        )
        assert renewed and webhook.get("/readyz").status_code == 200

        # upgrade with changed policies: the ConfigMap changes, the server reloads the mounted file
        upgraded = plane.run_dir / "helm-upgraded-policies.yaml"
        upgraded.write_text(UPGRADED_POLICIES)
        helm(
            cluster,
            "upgrade",
            RELEASE,
            str(chart.CHART),
            "-n",
            NS,
            "-f",
            str(values_file),
            "--set-file",
            f"policies={upgraded}",
        )
        assert config_map_policies(cluster) == UPGRADED_POLICIES
        assert api.maybe(f"/apis/batch/v1/namespaces/{NS}/jobs/{NAME}-certs") is None
        certs_command(cluster, job_container(cluster, f"{NAME}-certs-2"))  # the upgrade's new Job
        # troubleshooting finds it by label whatever the revision (kubectl logs -l ...)
        selector = f"app.kubernetes.io/component=certs,app.kubernetes.io/instance={RELEASE}"
        jobs = api.items(f"/apis/batch/v1/namespaces/{NS}/jobs", labelSelector=selector)
        assert [j["metadata"]["name"] for j in jobs] == [f"{NAME}-certs-2"]
        webhook.set_policies(config_map_policies(cluster))
        wait_for("the upgraded policies", lambda: placed_by_helm("second", "helm-upgraded"), 30, 0.3)
    finally:
        webhook.stop()

    helm(cluster, "uninstall", RELEASE, "-n", NS)
    assert NAME not in [h["metadata"]["name"] for h in api.items(MWCS)]
    assert api.maybe(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{NAME}-certs") is None
    # server Pods can still be created (through the kustomize install only, which still answers)
    after = iter(range(1000))
    wait_for(
        "the release's webhook to leave the API server",
        lambda: api.create(f"/api/v1/namespaces/{PLACED}/pods", probe_pod(f"after-{next(after)}")),
        20,
        0.3,
    )
