"""The floor and placement-webhook's own ASGI app, for running on granian (a Rust ASGI server).

Only for the server-stack comparison in bench/run.py: granian serves TLS from files but cannot
reload a rotated certificate in place, which ``placement-webhook serve`` needs; the benchmark
measures what that choice costs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_apps import floor

from webhook.server.app import AppState, ASGIApp, create_app
from webhook.server.logs import AdmissionLog
from webhook.server.metrics import Metrics
from webhook.server.reloading import PolicyStore

__all__ = ["floor", "ours"]


def ours() -> ASGIApp:
    """placement-webhook's app with the policies in ``$BENCH_POLICIES`` (granian ``--factory``)."""
    metrics = Metrics()
    policies = PolicyStore(Path(os.environ["BENCH_POLICIES"]), metrics)
    return create_app(AppState(policies, None, metrics, 3 * 1024 * 1024, 10.0, AdmissionLog()))
