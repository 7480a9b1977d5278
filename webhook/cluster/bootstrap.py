"""Certificate bootstrap behind the ``certs`` command: into a folder, or into the cluster.

Folder (``certs --out DIR``): ``ca.crt`` and ``ca.key`` are kept, so running again renews only the
serving pair ``tls.crt`` / ``tls.key`` and the ``caBundle`` the API server trusts stays the same.

Cluster (``certs --install``, the bootstrap Job of ``deploy/base``): the CA lives in an Opaque
Secret only the Job may read, the serving pair in the ``kubernetes.io/tls`` Secret the webhook Pods
mount, and the CA bundle is patched into every webhook of the MutatingWebhookConfiguration and of
the reservation guard's ValidatingWebhookConfiguration of the same name (when installed). A
still-valid Secret is reused, so the Job is idempotent. Order matters during a rotation: the CA
Secret, then ``caBundle`` (new CA plus the one the Pods still serve), then the serving Secret, so
the API server trusts a certificate before any Pod serves it.

Planning is pure (``plan_secrets``, ``ca_bundle_patch``); the I/O goes through ``webhook.cluster.client``.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webhook.cluster import client as cluster
from webhook.cluster.certs import (
    CA_FILE,
    CA_KEY_FILE,
    CERT_FILE,
    KEY_FILE,
    KeyPair,
    build_ca,
    build_serving_certificate,
    ca_problem,
    certificate_problem,
    load_key_pair,
    merge_ca_bundle,
    service_hostnames,
    write_atomically,
    write_private,
)
from webhook.errors import ClusterError, InputError, shown
from webhook.kube.objects import RawObject
from webhook.kube.selectors import dns_label_error

RENEW_BEFORE = dt.timedelta(days=30)
MANAGED_BY = {
    "app.kubernetes.io/name": "placement-webhook",
    "app.kubernetes.io/managed-by": "placement-webhook-certs",
}


@dataclass(frozen=True)
class CertsOptions:
    """What to issue: the Service the certificate is for and how long the certificates live."""

    service: str
    namespace: str
    days: int = 365
    ca_days: int = 3650
    new_ca: bool = False
    supplied_ca: KeyPair | None = None

    def __post_init__(self) -> None:
        for flag, value in (("--service", self.service), ("--namespace", self.namespace)):
            problem = dns_label_error(value)
            if problem:
                raise InputError(f"{flag} {shown(value)}: {problem}")

    @property
    def hostnames(self) -> list[str]:
        return service_hostnames(self.service, self.namespace)


def read_supplied_ca(cert_path: Path, key_path: Path, *, now: dt.datetime | None = None) -> KeyPair:
    """The CA given with ``--ca-cert``/``--ca-key``; InputError (one line) when unusable.

    Unusable: unreadable, the key not the certificate's, not a CA (``CA:FALSE``, no
    ``basicConstraints``, a ``keyUsage`` without ``keyCertSign``), or expiring within 30 days.
    """
    try:
        ca = load_key_pair(cert_path.read_bytes(), key_path.read_bytes(), what=f"CA {cert_path}")
    except OSError as exc:
        raise InputError(f"cannot read the CA: {exc}") from None
    except ValueError as exc:
        raise InputError(str(exc)) from None
    problem = ca_problem(ca)
    expires = ca.certificate.not_valid_after_utc
    if problem is None and expires - (now or dt.datetime.now(dt.UTC)) < RENEW_BEFORE:
        problem = f"expires {expires:%Y-%m-%d}, within {RENEW_BEFORE.days} days"
    if problem:
        raise InputError(f"CA {cert_path}: {problem}")
    return ca


def _usable_ca(ca: KeyPair, *, where: str, now: dt.datetime) -> str | None:
    """Why ``ca`` cannot sign a serving certificate worth having, or None."""
    problem = ca_problem(ca)
    if problem:
        return f"the CA in {where} is {problem}"
    if ca.certificate.not_valid_after_utc - now < RENEW_BEFORE:
        return f"the CA in {where} expires {ca.certificate.not_valid_after_utc:%Y-%m-%d}"
    return None


# --- folder -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    ca: KeyPair
    serving: KeyPair
    ca_created: bool


def _folder_ca(out: Path, options: CertsOptions, now: dt.datetime) -> tuple[KeyPair, bool]:
    if options.supplied_ca is not None:
        return options.supplied_ca, False
    cert_path, key_path = out / CA_FILE, out / CA_KEY_FILE
    if options.new_ca or not (cert_path.is_file() and key_path.is_file()):
        return build_ca(days=options.ca_days), True
    try:
        ca = load_key_pair(cert_path.read_bytes(), key_path.read_bytes(), what=f"CA in {out}")
    except ValueError as exc:
        raise InputError(f"{exc}; use --new-ca to replace it") from None
    problem = _usable_ca(ca, where=str(out), now=now)
    if problem:
        raise InputError(f"{problem}; use --new-ca to replace it")
    return ca, False


def issue_to_folder(out: Path, options: CertsOptions, *, now: dt.datetime | None = None) -> Issued:
    """Write a serving certificate (always new) and its CA (kept unless new or missing) into ``out``.

    A supplied CA's key is never copied into ``out``: only its certificate is.
    """
    now = now or dt.datetime.now(dt.UTC)
    try:
        out.mkdir(parents=True, exist_ok=True)
        ca, created = _folder_ca(out, options, now)
        serving = build_serving_certificate(ca, options.hostnames, days=options.days)
        write_atomically(out / CA_FILE, ca.cert_pem)
        if created:
            write_private(out / CA_KEY_FILE, ca.key_pem)
        write_atomically(out / CERT_FILE, serving.cert_pem)
        write_private(out / KEY_FILE, serving.key_pem)
    except OSError as exc:
        raise InputError(f"cannot write certificates: {exc}") from None
    return Issued(ca, serving, created)


def ca_bundle_base64(ca_pem: bytes) -> str:
    """The value of ``webhooks[].clientConfig.caBundle``: base64 of the PEM bundle."""
    return base64.b64encode(ca_pem).decode()


# --- cluster: pure planning -------------------------------------------------------------------------


def _secret_data(secret: RawObject | None, key: str) -> bytes:
    value = ((secret or {}).get("data") or {}).get(key)
    try:
        return base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except ValueError:
        return b""


def make_secret(name: str, *, namespace: str, secret_type: str, data: dict[str, bytes]) -> RawObject:
    """A Secret as the API takes it, values base64-encoded."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "type": secret_type,
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }


