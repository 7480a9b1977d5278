"""Policies and the serving certificate in force, and their reload when the files change.

Kubernetes updates a mounted ConfigMap or Secret by writing a new timestamped folder and swapping
the ``..data`` symlink, so inotify on the file itself misses it. A cheap ``stat`` poll that follows
symlinks (inode, size, mtime of the target) sees every kind of update, including plain edits.
A new policy file is only swapped in once it validated; a broken one, or any exception while
loading it (a loader bug, a RecursionError), leaves the last good policies serving, is counted as
a failed reload and shows in ``/readyz``. So is a valid file the server cannot serve (its
``can_serve`` check: policies with ``namespaceSelector`` while Namespaces cannot be listed): it is
kept aside and swapped in at a later poll once the server can serve it, so a replica never goes
unready for a valid file. A new certificate is loaded into the live
``SSLContext``: new connections use it, open connections finish with the old one.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from webhook.cluster.certs import CA_FILE, CERT_FILE, KEY_FILE
from webhook.engine.memo import LoadedPolicies
from webhook.errors import PolicyError
from webhook.policy.compiled import PolicySet
from webhook.policy.loading import load_policies
from webhook.server.logs import LOGGER
from webhook.server.metrics import Metrics

log = logging.getLogger(LOGGER)

Fingerprint = tuple[int, int, int] | None
#: Why the server cannot serve the new (valid) policies now in place of the current ones, or None.
ServingCheck = Callable[[PolicySet, PolicySet], str | None]


def fingerprint(path: Path) -> Fingerprint:
    """(inode, size, mtime) of what ``path`` resolves to now; None when it is missing."""
    try:
        st = path.stat()  # follows the ConfigMap's ..data symlink
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class PolicyStore:
    """The policies in force, with their plan memo (``LoadedPolicies``: one generation of the
    file); ``reload_if_changed`` swaps in a new, valid file and a fresh memo at once."""

    def __init__(self, path: Path, metrics: Metrics, *, can_serve: ServingCheck | None = None) -> None:
        self.path = path
        self.metrics = metrics
        self.can_serve = can_serve
        #: a valid file refused because it cannot be served yet; taken once ``can_serve`` agrees
        self.waiting: PolicySet | None = None
        self.loaded = LoadedPolicies(load_policies(path))  # start-up fails fast on an invalid file
        self.generation = 1
        self.last_error: str | None = None
        self._seen = fingerprint(path)
        metrics.generation.set(self.generation)
        metrics.policies.set(len(self.policies))
        metrics.reservations.set(len(self.policies.reservations))

    @property
    def policies(self) -> PolicySet:
        """The policies in force."""
        return self.loaded.policies

    def reload_if_changed(self) -> bool:
        """Load the file again if it changed; True when new policies took effect."""
        current = fingerprint(self.path)
        if current == self._seen:
            return self._take_waiting()
        self._seen, self.waiting = current, None
        try:
            policies = load_policies(self.path)
        except PolicyError as exc:
            self._reject(exc.problems)
            return False
        except Exception as exc:  # whatever breaks the loader must not unseat the good policies
            detail = str(exc).replace("\r", "\\r").replace("\n", "\\n")
            self._reject([f"{self.path}: cannot load: {type(exc).__name__}: {detail}"], unexpected=exc)
            return False
        problem = self.can_serve(policies, self.policies) if self.can_serve is not None else None
        if problem is not None:
            self.waiting = policies
            self._reject([self._unservable(problem)])
            return False
        return self._take(policies)

    def _take_waiting(self) -> bool:
        """Swap in the file kept aside once it can be served (checked at each poll)."""
        waiting, check = self.waiting, self.can_serve
        if waiting is None or check is None:
            return False
        problem = check(waiting, self.policies)
        if problem is not None:  # still refused, counted once: say why now (a timeout may be a 403 now)
            self.last_error = self._unservable(problem)
            return False
        policies, self.waiting = waiting, None
        return self._take(policies)

    def _unservable(self, problem: str) -> str:
        return f"{self.path}: valid, but cannot be served: {problem}"

    def _take(self, policies: PolicySet) -> bool:
        self.loaded, self.last_error = LoadedPolicies(policies), None
        self.generation += 1
        self.metrics.reloads.labels("success").inc()
        self.metrics.generation.set(self.generation)
        self.metrics.policies.set(len(policies))
        self.metrics.reservations.set(len(policies.reservations))
        fields = {"file": str(self.path), "generation": self.generation, "policies": len(policies)}
        fields["reservations"] = len(policies.reservations)
        log.info("policies reloaded", extra={"fields": fields})
        return True

    def _reject(self, problems: list[str], *, unexpected: Exception | None = None) -> None:
        """Keep the last good policies; count the failure and show it in /readyz and the log."""
        self.last_error = "; ".join(problems)
        self.metrics.reloads.labels("failure").inc()
        log.error(
            "policy reload rejected; the last good policies keep serving",
            extra={"fields": {"file": str(self.path), "generation": self.generation, "problems": problems}},
            # a traceback for a loader bug; a RecursionError's would be thousands of identical frames
            exc_info=unexpected
            if unexpected is not None and not isinstance(unexpected, RecursionError)
            else None,
        )


TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def create_server_context(cert_dir: Path, *, client_ca: Path | None = None) -> ssl.SSLContext:
    """TLS 1.2+ (1.3 preferred by negotiation), forward-secret AEAD ciphers only, HTTP/1.1 ALPN."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(cert_dir / CERT_FILE, cert_dir / KEY_FILE)
    if client_ca is not None:
        context.load_verify_locations(cafile=str(client_ca))
        # OPTIONAL, not REQUIRED: a presented certificate must still verify, but the kubelet's
        # HTTPS probes carry none; /mutate itself refuses requests without one (server.py).
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


