"""``make soak``: steady admissions to two real servers while policies, certificates and processes change.

Server A lives throughout; server B is taken out of service, sent SIGTERM and restarted (a new
process, as a new Pod) again and again. Both read one policy file laid out as a mounted ConfigMap
and one certificate folder. Faults come one at a time, spread over the run:

- ``valid``: a new policy version, swapped in with the kubelet's ``..data`` symlink swap; every
  version renames its policies (``gpu-servers-v3``), so an answer shows which version decided it;
- ``invalid``: a broken file (bad operator, YAML bomb, unknown key, not YAML), which must be
  rejected while the last good version keeps serving;
- ``rotate``: a new CA and serving certificate (twice per run); clients trust all CAs, as the API
  server's ``caBundle`` does during a rotation;
- ``restart``: B leaves the endpoints, gets a preStop-like second to drain, SIGTERM (exit 0
  expected), and a new B joins once ready.

Every answer is checked against the versions that could have been in force while it was in flight.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import platform
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from soak.load import Endpoints, Load, Timeline, Verdict, request_mix, verify
from tests.helpers import BUNDLED_POLICIES, yaml_bomb
from tests.server_helpers import ConfigMapDir, RunningServer, TlsConnection, rss_kib, running_server
from webhook.admission.handler import answer_review
from webhook.cluster.certs import KeyPair, build_ca, build_serving_certificate, service_hostnames
from webhook.engine.handlers import Mutator
from webhook.engine.memo import LoadedPolicies
from webhook.policy.loading import load_policies_text

INVALID = [
    (
        "bad operator",
        "version: 1\npolicies:\n- name: broken\n  placement: {tolerations: [{key: a, operator: Bad}]}\n",
    ),
    ("YAML bomb", yaml_bomb()),
    (
        "unknown key",
        "version: 1\npolicies:\n- name: typo\n  placment: {tolerations: [{key: a, operator: Exists}]}\n",
    ),
    ("not YAML", "version: 1\npolicies: [unclosed\n"),
]
ENV = {"PLACEMENT_WEBHOOK_RELOAD_INTERVAL": "0.2"}
CONFIRM_TIMEOUT = 30.0


def policy_version(n: int) -> str:
    """The bundled policies with every name suffixed ``-v{n}``: answers identify their version."""
    document = yaml.safe_load(BUNDLED_POLICIES.read_text())
    for policy in document["policies"]:
        policy["name"] = f"{policy['name']}-v{n}"
    return yaml.safe_dump(document, sort_keys=False)


def fault_schedule(count: int) -> list[str]:
    """``count`` faults: valid/invalid/valid/restart cycles, with two rotations at a third and two thirds."""
    cycle = ["valid", "invalid", "valid", "restart"]
    faults = [cycle[i % len(cycle)] for i in range(max(4, count) - 2)]
    for position in (len(faults) * 2 // 3, len(faults) // 3):
        faults.insert(position, "rotate")
    return faults


@dataclass
class Window:
    kind: str
    start: float
    end: float
    note: str = ""


@dataclass
class Report:
    seconds: float
    sent: int
    verdict: Verdict
    windows: list[tuple[Window, int, float | None]]
    steady_p99: float | None
    steady_p50: float | None
    rss_start_kib: int
    rss_end_kib: int
    b_exit_codes: list[int]
    versions: int

    def lines(self) -> list[str]:
        v = self.verdict
        out = [
            f"duration {self.seconds:.0f} s; policy versions {self.versions};"
            f" B SIGTERM exit codes {self.b_exit_codes}",
            f"requests sent {self.sent}, answered {v.answered}, failed {v.failed}, wrong {v.wrong}"
            f" (retried once on a closed idle connection: {v.retried})",
            f"server A RSS start {self.rss_start_kib} KiB, end {self.rss_end_kib} KiB"
            f" ({self.rss_end_kib - self.rss_start_kib:+d} KiB)",
            f"latency outside fault windows: p50 {_ms(self.steady_p50)}, p99 {_ms(self.steady_p99)}",
            "fault windows (from the fault until confirmed, at least 2 s): kind, requests, p99, note",
        ]
        for window, count, p99 in self.windows:
            span = window.end - window.start
            out.append(f"  {window.kind:8s} {span:5.1f} s  {count:6d}  {_ms(p99):>9s}  {window.note}")
        out.extend(f"  example: {example}" for example in v.examples)
        return out


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def percentile(values: list[float], fraction: float = 0.99) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def wait_until(predicate: Callable[[], bool], timeout: float = CONFIRM_TIMEOUT) -> float:
    """Poll until true; the time it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"not confirmed within {timeout} s")


