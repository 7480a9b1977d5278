"""``audit --cluster`` and ``simulate --cluster`` read a large cluster page by page, as kubectl does.

A control plane of its own holds 5,000 Seldon server Pods (held from the scheduler by a gate) and
1,000 Nodes, created directly through the API as kwok would. The commands list them 500 at a time
(``limit`` and ``continue``: the API server's own request counter shows the pages) or as told by
``--chunk-size``, and find every one. A continue token that expires between two pages (etcd
compacted the revision the list started at: the real API server answers 410 Gone) starts the list
over, and the result is still one complete, consistent list.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.controlplane import ControlPlane, control_plane
from tests.e2e.install import cli
from tests.e2e.kube import ROOT, create_namespace
from tests.e2e.load import server_pod

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PODS, NODES, NAMESPACES = 5000, 1000, 10
EMPTY_NAMESPACES = 600  # two pages of Namespaces for the server's cache


def _node(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": f"kwok-{index:05d}",
            "labels": {"pool": "cpu", "kubernetes.io/hostname": f"kwok-{index:05d}"},
        },
    }


@pytest.fixture(scope="module")
def large(binaries: dict[str, Path]) -> Iterator[ControlPlane]:
    run_dir = Path(tempfile.mkdtemp(prefix="placement-webhook-paging-"))
    # lists straight from etcd (no watch cache, whose snapshots would serve an old continue token),
    # so that compacting etcd expires a list's token as a long list on a busy cluster sees it
    with control_plane(binaries, run_dir, apiserver_flags=["--watch-cache=false"]) as plane:
        for n in range(NAMESPACES):
            create_namespace(plane.api, f"team-{n}")

        def pod(i: int) -> None:
            body = server_pod(i)
            body["metadata"]["labels"]["seldon-server-name"] = f"srv-{i // 4}"
            plane.api.create(f"/api/v1/namespaces/team-{i % NAMESPACES}/pods", body)

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: create_namespace(plane.api, f"empty-{n}"), range(EMPTY_NAMESPACES)))
            list(pool.map(pod, range(PODS)))
            list(pool.map(lambda i: plane.api.create("/api/v1/nodes", _node(i)), range(NODES)))
        # the webhook configuration audit reads (after the Pods: nothing serves it here)
        webhooks = next(
            o for o in yaml.safe_load_all((ROOT / "deploy" / "base" / "webhook.yaml").read_text())
            if o and o["kind"] == "MutatingWebhookConfiguration"
        )  # fmt: skip
        plane.api.create("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", webhooks)
        yield plane
    shutil.rmtree(run_dir, ignore_errors=True)


def list_calls(plane: ControlPlane, resource: str) -> float:
    """The API server's count of LIST requests for ``resource`` (every page is one)."""
    total = 0.0
    for line in plane.api.http.get("/metrics").text.splitlines():
        if (
            line.startswith("apiserver_request_total{")
            and 'verb="LIST"' in line
            and f'resource="{resource}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def run_cli(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, "--kubeconfig", str(plane.admin_kubeconfig))


@pytest.mark.parametrize(("chunk", "pages"), [(None, PODS // 500), ("1200", -(-PODS // 1200)), ("0", 1)])
def test_audit_lists_every_pod_page_by_page(large: ControlPlane, chunk: str | None, pages: int) -> None:
    before = list_calls(large, "pods")
    result = run_cli(large, "audit", "--cluster", "-o", "json", *(["--chunk-size", chunk] if chunk else []))
    assert result.returncode == 1, result.stderr  # the Pods were created unplaced: all differ
    report = json.loads(result.stdout)
    assert report["audited"] == PODS and result.stderr == ""  # not a terminal: no progress
    assert list_calls(large, "pods") - before == pages


def test_simulate_lists_every_node_page_by_page(large: ControlPlane, tmp_path: Path) -> None:
    pod = tmp_path / "pod.yaml"
    pod.write_text(yaml.safe_dump({**server_pod(0), "metadata": {"name": "p", "namespace": "team-0"}}))
    before = list_calls(large, "nodes")
    result = run_cli(large, "simulate", str(pod), "--cluster", "-o", "json", "--chunk-size", "300")
    assert result.returncode in (0, 1), result.stderr
    assert list_calls(large, "nodes") - before == -(-NODES // 300)
    (simulated,) = json.loads(result.stdout)["pods"]
    judged = set(simulated["before"]["fits"]) | {n["node"] for n in simulated["before"]["nodes"]}
    assert len(judged) == NODES  # every Node of every page was judged


def _etcd(plane: ControlPlane, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{plane.etcd_url}{path}", json=body, timeout=10)
    response.raise_for_status()
    return dict(response.json())


def test_an_expired_continue_token_starts_the_list_over(large: ControlPlane) -> None:
    from webhook.cluster import client as cluster

    api = cluster.load_api_client(str(large.admin_kubeconfig))
    pages: list[int] = []

    def compact_after_the_first_page(what: str, read: int, remaining: int | None, last: bool) -> None:
        pages.append(read)
        if len(pages) == 1:  # the list's revision falls behind etcd's compaction
            large.api.create("/api/v1/namespaces", {"metadata": {"name": "advance-the-revision"}})
            revision = _etcd(large, "/v3/kv/range", {"key": base64.b64encode(b"/").decode()})["header"][
                "revision"
            ]
            _etcd(large, "/v3/kv/compaction", {"revision": revision, "physical": True})

    pods = cluster.list_pods(api, paging=cluster.Paging(1000, compact_after_the_first_page))
    assert pages[:2] == [1000, 1000] and pages[-1] == PODS, pages  # page 2 of the first list was refused
    names = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods}
    assert len(pods) == len(names) == PODS


def _read_all(fd: int) -> bytes:
    """Everything written to a pseudo-terminal until its other side is closed (EIO)."""
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return data
        if not chunk:
            return data
        data += chunk


def test_progress_shows_on_a_terminal_and_never_changes_the_output(large: ControlPlane) -> None:
    """Progress on stderr when it is a terminal (a pseudo-terminal here), nothing with --quiet;
    stdout is the same either way."""
    import fcntl
    import pty
    import struct
    import termios

    argv = [str(ROOT / ".venv" / "bin" / "placement-webhook"), "audit", "--cluster", "-o", "json",
            "--kubeconfig", str(large.admin_kubeconfig)]  # fmt: skip
    plain = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    shown = {}
    for extra in ([], ["--quiet"]):
        controller, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column terminal
        env = dict(os.environ)
        with subprocess.Popen(
            [*argv, *extra], stdout=subprocess.PIPE, stderr=terminal, text=True, env=env
        ) as run:
            os.close(terminal)
            out, _ = run.communicate(timeout=120)
            err = b""
            while True:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                err += chunk
        os.close(controller)
        assert out == plain.stdout
        shown[bool(extra)] = err.decode(errors="replace")
    assert re.search(r"list pods: .*\d+ items", shown[False]), shown[False][-500:]
    assert re.search(r"reviewing: .*Pods", shown[False]), shown[False][-500:]
    assert shown[True] == ""


def test_the_servers_node_and_namespace_caches_list_page_by_page(large: ControlPlane) -> None:
    """The server's caches read their first list 500 at a time, as a reflector does, and are ready
    (so is /readyz) only once the last page is in."""
    from webhook.cluster import client as cluster
    from webhook.cluster.namespaces import NamespaceCache
    from webhook.cluster.nodes import NodeCache

    api = cluster.load_api_client(str(large.admin_kubeconfig))
    namespaces = len(large.api.items("/api/v1/namespaces"))
    assert namespaces > 500
    for cache_type, resource, count in (
        (NodeCache, "nodes", NODES),
        (NamespaceCache, "namespaces", namespaces),
    ):
        before = list_calls(large, resource)
        cache = cache_type(api)
        assert not cache.ready
        cache.start()
        try:
            deadline = time.monotonic() + 60
            while not cache.ready:
                assert time.monotonic() < deadline, f"the {resource} cache never got ready: {cache.failure}"
                time.sleep(0.05)
            listed = len(cache.state.labels_by_name)
            assert listed == count
            assert list_calls(large, resource) - before == -(-listed // 500)
        finally:
            cache.stop()
