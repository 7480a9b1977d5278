"""Every query of the Grafana dashboard and the alerts names metrics that exist, with their labels.

Ours are read from a real server's ``/metrics`` after it has answered a mutate, a validate and a
bad request (so the labelled series have samples and show their label names); kube-apiserver's
from ``APISERVER_METRICS``, the admission metrics of ``k8s.io/apiserver/pkg/admission/metrics``
(``tests/e2e/test_image.py`` checks that table against the real API server). The queries parse:
promtool checks them as recording rules.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy import chart
from tests.deploy.test_alerts import promtool, rules
from tests.helpers import ROOT, admission_review, fixture
from tests.server_helpers import TlsConnection, client_context
from webhook.server.serve import Webhook

pytestmark = pytest.mark.slow

DASHBOARD = ROOT / "charts" / "placement-webhook" / "dashboards" / "placement-webhook.json"
#: kube-apiserver's admission webhook metrics and their labels
APISERVER_METRICS: dict[str, set[str]] = {
    "apiserver_admission_webhook_admission_duration_seconds": {"name", "operation", "rejected", "type"},
    "apiserver_admission_webhook_request_total": {"name", "operation", "rejected", "type", "code"},
    "apiserver_admission_webhook_rejection_count": {
        "name",
        "operation",
        "rejection_code",
        "type",
        "error_type",
    },
    "apiserver_admission_webhook_fail_open_count": {"name", "type"},
}
#: labels a scrape adds to every series (the ServiceMonitor's target labels)
SCRAPE_LABELS = {"namespace", "pod", "instance", "job", "service", "container", "endpoint"}
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
FUNCTIONS_AND_WORDS = {"sum", "rate", "increase", "max", "min", "histogram_quantile", "time", "by", "unless"}


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def alert_queries() -> list[str]:
    return [r["expr"] for r in rules()]


def _concrete(expr: str) -> str:
    return (
        expr.replace("$__rate_interval", "5m")
        .replace("$__range", "1h")
        .replace("$namespace", "placement-webhook")
    )


def used(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, labels it matches on or groups by) for each selector of ``expr``."""
    grouped = {
        label.strip() for group in GROUPING.findall(expr) for label in group.split(",") if label.strip()
    }
    found = []
    for metric, matchers in SELECTOR.findall(expr):
        labels = {m.split("=")[0].rstrip("!~").strip() for m in matchers.split(",") if m.strip()}
        found.append((metric, labels | (grouped - {"le"})))
    return found


@pytest.fixture
def exported(webhook: Webhook) -> dict[str, set[str]]:
    """Our series names (histograms by their _bucket/_sum/_count) and the label names seen."""
    ca = webhook.certificates.cert_dir / "ca.crt"
    with TlsConnection(webhook.server.config.port, client_context(ca)) as conn:
        review = json.dumps(admission_review(fixture("triton-gpu-0"))).encode()
        assert conn.call("POST", "/mutate?timeout=10s", review)[0] == 200
        assert conn.call("POST", "/validate?timeout=10s", review)[0] == 200
        assert conn.call("POST", "/mutate?timeout=10s", b"{")[0] == 400
        _, text = conn.call("GET", "/metrics")
    series: dict[str, set[str]] = {}
    for line in text.decode().splitlines():  # as Prometheus reads it: no name normalised
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
            for suffix in suffixes:
                series.setdefault(name + suffix, set())
        elif line and not line.startswith("#"):
            family = text_string_to_metric_families(line + "\n")
            for sample in (s for f in family for s in f.samples):
                series.setdefault(sample.name, set()).update(set(sample.labels) - {"le"})
    return series


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_query_names_exported_metrics_and_their_labels(
    exported: dict[str, set[str]], source: str
) -> None:
    queries = dashboard_queries() if source == "dashboard" else alert_queries()
    known = {**exported, **{f"{k}_bucket": v for k, v in APISERVER_METRICS.items()}, **APISERVER_METRICS}
    for expr in queries:
        for metric, labels in used(expr):
            assert metric not in FUNCTIONS_AND_WORDS
            assert metric in known, f"{metric} in {expr!r} is not exported"
            if metric.startswith("apiserver_"):
                unknown = labels - known[metric]
            else:
                unknown = labels - known[metric] - SCRAPE_LABELS if known[metric] else set()
            assert not unknown, f"{metric} has no label {sorted(unknown)} (in {expr!r})"


def test_a_misspelt_metric_would_be_caught(exported: dict[str, set[str]]) -> None:
    assert "placement_webhook_admission_total" not in exported  # the real one ends in _total
    assert used('sum by (policy) (rate(placement_webhook_admissions_total{namespace="x"}[5m]))') == [
        ("placement_webhook_admissions_total", {"namespace", "policy"})
    ]


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    rules_file = tmp_path / "dashboard-rules.yaml"
    recorded = [
        {"record": f"dashboard:query{i}", "expr": _concrete(e)} for i, e in enumerate(dashboard_queries())
    ]
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    result = subprocess.run(
        [str(promtool()), "check", "rules", str(rules_file)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_ships_the_dashboard_for_the_grafana_sidecar_only_when_asked() -> None:
    assert not [o for o in chart.template() if o["metadata"]["name"].endswith("-dashboard")]
    config_map = next(
        o
        for o in chart.template({"dashboard": {"enabled": True}})
        if o["metadata"]["name"].endswith("-dashboard")
    )
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["placement-webhook.json"]) == json.loads(DASHBOARD.read_text())
