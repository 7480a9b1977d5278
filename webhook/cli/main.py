"""The ``placement-webhook`` command line: a thin adapter from argv to the pure core.

Exit codes: 0 ok; 1 a policy or test failure (or a Pod the policies would deny, a simulated Pod
that fits no node or could land without its GPUs, a ``validate --nodes`` error); 2 usage errors
or unreadable input. Errors go to stderr, one line each. Each group of verbs has its own module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from webhook import __version__
from webhook.cli.audit import add_audit_parser
from webhook.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from webhook.cli.nativeguard import add_export_parser, add_native_guard_parser
from webhook.cli.operate import add_certs_parser, add_serve_parser
from webhook.cli.policy import add_test_and_schema_parsers, add_validate_parser
from webhook.cli.review import add_review_parser
from webhook.cli.simulate import add_simulate_parser
from webhook.errors import (
    ClusterError,
    InputError,
    NamespaceLabelsUnknownError,
    PolicyError,
    UndecidableError,
)

#: the console script's second name: kubectl runs ``kubectl-placement`` for ``kubectl placement``
KUBECTL_PLUGIN = "kubectl-placement"


def build_parser(*, prog: str = "placement-webhook") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Place Seldon Core 2 inference server Pods on the right nodes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_review_parser(commands)
    add_validate_parser(commands)
    add_simulate_parser(commands)
    add_audit_parser(commands)
    add_test_and_schema_parsers(commands)
    add_native_guard_parser(commands)
    add_export_parser(commands)
    add_serve_parser(commands)
    add_certs_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    as_plugin = Path(sys.argv[0]).name == KUBECTL_PLUGIN
    parser = build_parser(prog="kubectl placement" if as_plugin else "placement-webhook")
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except PolicyError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_FAILURE
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NamespaceLabelsUnknownError as exc:
        print(
            f"error: {exc}: give them as a Namespace manifest among the inputs,"
            " with --namespace-labels or with --cluster",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except UndecidableError as exc:  # a node's taints: where a verb can be given them, it says how
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