class Soak:
    """Two servers, the load, the faults, and what happened when."""

    def __init__(self, work: Path, *, rate: float, workers: int) -> None:
        self.work = work
        self.stack = contextlib.ExitStack()
        for folder in ("a", "b"):
            (work / folder).mkdir()
        self.configmap = ConfigMapDir(work / "policies", policy_version(1))
        self.timeline = Timeline()
        self.timeline.add(load_policies_text(policy_version(1)), swapped=float("-inf"))
        self.a = self.stack.enter_context(
            running_server(work / "a", policies=self.configmap.path, env=ENV, cert_dir=work / "certs")
        )
        self.new_cas = [build_ca(), build_ca()]  # for the two rotations, trusted from the start
        self.cas = [self.a.ca.read_bytes().decode(), *(ca.cert_pem.decode() for ca in self.new_cas)]
        self.rotations: list[KeyPair] = []
        self.b_stack = contextlib.ExitStack()
        self.b = self._start_b()
        self.endpoints = Endpoints()
        self.endpoints.set("A", self.a.port)
        self.endpoints.set("B", self.b.port)
        self.context = ssl.create_default_context(cadata="".join(self.cas))
        self.reviews = request_mix()
        self.probe = self.reviews[0]
        self.load = Load(self.endpoints, self.context, rate=rate, workers=workers)
        self.windows: list[Window] = []
        self.b_exit_codes: list[int] = []
        self.invalid_count = 0

    def _start_b(self) -> RunningServer:
        return self.b_stack.enter_context(
            running_server(
                self.work / "b", policies=self.configmap.path, env=ENV, cert_dir=self.work / "certs"
            )
        )

    def live(self) -> list[RunningServer]:
        return [self.a, self.b] if "B" in self.endpoints.ports else [self.a]

    def _answers(self, server: RunningServer, version: int) -> bool:
        expected = answer_review(Mutator(), self.probe, LoadedPolicies(self.timeline.versions[version]))
        with TlsConnection(server.port, self.context) as conn:
            return conn.review(self.probe) == expected

    def valid(self) -> str:
        n = len(self.timeline.versions) + 1
        text = policy_version(n)
        started = time.monotonic()
        self.configmap.update(text)
        self.timeline.add(load_policies_text(text), swapped=started)
        version = len(self.timeline.versions) - 1
        self.timeline.confirm(wait_until(lambda: all(self._answers(s, version) for s in self.live())))
        return f"v{n}"

    def invalid(self) -> str:
        label, text = INVALID[self.invalid_count % len(INVALID)]
        self.invalid_count += 1
        self.configmap.update(text)
        wait_until(lambda: all(s.readyz()["lastReloadError"] for s in self.live()))
        current = len(self.timeline.versions) - 1
        assert all(self._answers(s, current) for s in self.live()), "an invalid file changed the answers"
        return f"{label} rejected"

    def rotate(self) -> str:
        ca = self.new_cas[len(self.rotations) % len(self.new_cas)]
        serving = build_serving_certificate(
            ca, ["localhost", "127.0.0.1", *service_hostnames("placement-webhook", "placement-webhook")]
        )
        self.rotations.append(serving)
        staging = self.work / "staging"
        staging.mkdir(exist_ok=True)
        for name, data in (
            ("ca.crt", ca.cert_pem),
            ("tls.crt", serving.cert_pem),
            ("tls.key", serving.key_pem),
        ):
            (staging / name).write_bytes(data)
            (staging / name).replace(self.work / "certs" / name)
        only_new = ssl.create_default_context(cadata=ca.cert_pem.decode())

        def serves_new() -> bool:
            try:
                for server in self.live():
                    TlsConnection(server.port, only_new).call("GET", "/healthz")
                return True
            except ssl.SSLError:
                return False

        wait_until(serves_new)
        return f"rotation {len(self.rotations)}"

    def restart(self) -> str:
        self.endpoints.set("B", None)
        time.sleep(1.0)  # preStop: endpoints are updated before the process stops accepting
        self.b_exit_codes.append(self.b.terminate())
        self.b_stack.close()
        self.b = self._start_b()
        wait_until(lambda: self.b.readyz()["status"] == 200)
        self.endpoints.set("B", self.b.port)
        return f"exit {self.b_exit_codes[-1]}"

    def run(self, seconds: float, faults: list[str]) -> Report:
        slot = seconds / (len(faults) + 1)
        begun = time.monotonic()
        time.sleep(min(2.0, slot / 2))
        rss_start = rss_kib(self.a.process)
        for i, kind in enumerate(faults):
            time.sleep(max(0.0, begun + slot * (i + 1) - time.monotonic()))
            started = time.monotonic()
            note = getattr(self, kind)()
            self.windows.append(Window(kind, started, max(time.monotonic(), started + 2.0), note))
        time.sleep(max(0.0, begun + seconds - time.monotonic()))
        self.load.stop()
        rss_end = rss_kib(self.a.process)
        return self._report(time.monotonic() - begun, rss_start, rss_end)

    def _report(self, seconds: float, rss_start: int, rss_end: int) -> Report:
        records = self.load.records
        verdict = verify(records, self.timeline, self.reviews)
        windows = []
        for w in self.windows:
            inside = [r.answered - r.sent for r in records if w.start <= r.sent <= w.end]
            windows.append((w, len(inside), percentile(inside)))
        steady = [
            r.answered - r.sent for r in records if not any(w.start <= r.sent <= w.end for w in self.windows)
        ]
        return Report(
            seconds,
            len(records),
            verdict,
            windows,
            percentile(steady),
            percentile(steady, 0.5),
            rss_start,
            rss_end,
            self.b_exit_codes,
            len(self.timeline.versions),
        )

    def close(self) -> None:
        self.load.stop()
        self.b_stack.close()
        self.stack.close()


def run_soak(work: Path, *, seconds: float, rate: float, workers: int, faults: int) -> Report:
    soak = Soak(work, rate=rate, workers=workers)
    try:
        return soak.run(seconds, fault_schedule(faults))
    finally:
        soak.close()


def machine() -> list[str]:
    return [
        f"date {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"uname -a: {' '.join(platform.uname())}",
        f"nproc: {subprocess.run(['nproc'], capture_output=True, text=True, check=False).stdout.strip()}",
        f"python {sys.version.split()[0]}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak.run", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=150.0, help="requests per second, all workers together")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="soak-") as work:
        report = run_soak(
            Path(work),
            seconds=seconds,
            rate=args.rate,
            workers=args.workers,
            faults=max(6, int(seconds // 10)),
        )
    for line in [*machine(), f"rate {args.rate:g}/s, {args.workers} workers", *report.lines()]:
        print(line)
    return 0 if report.verdict.failed == 0 and report.verdict.wrong == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
