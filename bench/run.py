"""``make bench``: placement-webhook against its floor and a naive webhook, driven like the API server.

One run on this machine: each server runs alone with one worker pinned to CPU 0; wrk (HTTP/1.1 over
TLS, kept-alive connections, POSTs of AdmissionReview v1 bodies) runs pinned to CPU 1, so the load
generator never competes with the server for its core. Prints a table, writes bench/out/results.json
and one latency plot per concurrency, and checks the targets of the performance issue.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import micro
from workload import ROOT, fifty_policies, write_bodies

from webhook.cluster.certs import ensure_dev_certificates

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
DURATION = int(os.environ.get("BENCH_DURATION", "5"))
CONCURRENCY = (1, 8, 64)
SERVER_CPU, LOAD_CPU = "0", "1"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    ready_seconds: float = 0.0

    def pids(self) -> list[int]:
        """The server process and its descendants (granian serves from a worker process)."""
        assert self.process is not None
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
        tree, frontier = [self.process.pid], [self.process.pid]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            tree += frontier
        return tree

    def proc(self, field: str) -> int:
        """A ``/proc/<pid>/status`` value in kB (VmRSS, VmHWM), summed over the server's processes."""
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        return total

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / TICKS


def _ready(port: int, context: ssl.SSLContext) -> bool:
    for path in ("/readyz", "/mutate"):
        try:
            with urllib.request.urlopen(
                f"https://127.0.0.1:{port}{path}", context=context, timeout=1
            ) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 405):  # the references have no /readyz; answering at all is ready
                return True
        except OSError:
            return False
    return False


def start(server: Server, port: int, context: ssl.SSLContext) -> None:
    log = (OUT / f"{server.name}.log").open("wb")
    started = time.perf_counter()
    server.process = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, *server.command, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "BENCH_POLICIES": str(ROOT / "policies.yaml")},
    )
    server.port = port
    while not _ready(port, context):
        if server.process.poll() is not None or time.perf_counter() - started > 30:
            raise SystemExit(f"{server.name} did not start; see {OUT / (server.name + '.log')}")
        time.sleep(0.01)
    server.ready_seconds = time.perf_counter() - started


def stop(server: Server) -> None:
    if server.process and server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()


def wrk(port: int, body: Path, connections: int, seconds: int) -> dict[str, Any]:
    """One wrk run; returns its JSON line plus the load generator's own CPU use."""
    before = os.times()
    result = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CPU,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "mutate.lua"),
            f"https://127.0.0.1:{port}/mutate",
        ],
        env={**os.environ, "BODY": str(body)},
        capture_output=True,
        text=True,
        check=True,
    )
    after = os.times()
    line = next(x for x in result.stdout.splitlines() if x.startswith("{"))
    stats: dict[str, Any] = json.loads(line)
    load_cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    stats["load_cpu_percent"] = round(100 * load_cpu / (stats["duration_us"] / 1e6), 1)
    return stats


def run_server(
    server: Server, bodies: dict[str, Path], kinds: list[str], port: int, context: ssl.SSLContext
) -> list[dict[str, Any]]:
    start(server, port, context)
    rows = []
    try:
        wrk(port, bodies[kinds[0]], 8, 1)  # warm up: imports, caches, TLS session
        for kind in kinds:
            for connections in CONCURRENCY:
                cpu_before = server.cpu_seconds()
                stats = wrk(port, bodies[kind], connections, DURATION)
                seconds = stats["duration_us"] / 1e6
                rows.append(
                    {
                        "server": server.name,
                        "pod": kind,
                        "concurrency": connections,
                        "rps": round(stats["requests"] / seconds, 1),
                        "p50_ms": stats["p50_us"] / 1000,
                        "p99_ms": stats["p99_us"] / 1000,
                        "max_ms": stats["max_us"] / 1000,
                        "errors": stats["non2xx"]
                        + stats["connect_errors"]
                        + stats["read_errors"]
                        + stats["write_errors"]
                        + stats["timeouts"],
                        "server_cpu_percent": round(100 * (server.cpu_seconds() - cpu_before) / seconds, 1),
                        "load_cpu_percent": stats["load_cpu_percent"],
                        "peak_rss_mb": round(server.proc("VmHWM") / 1024, 1),
                    }
                )
                print(f"  {rows[-1]}", flush=True)
        rows_rss = round(server.proc("VmRSS") / 1024, 1)
        for row in rows:
            row["rss_after_mb"] = rows_rss
            row["ready_seconds"] = round(server.ready_seconds, 3)
    finally:
        stop(server)
    return rows


