"""Keeping the native guard's ValidatingAdmissionPolicies (compiled by ``webhook.native``) in step
with the policies the server serves.

The chart installs both policies (inert) and their bindings; the server only ever patches the two
policies, by name: server-side apply of their ``spec`` with the field manager ``placement-webhook``
and ``force`` (every replica applies the same spec for the same file, so applying is idempotent
and replicas never fight over fields; labels and annotations stay the installer's, so Helm keeps
owning the objects and removes them on uninstall). Its RBAC is ``get`` and ``patch`` on those two
names, nothing else: it can neither create an admission policy nor bind one.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubernetes import client

from webhook.cluster.client import ADMISSION, call_api
from webhook.errors import ClusterError
from webhook.kube.objects import RawObject

FIELD_MANAGER = "placement-webhook"
PLURALS = {
    "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
    "MutatingAdmissionPolicy": "mutatingadmissionpolicies",
}
APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML: the body is sent as JSON
MISSING_HINT = (
    "the chart installs it (guard.native.enabled, mode native or both); without the chart, apply"
    " `placement-webhook native-guard` (or `export`) once"
)


def apply_native_guard(api: client.ApiClient, policies: Sequence[RawObject]) -> list[str]:
    """Server-side apply the ``spec`` of each Validating- or MutatingAdmissionPolicy; what was done,
    one phrase each.
    A ClusterError names the first call that failed (the rest is tried again next time)."""
    done = []
    for policy in policies:
        name = policy["metadata"]["name"]
        body = {
            "apiVersion": policy["apiVersion"],
            "kind": policy["kind"],
            "metadata": {"name": name},
            "spec": policy["spec"],
        }
        what = f"apply {policy['kind'].lower()} {name}"
        try:
            call_api(
                api,
                what,
                "PATCH",
                f"{ADMISSION}/{PLURALS[policy['kind']]}/{{name}}",
                names={"name": name},
                query=[("fieldManager", FIELD_MANAGER), ("force", True)],
                body=body,
                content_type=APPLY_PATCH,
            )
        except ClusterError as exc:
            if " 404 " in f" {exc} " or "not found" in str(exc):
                raise ClusterError(f"{exc}: {MISSING_HINT}") from None
            raise
        done.append(f"applied {name}")
    return done
