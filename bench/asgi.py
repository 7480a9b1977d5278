"""The ``/mutate`` edge in-process: the real ASGI app driven by a loop of calls, no network.

``python bench/asgi.py`` times each part of one admission of the GPU Pod the way the server runs
it (process CPU time, best of several repeats): the whole ASGI call (body read, duplicate-key
check, decide, metrics, log line, response), and its pieces. ``--profile`` prints a cProfile of
the whole call instead. Deterministic enough for A/B comparisons on a busy machine, which the
end-to-end ``run.py`` is not.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import ROOT, admission_review, bench_pods

from webhook.admission.request import parse_admission_review
from webhook.engine.handlers import Mutator
from webhook.server.app import AppState, create_app, log_fields, parse_json
from webhook.server.logs import AdmissionLog
from webhook.server.metrics import Metrics
from webhook.server.reloading import PolicyStore

NUMBER, REPEAT = 2000, 7


class _Discard(io.RawIOBase):
    def write(self, data: Any) -> int:
        return len(data)


def make_app() -> tuple[Any, AppState]:
    metrics = Metrics()
    state = AppState(
        policies=PolicyStore(ROOT / "policies.yaml", metrics),
        certificates=None,
        metrics=metrics,
        max_body_bytes=1 << 20,
        body_timeout=10.0,
        admission_log=AdmissionLog(_Discard()),
    )
    return create_app(state), state


def scope_for(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/mutate",
        "query_string": b"timeout=10s",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }


async def call_loop(app: Any, body: bytes, number: int) -> None:
    """``number`` admissions through the ASGI app, as uvicorn calls it (one message in, two out)."""
    scope = scope_for(body)
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(sent: dict[str, Any]) -> None:
        if sent["type"] == "http.response.start" and sent["status"] != 200:
            raise AssertionError(sent)

    loop = asyncio.get_running_loop()
    for _ in range(number):  # a task per request, as uvicorn runs each; awaiting it lets the loop turn
        await loop.create_task(app(scope, receive, send))


def repeated(call: Any) -> Any:
    """``call`` ``n`` times, each result dropped at once (as the server drops each document)."""

    def run(number: int) -> None:
        for _ in range(number):
            call()

    return run


def best(run: Any, number: int = NUMBER) -> float:
    """Microseconds per call: the least process CPU time of ``REPEAT`` runs of ``number`` calls."""
    times = []
    for _ in range(REPEAT):
        started = time.process_time()
        run(number)
        times.append(time.process_time() - started)
    return round(min(times) / number * 1e6, 1)


def main() -> None:
    app, state = make_app()
    body = orjson.dumps(admission_review(bench_pods()["gpu"]))
    loop = asyncio.new_event_loop()
    if sys.argv[1:2] == ["--profile"]:
        here = Path(__file__).resolve().parent  # bench/profile.py shadows the stdlib's profile
        sys.path[:] = [p for p in sys.path if Path(p).resolve() != here]
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(loop.run_until_complete, call_loop(app, body, 20000))
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    loaded, mutator = state.policies.loaded, Mutator()
    parsed = parse_json(body)
    request = parse_admission_review(parsed)
    response = mutator.handle(request, loaded, None)
    assert state.admission_log is not None
    log = state.admission_log
    parts = {
        "ASGI call, whole": lambda n: loop.run_until_complete(call_loop(app, body, n)),
        "orjson.loads": repeated(lambda: orjson.loads(body)),
        "parse_json (loads + duplicate-key check)": repeated(lambda: parse_json(body)),
        "parse_admission_review": repeated(lambda: parse_admission_review(parsed)),
        "Mutator.handle": repeated(lambda: mutator.handle(request, loaded, None)),
        "orjson.dumps(answer)": repeated(lambda: orjson.dumps(response.review(request.uid))),
        "log_fields + log write": repeated(lambda: log.write(log_fields(mutator, request, response, 0.001))),
        "metrics.count": repeated(lambda: state.metrics.count(mutator, response, 0.001)),
    }
    for name, run in parts.items():
        print(f"{best(run):8.1f} µs  {name}", flush=True)
    log.close()


if __name__ == "__main__":
    main()