def servers(python: str, cert_dir: Path, fifty: Path) -> list[tuple[Server, list[str]]]:
    ours = [
        python,
        "-m",
        "webhook",
        "serve",
        "--host",
        "127.0.0.1",
        "--cert-dir",
        str(cert_dir),
        "--no-dev-certs",
    ]
    reference = [
        python,
        str(BENCH / "serve_reference.py"),
        "--cert-dir",
        str(cert_dir),
        "--policies",
        str(ROOT / "policies.yaml"),
    ]
    chosen = [
        (Server("ours", [*ours, "--policies", str(ROOT / "policies.yaml")]), ["gpu", "cpu", "component"]),
        (Server("ours-50", [*ours, "--policies", str(fifty)]), ["gpu"]),
        (Server("floor", [*reference[:2], "floor", *reference[2:]]), ["gpu"]),
        (Server("naive", [*reference[:2], "naive", *reference[2:]]), ["gpu"]),
    ]
    granian = shutil.which("granian", path=str(Path(python).parent))
    if granian:  # the server-stack comparison: the same apps on granian (Rust HTTP and TLS)
        stack = [granian, "--interface", "asgi", "--workers", "1", "--loop", "uvloop", "--host", "127.0.0.1",
                 "--ssl-certificate", str(cert_dir / "tls.crt"), "--ssl-keyfile", str(cert_dir / "tls.key"),
                 "--log-level", "warning", "--working-dir", str(BENCH)]  # fmt: skip
        chosen += [
            (Server("floor-granian", [*stack, "granian_apps:floor"]), ["gpu"]),
            (Server("ours-granian", [*stack, "--factory", "granian_apps:ours"]), ["gpu"]),
        ]
    return chosen


def find(rows: list[dict[str, Any]], server: str, pod: str, concurrency: int) -> dict[str, Any]:
    return next(r for r in rows if (r["server"], r["pod"], r["concurrency"]) == (server, pod, concurrency))


