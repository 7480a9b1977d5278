"""Instructions per call, counted by valgrind (callgrind): engine and edge work measured in a way the
machine's load does not move, for A/B comparisons on a busy machine.

``python bench/instructions.py [ROOT]`` runs once under ``valgrind --tool=callgrind``: after the
imports and a warm-up it runs each case ``NUMBER`` times, calling ``time.sleep(0)`` between cases;
``--dump-before=time_sleep`` makes callgrind write one profile part per case, so each part's total
divided by ``NUMBER`` is that case's instructions per call. ``ROOT`` (default: this checkout) is
where ``webhook`` is imported from, to compare two trees.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

NUMBER = 200
CASES = ("review_pod gpu 3", "review_pod gpu 50", "review_pod cpu 3", "review_pod cpu 50",
         "parse_json gpu", "orjson.loads gpu", "decide gpu 3", "answer gpu 3", "asgi gpu 3",
         "asgi floor gpu")  # fmt: skip


def _cases() -> dict[str, Any]:
    import orjson
    from workload import ROOT, admission_review, bench_pods, fifty_policies

    from webhook.admission.handler import answer_review
    from webhook.engine.handlers import Mutator
    from webhook.engine.memo import LoadedPolicies
    from webhook.engine.mutation import review_pod
    from webhook.policy.loading import load_policies, load_policies_text
    from webhook.server.app import parse_json

    policies = {
        "3": LoadedPolicies(load_policies(ROOT / "policies.yaml")),
        "50": LoadedPolicies(load_policies_text(fifty_policies())),
    }
    mutator = Mutator()
    pods = bench_pods()
    bodies = {k: orjson.dumps(admission_review(p)) for k, p in pods.items()}
    parsed = {k: orjson.loads(b) for k, b in bodies.items()}
    calls: dict[str, Any] = {}
    for kind, pod in pods.items():
        ns, body = pod["metadata"]["namespace"], bodies[kind]
        for size, pset in policies.items():
            calls[f"review_pod {kind} {size}"] = lambda p=pod, n=ns, s=pset: review_pod(
                p, namespace=n, policies=s.policies, memo=s.memo
            )
            calls[f"decide {kind} {size}"] = lambda d=parsed[kind], s=pset: answer_review(mutator, d, s)
            calls[f"answer {kind} {size}"] = lambda b=body, s=pset: orjson.dumps(
                answer_review(mutator, parse_json(b), s)
            )
        calls[f"parse_json {kind}"] = lambda b=body: parse_json(b)
        calls[f"orjson.loads {kind}"] = lambda b=body: orjson.loads(b)
    calls.update(_asgi_cases(bodies["gpu"]))
    return calls


def _asgi_cases(body: bytes) -> dict[str, Any]:
    """One admission through the real ``/mutate`` ASGI app in-process (``bench/asgi.py``: a task
    per request on an event loop, no network), and the same through the parsing floor's app; the
    loop's own turn is in both."""
    import asyncio

    from asgi import call_loop, make_app
    from reference_apps import floor

    loop = asyncio.new_event_loop()
    app, _ = make_app()
    return {
        "asgi gpu 3": lambda: loop.run_until_complete(call_loop(app, body, 1)),
        "asgi floor gpu": lambda: loop.run_until_complete(call_loop(floor, body, 1)),
    }


def _run(cases: list[str]) -> None:
    calls = _cases()
    for case in cases:
        time.sleep(0)  # callgrind dumps the part before this call
        for _ in range(30):  # warm caches (lru_cache, regexes) inside the previous part
            calls[case]()
        time.sleep(0)  # callgrind dumps the part before this call
        for _ in range(NUMBER):
            calls[case]()
    time.sleep(0)


def count(root: str, cases: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-before=time_sleep", f"--callgrind-out-file={out}",
             sys.executable, __file__, "--run", *cases],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": root},
        )  # fmt: skip
        parts = sorted(Path(tmp).glob("cg.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
        totals = [int(re.search(r"^summary: (\d+)", p.read_text(), re.M).group(1)) for p in parts]  # type: ignore[union-attr]
    # the parts: start-up, then per case its warm-up and its NUMBER calls, then the exit
    if len(totals) < 2 * len(cases) + 1:
        raise SystemExit(f"callgrind wrote {len(totals)} parts; is time_sleep a symbol of this Python?")
    timed = totals[2 : 2 * len(cases) + 1 : 2]
    return {case: total / NUMBER for case, total in zip(cases, timed, strict=True)}


def main() -> None:
    if sys.argv[1:2] == ["--run"]:
        _run(sys.argv[2:])
        return
    root = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parent.parent)
    for case, instructions in count(root, list(CASES)).items():
        print(f"{case:20} {instructions / 1000:8.1f} k instructions per call", flush=True)


if __name__ == "__main__":
    main()