@dataclass(frozen=True)
class SecretPlan:
    """What ``--install`` writes: a Secret dict to save, or None to leave it; and the bundle."""

    ca: KeyPair
    ca_secret: RawObject | None
    tls_secret: RawObject | None
    ca_bundle: bytes
    reasons: list[str] = field(default_factory=list)


def _stored_ca(secret: RawObject | None, *, where: str, now: dt.datetime) -> tuple[KeyPair | None, str]:
    if secret is None:
        return None, f"no CA Secret {where}"
    try:
        ca = load_key_pair(_secret_data(secret, CA_FILE), _secret_data(secret, CA_KEY_FILE), what=where)
    except ValueError as exc:
        return None, str(exc)
    problem = _usable_ca(ca, where=where, now=now)
    return (None, problem) if problem else (ca, "")


def _choose_ca(
    options: CertsOptions, ca_secret: RawObject | None, *, where: str, now: dt.datetime
) -> tuple[KeyPair, str]:
    """The CA to use and, when it differs from the stored one, why (empty when kept)."""
    stored, problem = _stored_ca(ca_secret, where=where, now=now)
    if options.new_ca:
        return build_ca(days=options.ca_days), "a new CA was asked for"
    if options.supplied_ca is not None:
        same = stored is not None and stored.cert_pem == options.supplied_ca.cert_pem
        return options.supplied_ca, "" if same else "the supplied CA replaces the stored one"
    if stored is None:
        return build_ca(days=options.ca_days), problem
    return stored, ""


def _serving_problem(
    tls_secret: RawObject | None, ca: KeyPair, options: CertsOptions, now: dt.datetime
) -> str:
    if tls_secret is None:
        return "no serving Secret"
    try:
        load_key_pair(
            _secret_data(tls_secret, CERT_FILE), _secret_data(tls_secret, KEY_FILE), what="serving Secret"
        )
    except ValueError as exc:
        return str(exc)
    if _secret_data(tls_secret, CA_FILE) != ca.cert_pem:
        return "its ca.crt is not the current CA"
    cert_pem = _secret_data(tls_secret, CERT_FILE)
    problem = certificate_problem(
        cert_pem, ca_pem=ca.cert_pem, hostnames=options.hostnames, renew_before=RENEW_BEFORE, now=now
    )
    return problem or ""


