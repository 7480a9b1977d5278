"""The chart's cert-manager mode, read by a real API server, then served with what cert-manager writes.

cert-manager's own CRDs (its pinned release) are installed; the chart in ``certManager`` mode is
applied and the API server must accept its Issuers and Certificates as they are (the CRDs' schemas
validate them). cert-manager's controllers are not run: the test writes the Secrets the
Certificates name and injects the CA into the webhook configurations as cainjector would
(``tests/e2e/certmanager.py``); the replicas then serve from the image with that certificate, and
the API server places a Pod through them, verifying the chain to the injected CA.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import certmanager
from tests.e2e.conftest import probe_pod
from tests.e2e.controlplane import ApiError, ControlPlane, wait_for
from tests.e2e.imaged import NS, ImagedCluster, failures_since, imaged_cluster, require_image
from tests.e2e.kube import create_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PLACED = "e2e-cert-manager-placed"


INJECTED: list[str] = []  # what the stand-in for cainjector patched


def _play_cert_manager(plane: ControlPlane, objects: list[dict[str, Any]]) -> None:
    certmanager.issue(plane, objects)
    INJECTED[:] = certmanager.inject_ca(plane)


@pytest.fixture(scope="module")
def managed(binaries: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[ImagedCluster]:
    require_image()
    values = {"certificates": {"mode": "certManager"}}
    with imaged_cluster(
        binaries,
        values,
        before=certmanager.crd_files(),
        after_apply=_play_cert_manager,
        keep_logs=failures_since(request),
    ) as cluster:
        create_namespace(cluster.api, PLACED)
        yield cluster


def test_the_api_server_accepts_the_charts_issuers_and_certificates(managed: ImagedCluster) -> None:
    for kind, plural in (("Issuer", "issuers"), ("Certificate", "certificates")):
        rendered = [o for o in managed.objects if o["kind"] == kind]
        assert len(rendered) == 2, kind
        for obj in rendered:
            stored = managed.api.get(
                f"/apis/cert-manager.io/v1/namespaces/{NS}/{plural}/{obj['metadata']['name']}"
            )
            assert stored["spec"] == obj["spec"], f"the API server changed {kind} {obj['metadata']['name']}"


def test_an_invalid_certificate_is_refused_by_the_crd_schema(managed: ImagedCluster) -> None:
    """The schemas are enforced (so the previous test's acceptance means something)."""
    serving = next(o for o in managed.objects if o["kind"] == "Certificate" and not o["spec"].get("isCA"))
    broken = {
        **serving,
        "metadata": {"name": "broken", "namespace": NS},
        "spec": {**serving["spec"], "privateKey": {"algorithm": "DSA"}},
    }
    with pytest.raises(ApiError) as refused:
        managed.api.create(f"/apis/cert-manager.io/v1/namespaces/{NS}/certificates", broken)
    assert refused.value.code == 422 and "spec.privateKey.algorithm" in str(refused.value.body), (
        refused.value.body
    )


def test_the_webhook_serves_with_what_cert_manager_wrote(managed: ImagedCluster) -> None:
    assert sorted(INJECTED) == [
        "mutatingwebhookconfigurations/placement-webhook",
        "validatingwebhookconfigurations/placement-webhook",
    ]

    def placed() -> dict[str, Any] | None:
        pod = managed.api.create(f"/api/v1/namespaces/{PLACED}/pods", probe_pod(), dryRun="All")
        return pod if "placement-webhook.io/policy" in (pod["metadata"].get("annotations") or {}) else None

    pod = wait_for("the API server to call the webhook with the injected CA", placed, 30)
    assert any(t.get("key") == "seldon-gpu-srv" for t in pod["spec"]["tolerations"])
    for replica in managed.ready_pods():
        assert managed.get(replica, "/readyz").status_code == 200  # verified with the Secret's ca.crt
