"""Certificates: a local CA and a serving certificate with proper SANs, as plain PEM bytes.

``build_ca`` and ``build_serving_certificate`` are pure (no files); ``ensure_dev_certificates``
writes the Kubernetes TLS Secret file names (``tls.crt``, ``tls.key``, ``ca.crt``) into a folder
for a first local run. The API server verifies the SAN ``<service>.<namespace>.svc`` (Go clients
ignore the CN), so SANs are what matter; ECDSA P-256 keeps TLS handshakes cheap.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_FILE, KEY_FILE, CA_FILE = "tls.crt", "tls.key", "ca.crt"
CA_KEY_FILE = "ca.key"
DEFAULT_SERVICE, DEFAULT_NAMESPACE = "placement-webhook", "placement-webhook"


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


SIGNING_KEYS = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)  # the CA keys that sign with SHA-256


def service_hostnames(service: str, namespace: str) -> list[str]:
    """The names a Service is reached by in-cluster; ``NAME.NS.svc`` is the one the API server uses."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _validity(days: int) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)  # tolerate small clock skew


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """Digital signature (ECDSA handshakes) always; certificate and CRL signing for a CA only."""
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def build_ca(*, common_name: str = "placement-webhook CA", days: int = 3650) -> KeyPair:
    """A self-signed CA allowed to sign server certificates only (path length 0)."""
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    not_before, not_after = _validity(days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _subject_alt_names(hostnames: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(entries)


def build_serving_certificate(ca: KeyPair, hostnames: list[str], *, days: int = 365) -> KeyPair:
    """A TLS server certificate for ``hostnames`` (DNS names or IPs), signed by ``ca``."""
    if not hostnames:
        raise ValueError("a serving certificate needs at least one host name")
    return _build_leaf(
        ca, hostnames[0], ExtendedKeyUsageOID.SERVER_AUTH, days=days, names=_subject_alt_names(hostnames)
    )


def build_client_certificate(ca: KeyPair, common_name: str, *, days: int = 365) -> KeyPair:
    """A TLS client certificate (for the API server's admission kubeconfig), signed by ``ca``."""
    return _build_leaf(ca, common_name, ExtendedKeyUsageOID.CLIENT_AUTH, days=days)


def _build_leaf(
    ca: KeyPair,
    common_name: str,
    usage: x509.ObjectIdentifier,
    *,
    days: int,
    names: x509.SubjectAlternativeName | None = None,
) -> KeyPair:
    ca_cert = ca.certificate
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, SIGNING_KEYS):
        raise ValueError("the CA key must be an ECDSA or RSA key")
    key = _new_key()
    not_before, not_after = _validity(days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(min(not_after, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if names is not None:
        builder = builder.add_extension(names, critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def write_atomically(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``path`` so that a reader sees the old file or the whole new one, never a part.

    The data goes to a temporary file beside it, which then replaces it (``rename`` is atomic on
    one file system): whoever waits for ``ca.crt`` to appear never reads it half written.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (private keys), atomically."""
    write_atomically(path, data, mode=0o600)


def has_serving_certificate(cert_dir: Path) -> bool:
    return (cert_dir / CERT_FILE).is_file() and (cert_dir / KEY_FILE).is_file()


def ensure_dev_certificates(
    cert_dir: Path, *, service: str = DEFAULT_SERVICE, namespace: str = DEFAULT_NAMESPACE
) -> bool:
    """Create a local CA and serving certificate in ``cert_dir`` unless it already has one.

    SANs: ``localhost``, ``127.0.0.1``, ``::1`` and the in-cluster service names. Returns True
    when files were written. The CA key is not kept: a dev CA that cannot sign again is safer.
    """
    if has_serving_certificate(cert_dir):
        return False
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca = build_ca(common_name="placement-webhook dev CA", days=365)
    serving = build_serving_certificate(
        ca, ["localhost", "127.0.0.1", "::1", *service_hostnames(service, namespace)], days=365
    )
    # the key first and the CA last: a file that exists is complete, and ca.crt means all are there
    write_private(cert_dir / KEY_FILE, serving.key_pem)
    write_atomically(cert_dir / CERT_FILE, serving.cert_pem + ca.cert_pem)
    write_atomically(cert_dir / CA_FILE, ca.cert_pem)
    return True


def load_key_pair(cert_pem: bytes, key_pem: bytes, *, what: str) -> KeyPair:
    """Parse a certificate and its private key, checking that they belong together.

    Raises ValueError with a one-line message naming ``what`` (e.g. ``"CA"``) when either does not
    parse or the key is not the certificate's, so a swapped file never signs anything.
    """
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: not a PEM certificate and unencrypted private key ({exc})") from None
    if cert.public_key() != key.public_key():
        raise ValueError(f"{what}: the private key does not belong to the certificate")
    return KeyPair(cert_pem, key_pem)


def ca_problem(ca: KeyPair) -> str | None:
    """Why this certificate cannot act as a CA for the serving certificate, or None.

    RFC 5280 4.2.1.9 and 4.2.1.3, as TLS clients check a chain: ``basicConstraints`` with
    ``CA:TRUE``, and a ``keyUsage``, when present, with ``keyCertSign``. A certificate that fails
    either signs a chain that no verifier accepts.
    """
    if not isinstance(serialization.load_pem_private_key(ca.key_pem, password=None), SIGNING_KEYS):
        return "not usable here (its key must be an ECDSA or RSA key)"
    extensions = ca.certificate.extensions
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "not a CA certificate (it has no basicConstraints extension)"
    if not constraints.ca:
        return "not a CA certificate (basicConstraints CA:FALSE)"
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return (
        None if usage.key_cert_sign else "not allowed to sign certificates (its keyUsage lacks keyCertSign)"
    )


def certificate_problem(
    cert_pem: bytes,
    *,
    ca_pem: bytes,
    hostnames: list[str],
    renew_before: dt.timedelta = dt.timedelta(days=30),
    now: dt.datetime | None = None,
) -> str | None:
    """Why a serving certificate must be reissued, or None when it can stay.

    It must chain to ``ca_pem`` for every host name (as the API server checks ``NAME.NS.svc``) and
    stay valid for ``renew_before`` more: renewing early leaves time for the files to propagate.
    """
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    now = now or dt.datetime.now(dt.UTC)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        store = Store([x509.load_pem_x509_certificate(ca_pem)])
    except ValueError as exc:
        return f"unreadable certificate ({exc})"
    if cert.not_valid_after_utc - now < renew_before:
        return f"expires {cert.not_valid_after_utc:%Y-%m-%d}, within {renew_before.days} days"
    for host in hostnames:
        verifier = PolicyBuilder().store(store).time(now).build_server_verifier(x509.DNSName(host))
        try:
            verifier.verify(cert, [])
        except VerificationError as exc:
            return f"does not verify for {host} against the CA ({exc})"
    return None


def merge_ca_bundle(new_ca_pem: bytes, old_bundle_pem: bytes, *, now: dt.datetime | None = None) -> bytes:
    """The new CA first, then the still-valid CAs of the old bundle (no duplicates).

    Keeping the old CA while the Pods still serve a certificate it signed avoids TLS errors during
    a CA rotation; expired ones are dropped so the bundle does not grow forever.
    """
    now = now or dt.datetime.now(dt.UTC)
    try:
        old = x509.load_pem_x509_certificates(old_bundle_pem) if old_bundle_pem.strip() else []
    except ValueError:
        old = []  # an unreadable bundle is replaced, not kept
    kept = [new_ca_pem]
    for cert in old:
        pem = cert.public_bytes(serialization.Encoding.PEM)
        if cert.not_valid_after_utc > now and pem not in kept:
            kept.append(pem)
    return b"".join(kept)