def plan_secrets(
    options: CertsOptions,
    *,
    tls_secret: RawObject | None,
    ca_secret: RawObject | None,
    names: tuple[str, str],
    now: dt.datetime | None = None,
) -> SecretPlan:
    """Decide from the current Secrets (None when absent) what to write; ``names`` = (tls, ca)."""
    now = now or dt.datetime.now(dt.UTC)
    tls_name, ca_name = names
    ca, ca_reason = _choose_ca(options, ca_secret, where=f"{options.namespace}/{ca_name}", now=now)
    reasons = [f"secret {options.namespace}/{ca_name}: {ca_reason}"] if ca_reason else []
    new_ca_secret = None
    if ca_reason:
        data = {CA_FILE: ca.cert_pem, CA_KEY_FILE: ca.key_pem}
        new_ca_secret = make_secret(ca_name, namespace=options.namespace, secret_type="Opaque", data=data)
    serving_reason = _serving_problem(tls_secret, ca, options, now)
    if not serving_reason:
        return SecretPlan(ca, new_ca_secret, None, ca.cert_pem, reasons)
    reasons.append(f"secret {options.namespace}/{tls_name}: {serving_reason}")
    serving = build_serving_certificate(ca, options.hostnames, days=options.days)
    data = {CERT_FILE: serving.cert_pem, KEY_FILE: serving.key_pem, CA_FILE: ca.cert_pem}
    new_tls = make_secret(tls_name, namespace=options.namespace, secret_type="kubernetes.io/tls", data=data)
    bundle = merge_ca_bundle(ca.cert_pem, _secret_data(tls_secret, CA_FILE), now=now)
    return SecretPlan(ca, new_ca_secret, new_tls, bundle, reasons)


def ca_bundle_patch(configuration: RawObject, bundle: bytes, *, kind: str = "mutating") -> list[RawObject]:
    """JSON Patch ops setting ``caBundle`` on every webhook that lacks it; [] when all have it.

    ``add`` replaces an existing member (RFC 6902), so it works with or without a current value;
    the leading ``test`` of resourceVersion makes a concurrent edit fail instead of being lost.
    """
    hooks = configuration.get("webhooks") or []
    name = configuration.get("metadata", {}).get("name", "?")
    if not hooks:
        raise ClusterError(f"{kind}webhookconfiguration {name} has no webhooks to patch")
    value = ca_bundle_base64(bundle)
    ops: list[RawObject] = [
        {"op": "add", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": value}
        for i, hook in enumerate(hooks)
        if (hook.get("clientConfig") or {}).get("caBundle") != value
    ]
    if not ops:
        return []
    version = configuration.get("metadata", {}).get("resourceVersion")
    return [{"op": "test", "path": "/metadata/resourceVersion", "value": version}, *ops]


# --- cluster: the steps -----------------------------------------------------------------------------


def install_certificates(
    api: Any,
    options: CertsOptions,
    *,
    secret: str,
    ca_secret: str,
    webhook: str,
    mutating: bool = True,
    now: dt.datetime | None = None,
) -> list[str]:
    """Bring the two Secrets and every webhook's ``caBundle`` up to date; one line per object.
    ``mutating`` False: no MutatingWebhookConfiguration is installed (native mode), none is patched.

    Running it again with nothing to renew reads three objects and writes none.
    """
    ns = options.namespace
    current_tls = cluster.get_secret(api, secret, namespace=ns)
    current_ca = cluster.get_secret(api, ca_secret, namespace=ns)
    plan = plan_secrets(
        options, tls_secret=current_tls, ca_secret=current_ca, names=(secret, ca_secret), now=now
    )
    lines = [f"renew: {reason}" for reason in plan.reasons]
    lines.append(_save(api, plan.ca_secret, existing=current_ca, name=f"{ns}/{ca_secret}"))
    if mutating:
        lines.append(_patch_ca_bundle(api, webhook, plan.ca_bundle, kind="mutating"))
    lines.append(_patch_ca_bundle(api, webhook, plan.ca_bundle, kind="validating"))
    lines.append(_save(api, plan.tls_secret, existing=current_tls, name=f"{ns}/{secret}"))
    return lines


def _patch_ca_bundle(api: Any, name: str, bundle: bytes, *, kind: cluster.WebhookKind) -> str:
    """Patch ``caBundle`` into one configuration; the guard's may be absent (``guard.enabled=false``)."""
    configuration = cluster.get_webhook_configuration(api, name, kind=kind, missing_ok=kind == "validating")
    if configuration is None:
        return f"{kind}webhookconfiguration {name}: not installed, skipped"
    ops = ca_bundle_patch(configuration, bundle, kind=kind)
    if ops:
        cluster.patch_webhook_configuration(api, name, ops, kind=kind)
    hooks = len(configuration.get("webhooks") or [])
    if ops:
        return f"{kind}webhookconfiguration {name}: caBundle set on {len(ops) - 1} of {hooks} webhooks"
    return f"{kind}webhookconfiguration {name}: caBundle unchanged"


def _save(api: Any, secret: RawObject | None, *, existing: RawObject | None, name: str) -> str:
    if secret is None:
        return f"secret {name}: unchanged"
    return f"secret {name}: {cluster.save_secret(api, secret, existing=existing)}"
