"""Where ours' time goes, end to end: each piece of ``/mutate`` taken out in turn, paired.

``python bench/ablations.py`` serves ours twice at the same time on CPU 0 (``run.paired_run``:
two wrk at concurrency 8 on CPU 1, the GPU Pod review), once whole and once with one piece
replaced by a stand-in that costs nothing (its answer remembered from the first request, or
skipped), and reports what the piece costs as a share of ours' CPU time per request. Served at
the same time, both see the same machine, so a few percent are resolved on this shared VM where
alternating runs differ by up to 2x; in-process timings of a piece (``bench/asgi.py``) say less,
as a piece costs two to three times more between TLS records and other requests than in a loop.

The stand-ins are for measuring only (they answer every request like the first): never served.
Writes bench/out/ablations.txt.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SETUP = "GPU Pod, bundled policies, c=8 each, both on CPU 0 at once"


def _first_answer(function: Callable[..., Any]) -> Callable[..., Any]:
    remembered: list[Any] = []

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        if not remembered:
            remembered.append(function(*args, **kwargs))
        return remembered[0]

    return stand_in


def _ablate(piece: str) -> None:
    """Replace ``piece`` in this process before the server starts."""
    import webhook.engine.handlers as handlers
    import webhook.server.app as app
    import webhook.server.logs as logs
    import webhook.server.serve as serve

    stand_ins: dict[str, tuple[Any, str, Any]] = {
        "duplicate-key check": (app, "key_problem", lambda body, data: None),
        "AdmissionReview envelope (pydantic)": (
            app, "parse_admission_review", _first_answer(app.parse_admission_review)
        ),
        "engine (review_pod)": (handlers, "review_pod", _first_answer(handlers.review_pod)),
        "answer (Mutator.respond)": (handlers.Mutator, "respond", _first_answer(handlers.Mutator.respond)),
        "admission log line": (logs.AdmissionLog, "write", lambda self, fields: None),
        "protocol guard (head deadline, size limit)": (serve, "guarded_protocol", lambda **_: "httptools"),
    }  # fmt: skip
    if piece in stand_ins:
        target, name, stand_in = stand_ins[piece]
        setattr(target, name, stand_in)
    elif piece != "nothing (A/A)":
        raise SystemExit(f"unknown piece {piece!r}")


PIECES = (
    "nothing (A/A)",
    "duplicate-key check",
    "AdmissionReview envelope (pydantic)",
    "engine (review_pod)",
    "answer (Mutator.respond)",
    "admission log line",
    "protocol guard (head deadline, size limit)",
)


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        _ablate(sys.argv[2])
        from webhook.cli.main import main as cli

        sys.exit(cli(sys.argv[3:]))
    from run import OUT, Server, paired_run, start, stop, wrk
    from workload import ROOT, write_bodies

    from webhook.cluster.certs import ensure_dev_certificates

    OUT.mkdir(exist_ok=True)
    cert_dir = OUT / "certs"
    ensure_dev_certificates(cert_dir)
    context = ssl.create_default_context(cafile=str(cert_dir / "ca.crt"))
    body = write_bodies(OUT)["gpu"]
    serve = ["serve", "--host", "127.0.0.1", "--cert-dir", str(cert_dir), "--no-dev-certs",
             "--policies", str(ROOT / "policies.yaml")]  # fmt: skip
    lines = [f"ours with one piece replaced by a free stand-in, paired with ours whole ({SETUP})", ""]
    for index, piece in enumerate(PIECES):
        whole = Server("ours", [sys.executable, "-m", "webhook", *serve])
        without = Server("without", [sys.executable, __file__, "--serve", piece, *serve])
        try:
            for offset, server in enumerate((whole, without)):
                start(server, 18600 + 2 * index + offset, context)
                wrk(server.port, body, 8, 1)
            rows = [paired_run(without, whole, body, 8, r) for r in range(ROUNDS)]
        finally:
            stop(whole)
            stop(without)
        # ratio = rate(without) / rate(whole) per CPU-second; the piece's share of ours' CPU time:
        shares = [round(100 * (1 - 1 / row["ratio"]), 1) for row in rows]
        line = f"{piece:45} {sum(shares) / len(shares):5.1f} % of ours' CPU per request  (rounds {shares})"
        print(line, flush=True)
        lines.append(line)
    (OUT / "ablations.txt").write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT / 'ablations.txt'}")


if __name__ == "__main__":
    main()