def check_targets(rows: list[dict[str, Any]], engine: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    ours8, floor8, naive8 = (find(rows, s, "gpu", 8) for s in ("ours", "floor", "naive"))
    gpu50 = next(e for e in engine if e["pod"] == "gpu" and e["policies"] == 50)
    ours = [r for r in rows if r["server"] in ("ours", "ours-50")]  # granian rows are a comparison only
    worst_p99_1 = max(r["p99_ms"] for r in ours if r["concurrency"] == 1)
    worst_p99_64 = max(r["p99_ms"] for r in ours if r["concurrency"] == 64)
    return [
        (
            "throughput c=8 GPU ≥ 50% of floor",
            ours8["rps"] >= 0.5 * floor8["rps"],
            f"{ours8['rps'] / floor8['rps']:.2f}× floor",
        ),
        (
            "throughput c=8 GPU ≥ 2× naive",
            ours8["rps"] >= 2 * naive8["rps"],
            f"{ours8['rps'] / naive8['rps']:.2f}× naive",
        ),
        ("p99 at c=1 < 1 ms", worst_p99_1 < 1.0, f"worst {worst_p99_1:.3f} ms"),
        ("p99 at c=64 < 20 ms", worst_p99_64 < 20.0, f"worst {worst_p99_64:.3f} ms"),
        (
            "zero non-2xx or socket errors",
            all(r["errors"] == 0 for r in rows),
            f"{sum(r['errors'] for r in rows)} errors",
        ),
        ("engine < 100 µs, GPU Pod, 50 policies", gpu50["engine_us"] < 100, f"{gpu50['engine_us']} µs"),
        (
            "ready within 2 s",
            all(r["ready_seconds"] < 2 for r in ours),
            f"{max(r['ready_seconds'] for r in ours):.2f} s",
        ),
        (
            "RSS < 100 MB after the benchmark",
            all(r["rss_after_mb"] < 100 for r in ours),
            f"{max(r['rss_after_mb'] for r in ours)} MB",
        ),
    ]


def print_tables(
    rows: list[dict[str, Any]], engine: list[dict[str, Any]], targets: list[tuple[str, bool, str]]
) -> None:
    header = f"{'server':8} {'pod':9} {'c':>3} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'err':>4} {'cpu%':>6} {'wrk%':>5} {'peakMB':>7}"
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        print(
            f"{r['server']:8} {r['pod']:9} {r['concurrency']:>3} {r['rps']:>8.0f} {r['p50_ms']:>7.3f} {r['p99_ms']:>7.3f} "
            f"{r['max_ms']:>7.2f} {r['errors']:>4} {r['server_cpu_percent']:>6.1f} {r['load_cpu_percent']:>5.1f} {r['peak_rss_mb']:>7.1f}"
        )
    print("\nratios (GPU Pod):")
    for c in CONCURRENCY:
        ours, floor, naive = (find(rows, s, "gpu", c)["rps"] for s in ("ours", "floor", "naive"))
        line = f"  c={c:<3} ours/floor {ours / floor:.2f}   ours/naive {ours / naive:.2f}"
        if any(r["server"] == "ours-granian" for r in rows):
            on_granian = find(rows, "ours-granian", "gpu", c)["rps"]
            line += f"   ours-granian/ours {on_granian / ours:.2f}   floor-granian/floor {find(rows, 'floor-granian', 'gpu', c)['rps'] / floor:.2f}"
        print(line)
    print("\nengine alone (µs per review, best of 7):")
    for e in engine:
        print(
            f"  {e['pod']:9} {e['policies']:>2} policies: engine {e['engine_us']:>6.1f}  decode+decide+encode {e['decode_decide_encode_us']:>6.1f}"
        )
    print("\ntargets:")
    for name, ok, detail in targets:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")


def plot(rows: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    for c in CONCURRENCY:
        picked = [r for r in rows if r["concurrency"] == c]
        labels = [f"{r['server']}\n{r['pod']}" for r in picked]
        figure, axis = plt.subplots(figsize=(10, 4.5))
        positions = range(len(picked))
        for offset, (key, label) in enumerate((("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max"))):
            axis.bar(
                [p + (offset - 1) * 0.27 for p in positions],
                [r[key] for r in picked],
                width=0.27,
                label=label,
            )
        axis.set_xticks(list(positions), labels, fontsize=8)
        axis.set_yscale("log")
        axis.set_ylabel("latency (ms, log scale)")
        axis.set_title(
            f"Admission latency at concurrency {c} ({DURATION} s per run, HTTP/1.1 over TLS, keep-alive)"
        )
        axis.legend()
        figure.tight_layout()
        path = OUT / f"latency-c{c}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        files.append(str(path.relative_to(ROOT)))
    return files


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
    }


def main() -> int:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs it with apt-get)")
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    cert_dir = OUT / "certs"
    ensure_dev_certificates(cert_dir)
    context = ssl.create_default_context(cafile=str(cert_dir / "ca.crt"))
    bodies = write_bodies(OUT)
    fifty = OUT / "policies-50.yaml"
    fifty.write_text(fifty_policies())
    print(
        f"machine: {machine()}\nbodies: " + ", ".join(f"{k} {p.stat().st_size} B" for k, p in bodies.items())
    )
    rows: list[dict[str, Any]] = []
    for index, (server, kinds) in enumerate(servers(sys.executable, cert_dir, fifty)):
        print(f"{server.name}:", flush=True)
        rows += run_server(server, bodies, kinds, 18443 + index, context)
    print("engine micro-benchmark...", flush=True)
    engine = micro.measure()
    targets = check_targets(rows, engine)
    print_tables(rows, engine, targets)
    plots = plot(rows)
    results = {
        "machine": machine(),
        "duration_seconds": DURATION,
        "runs": rows,
        "engine": engine,
        "targets": [{"name": n, "met": ok, "detail": d} for n, ok, d in targets],
        "plots": plots,
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {OUT.relative_to(ROOT)}/results.json and {', '.join(plots)}")
    return 0 if all(ok for _, ok, _ in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
