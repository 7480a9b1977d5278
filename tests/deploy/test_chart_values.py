"""charts/placement-webhook/values.schema.json and the render-time checks of values: what the API
server, kubectl drain or the server's start would refuse is refused by ``helm install`` instead."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.deploy import chart
from tests.deploy.test_deploy import one

if chart.helm_binary() is None:  # pragma: no cover - depends on the machine
    pytest.skip("helm not built: run `make control-plane`", allow_module_level=True)

SCHEMA_REFUSES = "values don't meet the specifications of the schema(s)"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"webhook": {"failurePolicy": "Sometimes"}}, "at '/webhook/failurePolicy': value must be one of 'Fail', 'Ignore'"),
        ({"webhook": {"timeoutSeconds": 60}}, "at '/webhook/timeoutSeconds': maximum: got 60, want 30"),
        ({"guard": {"timeoutSeconds": 0}}, "at '/guard/timeoutSeconds': minimum: got 0, want 1"),
        ({"guard": {"failurePolicy": "fail"}}, "at '/guard/failurePolicy': value must be one of 'Fail', 'Ignore'"),
        ({"webhook": {"reinvocationPolicy": "Always"}}, "at '/webhook/reinvocationPolicy'"),
        ({"replicas": 0}, "at '/replicas': minimum: got 0, want 1"),
        ({"replica": 3}, "additional properties 'replica' not allowed"),
        ({"server": {"logLevel": "trace"}}, "at '/server/logLevel'"),
        ({"server": {"reloadInterval": 0}}, "at '/server/reloadInterval'"),
        ({"metrics": {"port": 70000}}, "at '/metrics/port'"),
        ({"port": "8443"}, "at '/port': got string, want integer"),
        ({"certificates": {"mode": "selfSigned"}}, "at '/certificates/mode'"),
        ({"image": {"digest": "sha256:abc"}}, "at '/image/digest'"),
        ({"podDisruptionBudget": {"minAvailable": "50%"}}, "at '/podDisruptionBudget/minAvailable'"),
        # the policies as a mapping: the project's policies.schema.json, checked by helm
        ({"policies": {"version": 1, "policies": [{"name": "a", "mtach": {}, "placement": {}}]}},
         "at '/policies/policies/0': additional properties 'mtach' not allowed"),
        ({"policies": {"version": 2}}, "at '/policies/version'"),
        ({"policies": {"version": 1, "policies": [{"name": "a", "placement": {"tolerations": [{"operator": "Sometimes"}]}}]}},
         "at '/policies/policies/0/placement/tolerations/0/operator'"),
        ({"policies": {"version": 1, "reservations": [{"taint": {"key": "k", "effect": "NoWhere"}}]}},
         "at '/policies/reservations/0/taint/effect'"),
    ],
)  # fmt: skip
def test_the_values_schema_refuses_what_the_api_server_or_the_server_would(
    values: dict[str, Any], message: str, tmp_path: Any
) -> None:
    """Before values.schema.json these rendered, and failed at apply time or at the server's start."""
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    result = chart.helm(
        "template", "x", str(chart.CHART), "--kube-version", chart.KUBE_VERSION, "-f", str(file), check=False
    )
    assert result.returncode == 1 and SCHEMA_REFUSES in result.stderr and message in result.stderr, (
        result.stderr
    )


POLICY_FILES = sorted(
    str(p.relative_to(chart.ROOT))
    for p in [chart.ROOT / "policies.yaml", *(chart.ROOT / "examples").glob("*.yaml")]
    if yaml.safe_load(p.read_text()).get("version") == 1
)


@pytest.mark.parametrize("name", POLICY_FILES)
def test_a_policy_file_installs_as_text_or_as_a_mapping(name: str) -> None:
    """--set-file keeps the text as it is; --set-json gives the mapping the schema checks in full."""
    path = chart.ROOT / name
    data = yaml.safe_load(path.read_text())
    common = ("template", "x", str(chart.CHART), "--kube-version", chart.KUBE_VERSION)
    common += ("--set", "namespaceSelector.enabled=true", "-s", "templates/configmap.yaml")
    as_text = chart.helm(*common, "--set-file", f"policies={path}").stdout
    assert yaml.safe_load(as_text)["data"]["policies.yaml"] == path.read_text()
    as_mapping = chart.helm(*common, "--set-json", f"policies={json.dumps(data)}").stdout
    assert yaml.safe_load(yaml.safe_load(as_mapping)["data"]["policies.yaml"]) == data


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\npolicies: [\n", "policies: not a YAML mapping: error converting YAML to JSON: yaml: line 2"),
        ("- version: 1\n", "policies: not a YAML mapping"),
        ("version: 2\n", "policies: version must be 1"),
        ("version: 1\npolicy: []\n", 'policies: unknown top-level field "policy" (expected version, policies, reservations)'),
        ("version: 1\npolicies: {a: 1}\n", "policies: policies must be a list"),
        ("version: 1\nreservations: [k]\n", "policies: reservations[0] must be a mapping"),
        ("version: 1\npolicies:\n- name: a\n", "policies: policies[0] has no placement"),
        ("version: 1\npolicies:\n- {name: a, mtach: {}, placement: {}}\n", 'policies: policies[0] has an unknown field "mtach"'),
    ],
)  # fmt: skip
def test_a_broken_policy_file_given_as_text_fails_at_install(text: str, message: str, tmp_path: Any) -> None:
    """Helm's schema cannot look into a string: the template refuses what it can see, instead of
    every server Pod failing at its start."""
    file = tmp_path / "policies.yaml"
    file.write_text(text)
    result = chart.helm(
        "template", "x", str(chart.CHART), "--kube-version", chart.KUBE_VERSION,
        "--set-file", f"policies={file}", check=False,
    )  # fmt: skip
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "placement-webhook validate FILE" in result.stderr


@pytest.mark.parametrize(("replicas", "budget"), [(1, None), (2, 1), (3, 1)])
def test_a_disruption_budget_never_blocks_a_node_drain(replicas: int, budget: int | None) -> None:
    """One replica with minAvailable 1 would let no eviction through: kubectl drain waits forever."""
    objects = chart.template({"replicas": replicas})
    budgets = [o["spec"]["minAvailable"] for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert budgets == ([] if budget is None else [budget])
    assert one(objects, "Deployment")["spec"]["replicas"] == replicas


@pytest.mark.parametrize(("pre_stop", "shutdown"), [(None, None), (0, 25), (12, 40)])
def test_the_server_leaves_the_endpoints_before_sigterm_and_has_time_to_drain(
    pre_stop: int | None, shutdown: int | None
) -> None:
    """The kubelet runs preStop, then sends SIGTERM, and kills at terminationGracePeriodSeconds:
    the grace period must cover both, with room for the process to exit."""
    server = {k: v for k, v in (("preStopSeconds", pre_stop), ("shutdownTimeout", shutdown)) if v is not None}
    pod = one(chart.template({"server": server} if server else {}), "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    expected_sleep = 5 if pre_stop is None else pre_stop
    sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    assert sleep == expected_sleep
    assert pod["terminationGracePeriodSeconds"] == expected_sleep + (shutdown or 25) + 5
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["PLACEMENT_WEBHOOK_SHUTDOWN_TIMEOUT"] == str(shutdown or 25)
