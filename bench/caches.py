"""The server's caches at a large cluster's scale: time to ready and memory.

A control plane of its own gets ``BENCH_NAMESPACES`` Namespaces (10,000) and ``BENCH_NODES`` Nodes
(5,000, with kubelet-like status and the e2e suite's labels and taints), created directly through
the API. Then, in a fresh process each (so its RSS is its own): the server's imports alone, the
Namespace cache and the Node cache started with the admin kubeconfig until ready (their first list
paged 500 at a time; ``/readyz`` waits for exactly this). Printed and written to
``bench/results/caches.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.controlplane import control_plane, find_binaries  # noqa: E402
from tests.e2e.kube import create_node, node_objects  # noqa: E402

NAMESPACES = int(os.environ.get("BENCH_NAMESPACES", "10000"))
NODES = int(os.environ.get("BENCH_NODES", "5000"))
OUT = ROOT / "bench" / "results"

#: in a fresh interpreter: import the server, start one cache (or none), wait until ready, report
_MEASURE = """
import json, os, sys, time
started = time.perf_counter()
import webhook.server.serve
from webhook.cluster import client
from webhook.cluster.namespaces import NamespaceCache
from webhook.cluster.nodes import NodeCache
imported = time.perf_counter()
kind = sys.argv[1]
count = 0
if kind != "none":
    cache = (NamespaceCache if kind == "namespaces" else NodeCache)(client.load_api_client(sys.argv[2]))
    cache.start()
    while not cache.ready:
        if cache.failure and time.perf_counter() - imported > 120:
            raise SystemExit(cache.failure)
        time.sleep(0.01)
    count = len(cache.state.labels_by_name)
ready = time.perf_counter()
rss = next(int(l.split()[1]) for l in open(f"/proc/{os.getpid()}/status") if l.startswith("VmRSS"))
print(json.dumps({"objects": count, "import_s": imported - started, "ready_s": ready - imported, "rss_mb": rss / 1024}), flush=True)
os._exit(0)  # the cache's watch thread is still in a request: no interpreter shutdown under it
"""


def measure(kind: str, kubeconfig: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, kind, str(kubeconfig)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


def main() -> int:
    binaries = find_binaries()
    if binaries is None:
        print("no control plane: run `make control-plane`", file=sys.stderr)
        return 1
    run_dir = Path(tempfile.mkdtemp(prefix="placement-webhook-caches-"))
    with control_plane(binaries, run_dir) as plane:
        templates = node_objects()
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda i: plane.api.create(
                        "/api/v1/namespaces",
                        {"metadata": {"name": f"bench-{i:05d}", "labels": {"team": f"t{i % 40}"}}},
                    ),
                    range(NAMESPACES),
                )
            )
            list(
                pool.map(
                    lambda i: create_node(
                        plane.api,
                        {
                            **templates[i % len(templates)],
                            "metadata": {
                                **templates[i % len(templates)]["metadata"],
                                "name": f"node-{i:05d}",
                            },
                        },
                        i,
                    ),
                    range(NODES),
                )
            )
        rows = {kind: measure(kind, plane.admin_kubeconfig) for kind in ("none", "namespaces", "nodes")}
    base = rows["none"]["rss_mb"]
    print(f"\nserver caches ({NAMESPACES} Namespaces, {NODES} Nodes; each in a fresh process):")
    print(f"  server imports alone: {base:.0f} MB RSS, {rows['none']['import_s']:.2f} s")
    for kind in ("namespaces", "nodes"):
        row = rows[kind]
        print(f"  {kind:<10} cache: {int(row['objects'])} objects ready in {row['ready_s']:.2f} s, "
              f"RSS {row['rss_mb']:.0f} MB (+{row['rss_mb'] - base:.0f} MB over the imports)")  # fmt: skip
    OUT.mkdir(exist_ok=True)
    (OUT / "caches.json").write_text(
        json.dumps({"namespaces": NAMESPACES, "nodes": NODES, "rows": rows}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
