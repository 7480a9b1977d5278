"""``certs --install``: the CA bundle merge, which needs no API server.

The calls ``certs --install`` makes are tested against the real kube-apiserver in
``tests/e2e/test_certs_install.py`` (and, as the bootstrap Job's ServiceAccount, in
``tests/e2e/test_install_in_cluster.py``); the local fake API server they used to run against is
gone. The failure modes it produced (404 for a missing webhook configuration, 401 for refused
credentials) the real one produces too, and the order of the writes it logged is read from the
resourceVersions the real one assigns, so no fake is kept.
"""

from __future__ import annotations

import datetime as dt

from webhook.certs import build_ca, merge_ca_bundle


def test_the_bundle_drops_expired_and_duplicate_cas() -> None:
    old, new = build_ca(days=10), build_ca()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=20)
    assert merge_ca_bundle(new.cert_pem, old.cert_pem + new.cert_pem) == new.cert_pem + old.cert_pem
    assert merge_ca_bundle(new.cert_pem, old.cert_pem, now=later) == new.cert_pem
    assert merge_ca_bundle(new.cert_pem, b"not pem") == new.cert_pem
