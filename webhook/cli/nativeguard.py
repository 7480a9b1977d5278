"""``native-guard``: print the ValidatingAdmissionPolicies and bindings compiled from the policy
file's reservations, for review or for a cluster installed without the chart.

The chart installs the two policies and their bindings and lets the server keep the policies'
``spec`` in step (``serve --native-guard``); this verb shows exactly what the server applies.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from webhook.cli.common import (
    EXIT_OK,
    add_policies_option,
    as_list,
    namespace_name,
    policies_from,
    print_object,
)
from webhook.cli.helptext import add_verb
from webhook.native import compile_guard_policy


def cmd_native_guard(args: argparse.Namespace) -> int:
    policies = policies_from(args)
    excluded = list(dict.fromkeys(["kube-system", *args.exclude_namespace]))
    objects = compile_guard_policy(policies, excluded_namespaces=excluded, name=args.name)
    if not objects:
        print(f"note: {policies.source}: no reservations: no native guard to install", file=sys.stderr)
    print_object(as_list(objects), fmt=args.output)
    return EXIT_OK


def add_native_guard_parser(commands: Any) -> None:
    verb = add_verb(
        commands,
        "native-guard",
        help="print the ValidatingAdmissionPolicies compiled from the reservations (the guard in CEL)",
    )
    add_policies_option(verb)
    verb.add_argument(
        "-o", "--output", choices=["yaml", "json"], default="yaml", help="format (default yaml)"
    )
    verb.add_argument(
        "--name",
        default="placement-webhook-guard",
        help="name of the policy and binding for enforce reservations (NAME-audit for audit ones;"
        " default: placement-webhook-guard, as the chart names them for the release placement-webhook)",
    )
    verb.add_argument(
        "--exclude-namespace",
        action="append",
        default=[],
        type=namespace_name,
        metavar="NAMESPACE",
        help="a namespace the bindings leave out, like the webhooks (repeatable; kube-system always)",
    )
    verb.set_defaults(handler=cmd_native_guard)
