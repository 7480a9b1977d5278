"""Run a reference app (``floor``, ``floor-bare`` or ``naive``) on exactly the stack ``placement-webhook serve`` uses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_apps import floor, floor_bare, naive_app

from webhook.server.reloading import create_server_context


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app", choices=["floor", "floor-bare", "naive"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-dir", type=Path, required=True)
    parser.add_argument("--policies", required=True)
    args = parser.parse_args()
    app = {"floor": floor, "floor-bare": floor_bare}.get(args.app) or naive_app(args.policies)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=120,
        lifespan="off",
    )
    config.load()
    config.ssl = create_server_context(args.cert_dir)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
