"""``native-guard`` and ``export``: print the admission policies compiled from the policy file.

``native-guard`` prints the reservations' ValidatingAdmissionPolicies and bindings; ``export``
prints native mode whole: the MutatingAdmissionPolicy placing Pods as ``/mutate`` does, the
conflict policies, and the guard, for review or for a cluster that runs no webhook. A file with
a policy that cannot run natively is refused, every such policy named with the reason.

The chart installs the two policies and their bindings and lets the server keep the policies'
``spec`` in step (``serve --native-guard``); this verb shows exactly what the server applies.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from webhook.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_policies_option,
    as_list,
    namespace_name,
    policies_from,
    print_object,
)
from webhook.cli.helptext import add_verb
from webhook.native import compile_guard_policy
from webhook.native.placement_policy import DEFAULT_NAME, compile_placement_policies, native_problems


def _excluded(args: argparse.Namespace) -> list[str]:
    """The namespaces the bindings leave out: kube-system and each ``--exclude-namespace``."""
    return list(dict.fromkeys(["kube-system", *args.exclude_namespace]))


def cmd_native_guard(args: argparse.Namespace) -> int:
    policies = policies_from(args)
    excluded = _excluded(args)
    objects = compile_guard_policy(policies, excluded_namespaces=excluded, name=args.name)
    if not objects:
        print(f"note: {policies.source}: no reservations: no native guard to install", file=sys.stderr)
    print_object(as_list(objects), fmt=args.output)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    policies = policies_from(args)
    problems = native_problems(policies)
    level = "note" if args.without_audit else "error"
    for name, reason in problems:
        print(f"{level}: {policies.source}: policy {name} cannot run natively: {reason}", file=sys.stderr)
    if problems and not args.without_audit:
        return EXIT_FAILURE
    excluded = _excluded(args)
    objects = compile_placement_policies(policies, excluded_namespaces=excluded, name=args.name)
    objects += compile_guard_policy(policies, excluded_namespaces=excluded, name=f"{args.name}-guard")
    print_object(as_list(objects), fmt=args.output)
    return EXIT_OK


def _add_common(verb: Any, *, default_name: str, what: str) -> None:
    add_policies_option(verb)
    verb.add_argument(
        "-o", "--output", choices=["yaml", "json"], default="yaml", help="format (default yaml)"
    )
    verb.add_argument("--name", default=default_name, help=what)
    verb.add_argument(
        "--exclude-namespace",
        action="append",
        default=[],
        type=namespace_name,
        metavar="NAMESPACE",
        help="a namespace the bindings leave out, like the webhooks (repeatable; kube-system always)",
    )


def add_export_parser(commands: Any) -> None:
    verb = add_verb(
        commands,
        "export",
        help="print native mode: the policy file as MutatingAdmissionPolicy and ValidatingAdmissionPolicies",
    )
    _add_common(
        verb,
        default_name=DEFAULT_NAME,
        what="name of the MutatingAdmissionPolicy (NAME-deny and NAME-warn for the conflict policies,"
        " NAME-guard for the reservations; default: placement-webhook)",
    )
    verb.add_argument(
        "--without-audit",
        action="store_true",
        help="leave the audit policies out (each named on stderr) instead of refusing the file:"
        " what the chart's mode native does; keep the webhook (mode both) for their warnings",
    )
    verb.set_defaults(handler=cmd_export)


def add_native_guard_parser(commands: Any) -> None:
    verb = add_verb(
        commands,
        "native-guard",
        help="print the ValidatingAdmissionPolicies compiled from the reservations (the guard in CEL)",
    )
    _add_common(
        verb,
        default_name="placement-webhook-guard",
        what="name of the policy and binding for enforce reservations (NAME-audit for audit ones;"
        " default: placement-webhook-guard, as the chart names them for the release placement-webhook)",
    )
    verb.set_defaults(handler=cmd_native_guard)
