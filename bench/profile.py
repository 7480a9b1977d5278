"""Where a review's time goes in the running server: py-spy samples ``placement-webhook serve``
(one worker, CPU 0) while wrk drives it with the GPU Pod review at concurrency 8 (CPU 1).

Writes bench/out/profile.txt: the share of the event-loop thread's samples in each function
(inclusive, then self). Needs wrk and py-spy (``make bench`` installs both); run after
``make bench`` or on its own: ``.venv/bin/python bench/profile.py``.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import OUT, ROOT, Server, start, stop, wrk
from workload import write_bodies

from webhook.cluster.certs import ensure_dev_certificates

SECONDS = 8


def summarise(raw: Path, top: int = 30) -> list[str]:
    """Inclusive and self shares of the samples taken on the event loop's thread."""
    inclusive, own, total = Counter[str](), Counter[str](), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "run_server" not in stack:  # other threads: the log writer, the file watcher
            continue
        frames = [frame.split(" (")[0] + " (" + frame.split(" (")[-1] for frame in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"event-loop thread samples: {total}", "", "inclusive:"]
    lines += [f"{100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "self:"] + [f"{100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return lines


def main() -> None:
    OUT.mkdir(exist_ok=True)
    cert_dir = OUT / "certs"
    ensure_dev_certificates(cert_dir)
    bodies = write_bodies(OUT)
    command = [sys.executable, "-m", "webhook", "serve", "--host", "127.0.0.1", "--cert-dir", str(cert_dir),
               "--no-dev-certs", "--policies", str(ROOT / "policies.yaml")]  # fmt: skip
    server = Server("profiled", command)
    start(server, 18499, ssl.create_default_context(cafile=str(cert_dir / "ca.crt")))
    raw = OUT / "profile.raw"
    try:
        assert server.process is not None
        load = threading.Thread(target=wrk, args=(server.port, bodies["gpu"], 8, SECONDS + 2))
        load.start()
        subprocess.run(["py-spy", "record", "-p", str(server.process.pid), "-d", str(SECONDS), "-r", "250",
                        "-f", "raw", "-o", str(raw)], check=True, capture_output=True,
                       env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})  # fmt: skip
        load.join()
    finally:
        stop(server)
    report = summarise(raw)
    (OUT / "profile.txt").write_text("\n".join(report) + "\n")
    print("\n".join(report[:40]))


if __name__ == "__main__":
    main()
