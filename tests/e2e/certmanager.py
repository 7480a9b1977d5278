"""cert-manager's CRDs from its pinned Go module, and cert-manager's part played by the test.

The CustomResourceDefinitions are the release's own (``deploy/crds`` in the module
``github.com/cert-manager/cert-manager``, pinned in ``e2e/cert-manager/go.mod`` and fetched through
the Go module proxy, checked against go.sum). The controllers are not run: ``issue`` does what the
cert-manager controller would do for the chart's objects (a CA for the ``isCA`` Certificate, the
serving certificate it signs for the Certificate's ``dnsNames``, written to the Secrets they name
with ``tls.crt``, ``tls.key`` and ``ca.crt``), and ``inject_ca`` what cainjector does for a
webhook configuration annotated ``cert-manager.io/inject-ca-from: NAMESPACE/CERTIFICATE``.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.controlplane import ControlPlane
from tests.e2e.kube import ROOT
from webhook.cluster.certs import KeyPair, build_ca, build_serving_certificate

MODULE_DIR = ROOT / "e2e" / "cert-manager"
INJECT = "cert-manager.io/inject-ca-from"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def crd_files() -> list[Path]:
    """The release's CRD manifests, from the Go module cache (downloaded once if missing)."""
    found = subprocess.run(
        ["go", "mod", "download", "-json", "github.com/cert-manager/cert-manager"],
        cwd=MODULE_DIR, capture_output=True, text=True, check=True,
    )  # fmt: skip
    directory = Path(json.loads(found.stdout)["Dir"]) / "deploy" / "crds"
    return sorted(directory.glob("*.yaml"))


def _secret(namespace: str, name: str, pair: KeyPair, ca: KeyPair) -> dict[str, Any]:
    data = {"tls.crt": pair.cert_pem, "tls.key": pair.key_pem, "ca.crt": ca.cert_pem}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"cert-manager.io/issuer-kind": "Issuer"},
        },
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def issue(plane: ControlPlane, objects: list[dict[str, Any]]) -> KeyPair:
    """The Secrets of the chart's Certificates, as cert-manager would write them; returns the CA."""
    certificates = [o for o in objects if o["kind"] == "Certificate"]
    ca_cert = next(c for c in certificates if c["spec"].get("isCA"))
    serving = next(c for c in certificates if not c["spec"].get("isCA"))
    namespace = ca_cert["metadata"]["namespace"]
    ca = build_ca(common_name=ca_cert["spec"]["commonName"])
    leaf = build_serving_certificate(ca, list(serving["spec"]["dnsNames"]))
    for certificate, pair in ((ca_cert, ca), (serving, leaf)):
        plane.api.create(
            f"/api/v1/namespaces/{namespace}/secrets",
            _secret(namespace, certificate["spec"]["secretName"], pair, ca),
        )
    return ca


def inject_ca(plane: ControlPlane) -> list[str]:
    """cainjector: every webhook configuration with the annotation gets the named Certificate's
    Secret's ``ca.crt`` as the caBundle of each of its webhooks. Returns what it patched."""
    patched = []
    for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        for configuration in plane.api.items(f"{ADMISSION}/{kind}"):
            source = (configuration["metadata"].get("annotations") or {}).get(INJECT)
            if not source:
                continue
            namespace, name = source.split("/", 1)
            certificate = plane.api.get(
                f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates/{name}"
            )
            secret = plane.api.get(
                f"/api/v1/namespaces/{namespace}/secrets/{certificate['spec']['secretName']}"
            )
            bundle = secret["data"]["ca.crt"]
            hooks = [
                {"name": h["name"], "clientConfig": {"caBundle": bundle}} for h in configuration["webhooks"]
            ]
            plane.api.request(
                "PATCH", f"{ADMISSION}/{kind}/{configuration['metadata']['name']}", {"webhooks": hooks},
                content_type="application/strategic-merge-patch+json",
            )  # fmt: skip
            patched.append(f"{kind}/{configuration['metadata']['name']}")
    return patched