@dataclass
class CertificateInfo:
    not_before: dt.datetime
    not_after: dt.datetime

    def valid_now(self) -> bool:
        now = dt.datetime.now(dt.UTC)
        return self.not_before <= now < self.not_after


def read_certificate_info(cert_dir: Path) -> CertificateInfo:
    leaf = x509.load_pem_x509_certificate((cert_dir / CERT_FILE).read_bytes())
    return CertificateInfo(leaf.not_valid_before_utc, leaf.not_valid_after_utc)


class CertificateStore:
    """The serving certificate of a live ``SSLContext``, reloaded in place when its files change."""

    def __init__(self, cert_dir: Path, context: ssl.SSLContext, metrics: Metrics) -> None:
        self.cert_dir = cert_dir
        self.context = context
        self.metrics = metrics
        self.info = read_certificate_info(cert_dir)
        self._seen = self._fingerprints()
        metrics.certificate_expiry.set(self.info.not_after.timestamp())

    def _fingerprints(self) -> tuple[Fingerprint, Fingerprint]:
        return fingerprint(self.cert_dir / CERT_FILE), fingerprint(self.cert_dir / KEY_FILE)

    @property
    def ca_bundle(self) -> Path:
        return self.cert_dir / CA_FILE

    def reload_if_changed(self) -> bool:
        """Load a changed key pair into the live context once it is complete and consistent."""
        current = self._fingerprints()
        if current == self._seen:
            return False
        cert, key = self.cert_dir / CERT_FILE, self.cert_dir / KEY_FILE
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
                cert, key
            )  # a half-written pair fails here
            info = read_certificate_info(self.cert_dir)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self.metrics.certificate_reloads.labels("failure").inc()
            log.warning(
                "certificate not reloaded yet",
                extra={"fields": {"dir": str(self.cert_dir), "error": str(exc)}},
            )
            return False  # retried at the next poll: _seen is not updated
        self.context.load_cert_chain(cert, key)
        self._seen, self.info = current, info
        self.metrics.certificate_reloads.labels("success").inc()
        self.metrics.certificate_expiry.set(info.not_after.timestamp())
        log.info(
            "certificate reloaded", extra={"fields": {"dir": str(self.cert_dir), "not_after": info.not_after}}
        )
        return True
