"""Steady admission load over kept-alive TLS connections, and the check of every answer afterwards.

Workers pace themselves to a total rate, spread requests over the endpoints that are in service
(as a Service spreads them over ready Pods) and record each request: when it was sent and
answered, what was sent, and the answer or the error. ``verify`` then decides every answer against
the policy versions that could have been in force while it was in flight (``Timeline``), using the
webhook's own pure ``decide``, so an answer from the wrong version or a corrupted one is counted.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.helpers import admission_review, fixture
from tests.server_helpers import TlsConnection
from webhook.admission.handler import answer_review
from webhook.engine.handlers import Mutator
from webhook.engine.memo import LoadedPolicies
from webhook.policy.compiled import PolicySet

RECONNECT_EVERY = 50  # new TLS handshakes throughout, as after API server connection churn
UID = "00000000-soak"


def request_mix() -> list[dict[str, Any]]:
    """Patched, unchanged, skipped and dry-run admissions, as a busy cluster sends them."""
    gpu, cpu, scheduler = fixture("triton-gpu-0"), fixture("mlserver-0"), fixture("seldon-scheduler-0")
    return [
        admission_review(gpu),
        admission_review(cpu),
        admission_review(gpu, dryRun=True),
        admission_review(scheduler),
        admission_review(gpu, operation="UPDATE", oldObject=gpu),
        admission_review(gpu, namespace="other-team"),
    ]


@dataclass
class Endpoints:
    """The addresses in service; the fault driver takes one out before stopping it."""

    ports: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, name: str, port: int | None) -> None:
        with self.lock:
            if port is None:
                self.ports.pop(name, None)
            else:
                self.ports[name] = port

    def pick(self, n: int) -> tuple[str, int]:
        with self.lock:
            names = sorted(self.ports)
            name = names[n % len(names)]
            return name, self.ports[name]


@dataclass
class Record:
    sent: float
    answered: float
    body: int
    endpoint: str
    status: int = 0
    answer: dict[str, Any] | None = None
    error: str | None = None
    retried: bool = False


class Load:
    """``workers`` threads sending ``rate`` requests per second in total until ``stop``."""

    def __init__(self, endpoints: Endpoints, context: ssl.SSLContext, *, rate: float, workers: int) -> None:
        self.endpoints, self.context = endpoints, context
        self.bodies = [json.dumps(review).encode() for review in request_mix()]
        self.interval = workers / rate
        self.records: list[Record] = []
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(workers)]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join()

    def _work(self, worker: int) -> None:
        connections: dict[tuple[str, int], tuple[TlsConnection, int]] = {}
        n, next_at = 0, time.monotonic()
        while not self.stop_event.is_set():
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))
            n += 1
            endpoint = self.endpoints.pick(n + worker)
            body_index = (n * 7 + worker) % len(self.bodies)
            uid = f"{UID}-{worker}-{n}"
            body = self.bodies[body_index].replace(
                b'"705ab4f5-6393-11e8-b7cc-42010a800002"', f'"{uid}"'.encode()
            )
            self.records.append(self._send(connections, endpoint, body, body_index))
        for conn, _ in connections.values():
            conn.close()

    def _connection(
        self, connections: dict[tuple[str, int], tuple[TlsConnection, int]], endpoint: tuple[str, int]
    ) -> tuple[TlsConnection, bool]:
        """The worker's kept-alive connection to ``endpoint`` (renewed every RECONNECT_EVERY requests)."""
        conn, used = connections.get(endpoint, (None, 0))
        if conn is None or used >= RECONNECT_EVERY:
            if conn is not None:
                conn.close()
            conn, used = TlsConnection(endpoint[1], self.context), 0
        connections[endpoint] = (conn, used + 1)
        return conn, used > 0

    def _send(
        self,
        connections: dict[tuple[str, int], tuple[TlsConnection, int]],
        endpoint: tuple[str, int],
        body: bytes,
        body_index: int,
    ) -> Record:
        """One request; like Go's transport, retried once when a reused idle connection was closed."""
        sent = time.monotonic()
        retried = False
        while True:
            conn, reused = self._connection(connections, endpoint)
            try:
                status, text = conn.call("POST", "/mutate?timeout=10s", body)
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                connections.pop(endpoint, None)
                conn.close()
                if reused and not retried:
                    retried = True
                    continue
                return Record(
                    sent, time.monotonic(), body_index, endpoint[0], error=repr(exc), retried=retried
                )
            except Exception as exc:  # any other failure is data for the report
                connections.pop(endpoint, None)
                conn.close()
                return Record(
                    sent, time.monotonic(), body_index, endpoint[0], error=repr(exc), retried=retried
                )
        record = Record(sent, time.monotonic(), body_index, endpoint[0], status=status, retried=retried)
        if status == 200:
            record.answer = json.loads(text)
        else:
            record.error = f"HTTP {status}: {text[:120]!r}"
        return record


@dataclass
class Timeline:
    """Policy versions and when each may have been in force: from its file swap until every
    endpoint was seen answering with the next one."""

    versions: list[PolicySet] = field(default_factory=list)
    swapped: list[float] = field(default_factory=list)
    confirmed: list[float] = field(default_factory=list)

    def add(self, policies: PolicySet, *, swapped: float) -> None:
        self.versions.append(policies)
        self.swapped.append(swapped)
        self.confirmed.append(float("inf"))

    def confirm(self, at: float) -> None:
        self.confirmed[-1] = at

    def possible(self, sent: float, answered: float) -> list[int]:
        """Versions in force at some moment of [sent, answered]."""
        ends = [*self.confirmed[1:], float("inf")]
        return [
            i
            for i, (start, end) in enumerate(zip(self.swapped, ends, strict=True))
            if start <= answered and end >= sent
        ]


@dataclass
class Verdict:
    answered: int = 0
    failed: int = 0
    wrong: int = 0
    retried: int = 0
    examples: list[str] = field(default_factory=list)


def verify(records: list[Record], timeline: Timeline, reviews: list[dict[str, Any]]) -> Verdict:
    """Count failures and answers that no possible policy version gives."""
    expected: dict[tuple[int, int], dict[str, Any]] = {}
    verdict = Verdict()
    for record in records:
        verdict.retried += record.retried
        if record.answer is None:
            verdict.failed += 1
            if len(verdict.examples) < 5:
                verdict.examples.append(f"failed on {record.endpoint}: {record.error}")
            continue
        verdict.answered += 1
        answer = json.loads(json.dumps(record.answer))
        answer["response"]["uid"] = UID
        candidates = timeline.possible(record.sent, record.answered)
        for version in candidates:
            key = (record.body, version)
            if key not in expected:
                expected[key] = answer_review(
                    Mutator(), reviews[record.body], LoadedPolicies(timeline.versions[version])
                )
                expected[key]["response"]["uid"] = UID
        if not any(answer == expected[(record.body, v)] for v in candidates):
            verdict.wrong += 1
            if len(verdict.examples) < 5:
                verdict.examples.append(
                    f"wrong answer from {record.endpoint} (versions {candidates}): {answer}"
                )
    return verdict
