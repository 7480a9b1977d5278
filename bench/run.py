"""``make bench``: placement-webhook against its floors and a naive webhook, driven like the API server.

Every server runs with one worker pinned to CPU 0; wrk (HTTP/1.1 over TLS, kept-alive connections,
POSTs of AdmissionReview v1 bodies) runs pinned to CPU 1, so the load generator never competes with
the server for its core. All servers are started first (one after the other, each timed until it
answers) and stay up idle; the runs then alternate between them (ours, floor, ours, floor...) in
``BENCH_ROUNDS`` rounds (the 5-second runs at concurrency 1 in at least 3), so a change in the
machine's load between runs hits every server alike and the ratios come from runs minutes apart at
most. A run during which the hypervisor took more than ``BENCH_STEAL_LIMIT`` (1 %) of either CPU
(steal time, ``/proc/stat``) is measured again, up to ``BENCH_RETRIES`` (2) times: on a shared VM
that is what turns a p99 of 0.7 ms into 2.5 ms, for the floors as for us. Last come the paired
runs: ours and the parsing floor served at the same time on CPU 0, each by its own wrk, so that
the machine's moods hit both alike; the throughput target is judged on them. Prints a table, writes
bench/out/results.json and one latency plot per concurrency, and checks the targets of the
performance issue.
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
import threading
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
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
LATENCY_ROUNDS = max(ROUNDS, 3)  # c=1 runs: 5 s each, and the p99 target is judged on their median


def rounds_of(concurrency: int) -> int:
    return LATENCY_ROUNDS if concurrency == 1 else ROUNDS


CONCURRENCY = (1, 8, 64)
STEAL_LIMIT = float(os.environ.get("BENCH_STEAL_LIMIT", "0.01"))  # of one CPU, during a run
RETRIES = int(os.environ.get("BENCH_RETRIES", "2"))
SERVER_CPU, LOAD_CPU = "0", "1"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str] | None = None
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
        env={**os.environ, "BENCH_POLICIES": str(ROOT / "policies.yaml"), **(server.env or {})},
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


def _errors(stats: dict[str, Any]) -> int:
    return int(
        stats["non2xx"]
        + stats["connect_errors"]
        + stats["read_errors"]
        + stats["write_errors"]
        + stats["timeouts"]
    )


def steal_ticks() -> dict[str, int]:
    """Per CPU, the time the hypervisor ran something else while this VM wanted the CPU
    (``/proc/stat``'s eighth field, in clock ticks)."""
    ticks = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name in (f"cpu{SERVER_CPU}", f"cpu{LOAD_CPU}"):
            ticks[name] = int(fields[7])
    return ticks


def measure(server: Server, body: Path, pod: str, connections: int, round_: int) -> dict[str, Any]:
    """One run, measured again (up to ``BENCH_RETRIES`` times) while the hypervisor took more than
    ``STEAL_LIMIT`` of either CPU during it: a stolen run's latencies say nothing about the server.
    The rejected attempts stay in the row (``stolen_attempts``)."""
    rejected: list[dict[str, Any]] = []
    while True:
        row = _measure_once(server, body, pod, connections, round_)
        if row["steal_percent"] <= STEAL_LIMIT * 100 or len(rejected) == RETRIES:
            row["stolen_attempts"] = rejected
            return row
        print(f"  (stolen: {row['steal_percent']}% of a CPU; measured again)", flush=True)
        rejected.append(row)


def _measure_once(server: Server, body: Path, pod: str, connections: int, round_: int) -> dict[str, Any]:
    cpu_before, steal_before = server.cpu_seconds(), steal_ticks()
    stats = wrk(server.port, body, connections, DURATION)
    steal_after = steal_ticks()
    seconds = stats["duration_us"] / 1e6
    row = {
        "server": server.name,
        "pod": pod,
        "concurrency": connections,
        "round": round_,
        "rps": round(stats["requests"] / seconds, 1),
        "p50_ms": stats["p50_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
        "max_ms": stats["max_us"] / 1000,
        "errors": _errors(stats),
        "server_cpu_percent": round(100 * (server.cpu_seconds() - cpu_before) / seconds, 1),
        "requests_per_cpu_second": round(stats["requests"] / max(server.cpu_seconds() - cpu_before, 1e-9)),
        "load_cpu_percent": stats["load_cpu_percent"],
        "peak_rss_mb": round(server.proc("VmHWM") / 1024, 1),
        "load_average": round(os.getloadavg()[0], 2),
        "steal_percent": round(
            max(steal_after[cpu] - steal_before[cpu] for cpu in steal_after) / TICKS / seconds * 100, 1
        ),
    }
    print(f"  {row}", flush=True)
    return row


PAIRED = (("ours", "floor"), ("ours-50", "floor"))


def paired_run(a: Server, b: Server, body: Path, connections: int, round_: int) -> dict[str, Any]:
    """``a`` and ``b`` served at the same time, both on CPU 0, each driven by its own wrk (both on
    CPU 1): whatever the machine does during the run (steal, a noisy neighbour's cache, the clock)
    it does to both at once, which alternating runs cannot promise. Compared by requests per
    CPU-second of each server (each gets about half of the core)."""
    results: dict[str, dict[str, Any]] = {}
    cpu_before = {server.name: server.cpu_seconds() for server in (a, b)}

    def drive(server: Server) -> None:
        results[server.name] = wrk(server.port, body, connections, DURATION)

    threads = [threading.Thread(target=drive, args=(server,)) for server in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rates = {
        server.name: results[server.name]["requests"]
        / max(server.cpu_seconds() - cpu_before[server.name], 1e-9)
        for server in (a, b)
    }
    row = {"server": a.name, "reference": b.name, "concurrency": connections, "round": round_,
           "requests_per_cpu_second": {name: round(rate) for name, rate in rates.items()},
           "errors": sum(_errors(results[name]) for name in results),
           "ratio": round(rates[a.name] / rates[b.name], 3)}  # fmt: skip
    print(f"  paired {a.name} / {b.name} c={connections}: {row['ratio']}", flush=True)
    return row


def run_all(
    chosen: list[tuple[Server, list[str]]], bodies: dict[str, Path], context: ssl.SSLContext
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Start every server, then alternate the runs between them, round after round; then the
    paired runs (``paired_run``) of ours against the parsing floor."""
    rows: list[dict[str, Any]] = []
    paired: list[dict[str, Any]] = []
    try:
        for index, (server, kinds) in enumerate(chosen):
            start(server, 18443 + index, context)
            wrk(server.port, bodies[kinds[0]], 8, 1)  # warm up: imports, caches, TLS session
            print(f"{server.name}: ready in {server.ready_seconds:.2f} s", flush=True)
        for round_ in range(LATENCY_ROUNDS):
            for connections in (c for c in CONCURRENCY if round_ < rounds_of(c)):
                for server, kinds in chosen:
                    if server.name == "naive" and round_:  # 15x slower than ours: one round says it
                        continue
                    for kind in kinds:
                        rows.append(measure(server, bodies[kind], kind, connections, round_))
        by_name = {server.name: server for server, _ in chosen}
        for round_ in range(ROUNDS):
            for a, b in PAIRED:
                paired.append(paired_run(by_name[a], by_name[b], bodies["gpu"], 8, round_))
        for server, _ in chosen:
            rss = round(server.proc("VmRSS") / 1024, 1)
            for row in rows:
                if row["server"] == server.name:
                    row["rss_after_mb"] = rss
                    row["ready_seconds"] = round(server.ready_seconds, 3)
    finally:
        for server, _ in chosen:
            stop(server)
    return rows, paired


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (server, pod, c): mean req/s over the rounds, worst p99 and max."""
    grouped: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["server"], row["pod"], row["concurrency"]), []).append(row)
    result = []
    for runs in grouped.values():
        merged = dict(runs[-1])
        merged["rps"] = round(sum(r["rps"] for r in runs) / len(runs), 1)
        for key in ("p50_ms", "p99_ms", "max_ms", "peak_rss_mb", "server_cpu_percent", "load_cpu_percent",
                    "steal_percent"):  # fmt: skip
            merged[key] = (
                max(r[key] for r in runs) if key != "p50_ms" else sorted(r[key] for r in runs)[len(runs) // 2]
            )
        merged["errors"] = sum(r["errors"] for r in runs)
        merged["rounds"] = len(runs)
        result.append(merged)
    return result


def round_ratios(
    rows: list[dict[str, Any]], server: str, reference: str, concurrency: int, key: str = "rps"
) -> list[float]:
    """ours / reference for the GPU Pod, per round (each pair measured back to back)."""
    ratios = []
    for round_ in range(rounds_of(concurrency)):
        a = [
            r
            for r in rows
            if (r["server"], r["pod"], r["concurrency"], r["round"]) == (server, "gpu", concurrency, round_)
        ]
        b = [
            r
            for r in rows
            if (r["server"], r["pod"], r["concurrency"], r["round"])
            == (reference, "gpu", concurrency, round_)
        ]
        if a and b:
            ratios.append(round(a[0][key] / b[0][key], 3))
    return ratios


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
        (Server("floor-bare", [*reference[:2], "floor-bare", *reference[2:]]), ["gpu"]),
        (Server("naive", [*reference[:2], "naive", *reference[2:]]), ["gpu"]),
    ]
    baseline = os.environ.get("BENCH_BASELINE")
    if baseline:  # another tree's webhook/ (e.g. `git archive <commit> webhook | tar -x -C dir`), same runs
        env = {"PYTHONPATH": baseline}
        chosen[2:2] = [
            (Server("before", [*ours, "--policies", str(ROOT / "policies.yaml")], env), ["gpu"]),
            (Server("before-50", [*ours, "--policies", str(fifty)], env), ["gpu"]),
        ]
    granian = shutil.which("granian", path=str(Path(python).parent))
    if granian and os.environ.get(
        "BENCH_GRANIAN"
    ):  # the server-stack comparison: the same apps on granian (Rust HTTP and TLS)
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


def ratio_table(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per concurrency, each of ours (bundled, 50 policies) over each floor: the mean of the
    per-round ratios (each from two runs back to back) and their spread."""
    table = []
    for c in CONCURRENCY:
        for server in ("ours", "ours-50", "before", "before-50"):
            for reference in ("floor", "floor-bare"):
                ratios = round_ratios(raw, server, reference, c)
                per_cpu = round_ratios(raw, server, reference, c, "requests_per_cpu_second")
                if ratios:
                    table.append(
                        {"server": server, "reference": reference, "concurrency": c, "rounds": ratios,
                         "ratio": round(sum(ratios) / len(ratios), 3),
                         "cpu_rounds": per_cpu, "cpu_ratio": round(sum(per_cpu) / len(per_cpu), 3)}
                    )  # fmt: skip
    return table


def _stolen_note(rows: list[dict[str, Any]], concurrency: int) -> str:
    """Which of these runs the hypervisor still took CPU from after every retry, if any."""
    stolen = [r for r in rows if r["concurrency"] == concurrency and r["steal_percent"] > STEAL_LIMIT * 100]
    if not stolen:
        return ""
    names = ", ".join(f"{r['server']} {r['pod']} ({r['steal_percent']}% stolen)" for r in stolen)
    return f"; stolen from after {RETRIES} retries: {names}"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def latency_at_1(raw: list[dict[str, Any]]) -> tuple[float, str]:
    """The p99 at c=1 of each of ours' (server, Pod) runs, as the median over the rounds, and the
    worst of those medians: one 5-second run on a shared VM is one sample of the machine's state;
    the worst single round is reported beside it, with the steal time it had."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in raw:
        if r["server"] in ("ours", "ours-50") and r["concurrency"] == 1:
            runs.setdefault((r["server"], r["pod"]), []).append(r)
    medians = {key: _median([r["p99_ms"] for r in rs]) for key, rs in runs.items()}
    worst = max((r for rs in runs.values() for r in rs), key=lambda r: r["p99_ms"])
    detail = (
        f"median over {LATENCY_ROUNDS} rounds: "
        + ", ".join(f"{server} {pod} {m:.3f} ms" for (server, pod), m in medians.items())
        + f"; worst round {worst['p99_ms']:.3f} ms ({worst['server']} {worst['pod']} round {worst['round']},"
        f" {worst['steal_percent']}% stolen)"
    )
    return max(medians.values()), detail


def check_targets(
    raw: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    ratios: list[dict[str, Any]],
    engine: list[dict[str, Any]],
    paired: list[dict[str, Any]],
) -> list[tuple[str, bool, str]]:
    """The issue's targets. Throughput is judged on the paired runs (``paired_run``: ours and the
    floor at the same time), the alternating runs' ratio is printed beside it: on this shared VM
    the rate of one server moves by up to 2x between two runs a minute apart, and the paired
    ratio's rounds agree within a few percent."""
    pairs = {
        server: [r["ratio"] for r in paired if r["server"] == server and r["reference"] == "floor"]
        for server in ("ours", "ours-50")
    }
    pair_mean = {server: sum(r) / len(r) for server, r in pairs.items()}
    ours8, naive8 = (find(rows, s, "gpu", 8) for s in ("ours", "naive"))
    engine_us = {(e["pod"], e["policies"]): e["engine_us"] for e in engine}
    ours = [r for r in rows if r["server"] in ("ours", "ours-50")]  # granian rows are a comparison only
    p99_1, p99_1_detail = latency_at_1(raw)
    p99_64 = {server: round_ratios(raw, server, "floor", 64, "p99_ms") for server in ("ours", "ours-50")}
    p99_64_mean = {server: sum(r) / len(r) for server, r in p99_64.items()}
    at8 = {r["server"]: r for r in ratios if r["concurrency"] == 8 and r["reference"] == "floor"}
    return [
        *(
            (
                f"throughput c=8 GPU, {label}, ≥ 0.5× parsing floor",
                pair_mean[server] >= 0.5,
                f"paired {pair_mean[server]:.2f}× (rounds {pairs[server]}); alternating runs"
                f" {at8[server]['ratio']:.2f}× (rounds {at8[server]['rounds']}; per server CPU-second"
                f" {at8[server]['cpu_ratio']:.2f}×)",
            )
            for server, label in (("ours", "bundled policies"), ("ours-50", "50 policies"))
        ),
        (
            "throughput c=8 GPU ≥ 2× naive",
            ours8["rps"] >= 2 * naive8["rps"],
            f"{ours8['rps'] / naive8['rps']:.2f}× naive",
        ),
        ("p99 at c=1 < 1 ms", p99_1 < 1.0, f"{p99_1:.3f} ms ({p99_1_detail}){_stolen_note(ours, 1)}"),
        (
            "p99 at c=64 ≤ 2× the parsing floor's (as the throughput target: half the rate, twice the queue)",
            all(m <= 2.0 for m in p99_64_mean.values()),
            ", ".join(f"{server} {p99_64_mean[server]:.2f}× (rounds {p99_64[server]})" for server in p99_64),
        ),
        (
            "zero non-2xx or socket errors",
            all(r["errors"] == 0 for r in [*rows, *paired]),
            f"{sum(r['errors'] for r in [*rows, *paired])} errors",
        ),
        (
            "review_pod ≤ 15 µs, GPU Pod, bundled policies",
            engine_us["gpu", 3] <= 15,
            f"{engine_us['gpu', 3]} µs",
        ),
        (
            "review_pod ≤ 40 µs, GPU Pod, 50 policies",
            engine_us["gpu", 50] <= 40,
            f"{engine_us['gpu', 50]} µs",
        ),
        (
            "ready within 1 s",
            all(r["ready_seconds"] < 1 for r in ours),
            f"{max(r['ready_seconds'] for r in ours):.2f} s",
        ),
        (
            "RSS < 100 MB after the benchmark",
            all(r["rss_after_mb"] < 100 for r in ours),
            f"{max(r['rss_after_mb'] for r in ours)} MB",
        ),
    ]


def print_tables(
    rows: list[dict[str, Any]],
    ratios: list[dict[str, Any]],
    engine: list[dict[str, Any]],
    targets: list[tuple[str, bool, str]],
) -> None:
    header = f"{'server':10} {'pod':9} {'c':>3} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'err':>4} {'cpu%':>6} {'wrk%':>5} {'peakMB':>7} {'steal%':>6}"
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        print(
            f"{r['server']:10} {r['pod']:9} {r['concurrency']:>3} {r['rps']:>8.0f} {r['p50_ms']:>7.3f} {r['p99_ms']:>7.3f} "
            f"{r['max_ms']:>7.2f} {r['errors']:>4} {r['server_cpu_percent']:>6.1f} {r['load_cpu_percent']:>5.1f} {r['peak_rss_mb']:>7.1f} {r['steal_percent']:>6.1f}"
        )
    print("\nratios (GPU Pod; mean of the per-round ratios, each round's in brackets):")
    for r in ratios:
        print(
            f"  c={r['concurrency']:<3} {r['server']:8} / {r['reference']:10} {r['ratio']:.2f}  {r['rounds']}"
        )
    for c in CONCURRENCY:
        ours, naive = (find(rows, s, "gpu", c)["rps"] for s in ("ours", "naive"))
        line = f"  c={c:<3} ours/naive {ours / naive:.2f}"
        if any(r["server"] == "ours-granian" for r in rows):
            floor = find(rows, "floor", "gpu", c)["rps"]
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
    print(f"load average before: {os.getloadavg()}", flush=True)
    raw, paired = run_all(servers(sys.executable, cert_dir, fifty), bodies, context)
    rows = summary(raw)
    ratios = ratio_table(raw)
    print("engine micro-benchmark...", flush=True)
    engine = micro.measure()
    targets = check_targets(raw, rows, ratios, engine, paired)
    print_tables(rows, ratios, engine, targets)
    plots = plot(rows)
    results = {
        "machine": machine(),
        "duration_seconds": DURATION,
        "rounds": ROUNDS,
        "latency_rounds": LATENCY_ROUNDS,
        "load_average_after": os.getloadavg(),
        "runs": raw,
        "paired": paired,
        "summary": rows,
        "ratios": ratios,
        "engine": engine,
        "targets": [{"name": n, "met": ok, "detail": d} for n, ok, d in targets],
        "plots": plots,
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {OUT.relative_to(ROOT)}/results.json and {', '.join(plots)}")
    return 0 if all(ok for _, ok, _ in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
