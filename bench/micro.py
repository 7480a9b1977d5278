"""The engine alone, in-process: microseconds per review for each Pod kind and policy-file size.

Uses the best of several repeats (``timeit`` convention): the minimum is the run least disturbed
by the rest of the machine. Timed in process CPU time (``time.process_time``), not wall-clock time,
so the time this process waits for a core that other work on the machine holds is not counted.
"""

from __future__ import annotations

import sys
import time
import timeit
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import ROOT, admission_review, bench_pods, fifty_policies

from webhook.admission.handler import answer_review
from webhook.engine.handlers import Mutator
from webhook.engine.memo import LoadedPolicies
from webhook.engine.mutation import review_pod
from webhook.policy.loading import load_policies, load_policies_text


def measure(number: int = 2000, repeat: int = 7) -> list[dict[str, Any]]:
    policy_sets = {3: load_policies(ROOT / "policies.yaml"), 50: load_policies_text(fifty_policies())}
    rows = []
    for kind, pod in bench_pods().items():
        body = orjson.dumps(admission_review(pod))
        namespace = pod["metadata"]["namespace"]
        for size, policies in policy_sets.items():
            loaded, mutator = LoadedPolicies(policies), Mutator()
            engine = (
                min(
                    timeit.repeat(
                        lambda: review_pod(pod, namespace=namespace, policies=policies, memo=loaded.memo),  # noqa: B023
                        number=number,
                        repeat=repeat,
                        timer=time.process_time,
                    )
                )
                / number
            )
            full = (
                min(
                    timeit.repeat(
                        lambda: orjson.dumps(answer_review(mutator, orjson.loads(body), loaded)),  # noqa: B023
                        number=number,
                        repeat=repeat,
                        timer=time.process_time,
                    )
                )
                / number
            )
            rows.append(
                {
                    "pod": kind,
                    "policies": size,
                    "engine_us": round(engine * 1e6, 1),
                    "decode_decide_encode_us": round(full * 1e6, 1),
                    "body_bytes": len(body),
                }
            )
    return rows


if __name__ == "__main__":
    for row in measure():
        print(row)
