"""The offline commands at a whole cluster's scale: time per item and peak memory.

``audit`` of ``kubectl get pods -A -o json``-shaped exports of 100, 1,000 and 10,000 Seldon server
Pods (and the 1,000- and 10,000-Pod ones as YAML), and ``simulate`` of one GPU server Pod against
100, 1,000 and 5,000 Nodes (and 100 Pods of 25 servers against 5,000 Nodes). Each run is the real CLI in a
subprocess; its peak RSS is the kernel's (``ru_maxrss`` of its largest process), and the peak PSS
of all its processes (``audit`` forks workers for a large YAML export) is sampled from ``/proc``. The verdict is the time per
item staying flat as the count grows (ratios within one run), not the absolute times.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.kube import node_objects, node_status  # noqa: E402
from tests.helpers import BUNDLED_POLICIES, fixture  # noqa: E402

CLI = [sys.executable, "-m", "webhook"]
OUT = ROOT / "bench" / "results"


def pods_export(count: int) -> dict[str, Any]:
    templates = [fixture("triton-gpu-0"), fixture("mlserver-0")]
    items = []
    for i in range(count):
        pod = copy.deepcopy(templates[i % 2])
        pod["metadata"].update(name=f"srv-{i // 4}-{i % 4}", namespace=f"team-{i % 50}", uid=f"uid-{i}")
        pod["metadata"]["labels"]["seldon-server-name"] = f"srv-{i // 4}"
        items.append(pod)
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def nodes_export(count: int) -> dict[str, Any]:
    base = node_objects()
    items = []
    for i in range(count):
        node = copy.deepcopy(base[i % len(base)])
        node["metadata"]["name"] = f"node-{i:05d}"
        node["status"] = node_status(node, i)
        items.append(node)
    return {"apiVersion": "v1", "kind": "List", "items": items}


#: runs the command and prints its exit status and peak RSS (KB): ru_maxrss of RUSAGE_CHILDREN is the
#: largest of all children ever waited for, so each measured run gets a parent of its own
_MEASURE = (
    "import resource, subprocess, sys;"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode;"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the CLI's worker processes, when it forks some)."""
    found = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found += _tree(int(child))
    except OSError:  # gone meanwhile
        pass
    return found


def _tree_pss_kb(pid: int) -> int:
    """The proportional set size of a process tree: pages shared by forked workers counted once."""
    total = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def timed(argv: list[str]) -> tuple[float, float, float]:
    """(seconds, peak RSS of its largest process in MB, peak PSS of all its processes in MB) of one
    CLI run; the PSS is sampled every 20 ms."""
    started = time.perf_counter()
    measuring = subprocess.Popen(
        [sys.executable, "-c", _MEASURE, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak_pss = 0
    while measuring.poll() is None:
        peak_pss = max(peak_pss, _tree_pss_kb(measuring.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    out, err = measuring.communicate()
    code, peak_kb = (int(v) for v in out.split())
    if code not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} exited {code}: {err}")
    return seconds, peak_kb / 1024, peak_pss / 1024


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="placement-webhook-scale-"))
    start = timed([*CLI, "--version"])[0]
    rows: list[dict[str, Any]] = []
    policies = ["--policies", str(BUNDLED_POLICIES), "-o", "json"]
    for form, count in [("JSON", 100), ("JSON", 1000), ("JSON", 10000), ("YAML", 1000), ("YAML", 10000)]:
        path = work / f"pods-{count}.{form.lower()}"
        export = pods_export(count)
        if form == "JSON":
            path.write_text(json.dumps(export, indent=4 if count < 10000 else None))
        else:
            path.write_text(yaml.dump(export, Dumper=yaml.CSafeDumper, sort_keys=False))
        seconds, mb, pss = timed([*CLI, "audit", str(path), *policies])
        rows.append(
            {
                "what": f"audit {form}",
                "items": count,
                "bytes": path.stat().st_size,
                "seconds": seconds,
                "peak_mb": mb,
                "peak_tree_pss_mb": pss,
            }
        )
    pod = work / "pod.yaml"
    pod.write_text(yaml.safe_dump(fixture("triton-gpu-0")))
    pods = work / "pods-100.json"
    pods.write_text(json.dumps(pods_export(100)))
    for count in (100, 1000, 5000):
        nodes = work / f"nodes-{count}.json"
        nodes.write_text(json.dumps(nodes_export(count), indent=4))
        seconds, mb, pss = timed([*CLI, "simulate", str(pod), "--nodes", str(nodes), *policies])
        rows.append(
            {
                "what": "simulate 1 Pod",
                "items": count,
                "bytes": nodes.stat().st_size,
                "seconds": seconds,
                "peak_mb": mb,
                "peak_tree_pss_mb": pss,
            }
        )
    seconds, mb, pss = timed(
        [*CLI, "simulate", str(pods), "--nodes", str(work / "nodes-5000.json"), *policies]
    )
    rows.append(
        {
            "what": "simulate 100 Pods",
            "items": 100 * 5000,
            "bytes": 0,
            "seconds": seconds,
            "peak_mb": mb,
            "peak_tree_pss_mb": pss,
        }
    )
    print(f"\nscaling (start-up {start:.2f} s; time per item after start-up):")
    for row in rows:
        per_item = (row["seconds"] - start) / row["items"] * 1e6
        row["us_per_item_after_startup"] = round(per_item, 1)
        print(
            f"  {row['what']:<18} {row['items']:>7} items  {row['seconds']:6.2f} s  {per_item:8.1f} µs/item"
            f"  peak {row['peak_mb']:.0f} MB (all processes: {row['peak_tree_pss_mb']:.0f} MB PSS)"
        )
    OUT.mkdir(exist_ok=True)
    (OUT / "scale.json").write_text(
        json.dumps({"startup_seconds": start, "load_average": os.getloadavg(), "rows": rows}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
