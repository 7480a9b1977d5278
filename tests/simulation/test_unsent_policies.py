"""Issue 28: ``validate`` warns about a policy that can match Pods the shipped webhook configuration
never sends (its objectSelector sends only Pods labelled seldon-server-name), naming the chart value."""

from __future__ import annotations

import yaml

from tests.helpers import ROOT, policies
from webhook.simulation.reachability import SENT_LABEL, file_findings

PODSELECTOR_ONLY = """
version: 1
policies:
- name: batch-gpu
  match: {podSelector: {matchLabels: {team: ml}}}
  placement: {nodeSelector: {pool: gpu}}
- name: servers
  match: {servers: ["*"]}
  placement: {nodeSelector: {pool: gpu}}
"""


def test_a_policy_for_unlabelled_pods_is_warned_about_with_the_chart_value() -> None:
    messages = [f.message for f in file_findings(policies(PODSELECTOR_ONLY))]
    assert messages == [
        "batch-gpu: also matches Pods without the seldon-server-name label (it sets none of servers,"
        " serverTypes, capabilities), but the shipped webhook configuration sends only Pods with it;"
        " to place others, widen the chart value webhook.objectSelector"
    ]


def test_the_label_is_the_one_the_chart_selects_on() -> None:
    values = yaml.safe_load((ROOT / "charts" / "placement-webhook" / "values.yaml").read_text())
    assert values["webhook"]["objectSelector"] == {
        "matchExpressions": [{"key": SENT_LABEL, "operator": "Exists"}]
    }
