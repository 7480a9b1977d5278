"""Session fixtures: one control plane per run, the project installed in it once.

Every e2e module is marked ``xdist_group("e2e")``; ``make test`` runs ``--dist loadgroup``, so they
all run on one worker and only one control plane starts. Without the binaries every e2e test is
skipped (one reason: run ``make control-plane``), unless PLACEMENT_WEBHOOK_REQUIRE_E2E=1 (CI),
which makes that an error.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import install, kube, netns
from tests.e2e.controlplane import HOW_TO_BUILD, ControlPlane, control_plane, find_binaries
from tests.e2e.relay import Relay

RUN_DIR_KEY = pytest.StashKey[Path]()
SKIP_PREFIX = "Skipped: e2e: "


@pytest.fixture(scope="session")
def binaries() -> dict[str, Path]:
    found = find_binaries()
    problem = None if found else f"e2e: no control plane: {HOW_TO_BUILD}"
    problem = problem or (f"e2e: {netns.unavailable()}" if netns.unavailable() else None)
    if problem:
        if os.environ.get("PLACEMENT_WEBHOOK_REQUIRE_E2E") == "1":
            pytest.fail(f"PLACEMENT_WEBHOOK_REQUIRE_E2E=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    assert found is not None
    return found


@pytest.fixture(scope="session")
def plane(binaries: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    run_dir = Path(tempfile.mkdtemp(prefix="placement-webhook-e2e-"))
    request.config.stash[RUN_DIR_KEY] = run_dir
    failed_before = request.session.testsfailed
    with control_plane(binaries, run_dir) as started:
        yield started
    if request.session.testsfailed > failed_before:
        print(f"\ne2e: component logs kept in {run_dir}/logs", file=sys.stderr)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple) and report.longrepr[2].startswith(SKIP_PREFIX):
        # one summary line for all of them (-ra folds skips by location and reason), not one per test
        report.longrepr = (os.path.relpath(__file__), 0, report.longrepr[2])
    run_dir = item.config.stash.get(RUN_DIR_KEY, None)
    if run_dir is not None and report.failed:
        report.sections.append(("e2e", f"component logs (kept): {run_dir}/logs"))
    return report


@dataclass
class Cluster:
    """The control plane with our Nodes in it and placement-webhook installed and serving."""

    plane: ControlPlane
    webhook: install.Webhook
    nodes: list[dict[str, Any]]
    nodes_file: Path
    default_policies: str
    #: the API server as the webhook's network namespace reaches it (its kubeconfig points here)
    relay: Relay | None = None

    @property
    def api(self) -> Any:
        return self.plane.api


@pytest.fixture(scope="session")
def cluster(plane: ControlPlane) -> Iterator[Cluster]:
    nodes = kube.node_objects()
    for index, node in enumerate(nodes):
        kube.create_node(plane.api, node, index)
    nodes_file = plane.run_dir / "nodes.yaml"
    nodes_file.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": nodes}))

    install.apply_base(plane)
    result = install.install_certificates(plane)
    assert result.returncode == 0, result.stderr
    cert_dir = install.read_tls_secret(plane, plane.run_dir / "webhook-certs")
    policies = plane.run_dir / "policies" / "policies.yaml"
    policies.parent.mkdir()
    default_policies = install.policies_from_configmap(plane)
    policies.write_text(default_policies)

    with netns.network_namespace(str(os.getpid())) as ns:
        # as the Deployment runs it: with its ServiceAccount's token (the guard's Node cache)
        relay = Relay(ns.host, ("127.0.0.1", plane.api_port))
        webhook = install.Webhook(plane, ns, cert_dir, policies, env=install.server_environment(plane, relay))
        webhook.start()
        install.publish_endpoint(plane, ns.inside)
        kube.create_namespace(plane.api, "e2e-probe")
        install.wait_until_called(plane, "e2e-probe", probe_pod())
        try:
            yield Cluster(plane, webhook, nodes, nodes_file, default_policies, relay)
        finally:
            webhook.stop()
            relay.close()


def probe_pod(name: str = "probe") -> dict[str, Any]:
    """A server Pod every shipped policy places: it asks for a whole GPU."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"seldon-server-name": "probe"}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.invalid/probe:1",
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ]
        },
    }
