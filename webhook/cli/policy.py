"""``validate``, ``test`` and ``schema``: check a policy file, run its test cases, print its schema."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from webhook.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_node_options,
    add_policies_option,
    load_nodes,
    policies_from,
    print_json,
)
from webhook.cli.policytests import CASE_FILE, find_cases, run_case
from webhook.errors import InputError
from webhook.policy.model import policy_file_schema
from webhook.simulation.reachability import check_policies, render_findings


def cmd_validate(args: argparse.Namespace) -> int:
    policies = policies_from(args)
    modes = [p.policy.mode for p in policies.policies]
    print(
        f"{policies.source}: {len(policies)} policies valid"
        f" ({modes.count('enforce')} enforce, {modes.count('audit')} audit)"
    )
    if args.nodes is None and not args.cluster:
        return EXIT_OK
    nodes, where = load_nodes(args.nodes)
    findings = check_policies(policies, nodes, extended_resource_toleration=args.extended_resource_toleration)
    print("\n".join(render_findings(findings, nodes=len(nodes), where=where)))
    failing = {"error", "warning"} if args.strict else {"error"}
    return EXIT_FAILURE if any(f.severity in failing for f in findings) else EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    cases = [c for root in args.dirs for c in find_cases(Path(root))]
    if not cases:
        raise InputError(f"no {CASE_FILE} found under {', '.join(args.dirs)}")
    failed = 0
    for path in cases:
        result = run_case(path)
        print(f"{'PASS' if result.passed else 'FAIL'} {result.name} ({path})")
        for failure in result.failures:
            print(f"     {failure}")
        failed += not result.passed
    print(f"{len(cases) - failed} passed, {failed} failed")
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    print_json(policy_file_schema())
    return EXIT_OK


def add_validate_parser(commands: Any) -> None:
    validate = commands.add_parser("validate", help="check a policy file (and its placement against nodes)")
    add_policies_option(validate)
    add_node_options(validate, required=False)
    validate.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    validate.set_defaults(handler=cmd_validate)


def add_test_and_schema_parsers(commands: Any) -> None:
    test = commands.add_parser("test", help="run policy test cases (folders with placement-test.yaml)")
    test.add_argument("dirs", nargs="+", metavar="DIR")
    test.set_defaults(handler=cmd_test)

    schema = commands.add_parser("schema", help="print the JSON Schema of the policy file")
    schema.set_defaults(handler=cmd_schema)
