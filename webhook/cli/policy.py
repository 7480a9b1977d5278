"""``validate``, ``test`` and ``schema``: check a policy file, run its test cases, print its schema.

``-o json|yaml`` objects (field names are stable):

- ``validate``: ``{policies, valid, problems, count, enforce, audit, reservations: {count, enforce,
  audit}, nodes, notes, findings: [{severity, message}], errors, warnings}``; ``problems`` lists why
  an invalid file is invalid (then ``valid: false`` and no counts; ``count``, ``enforce`` and
  ``audit`` count policies), ``nodes`` is null without ``--nodes``/``--cluster``;
  ``findings`` holds those of the file alone (patterns that never match, shadowed policies) and,
  with nodes, those against them; ``notes`` what the file needs of the server (permissions).
- ``test``: ``{cases: [{name, path, passed, failures}], passed, failed}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from webhook.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_node_options,
    add_output_option,
    add_policies_option,
    load_nodes,
    policies_from,
    print_json,
    print_object,
    require_cluster_for_kubeconfig,
)
from webhook.cli.helptext import add_verb
from webhook.cli.policytests import CASE_FILE, find_cases, run_case
from webhook.cli.testcase import case_file_schema
from webhook.errors import InputError, PolicyError
from webhook.native.placement_policy import native_problems
from webhook.policy.compiled import PolicySet
from webhook.policy.loading import default_policies_path
from webhook.policy.model import policy_file_schema
from webhook.simulation.reachability import check_policies, file_findings, render_findings


def _policy_file(args: argparse.Namespace) -> None:
    """``validate FILE`` and ``validate --policies FILE`` are the same; both at once must agree."""
    if args.file is not None and args.policies is not None and Path(args.file) != args.policies:
        raise InputError(f"two policy files given ({args.file} and --policies {args.policies}); give one")
    if args.file is not None:
        args.policies = Path(args.file)


NAMESPACE_PERMISSION_NOTE = (
    "{policies} match.namespaceSelector: the server needs permission to get, list and watch Namespaces"
    " (chart value namespaceSelector.enabled=true); without it a reload of this file is refused"
)


def _counted(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _notes(policies: PolicySet) -> list[str]:
    """What the file needs of the server beyond itself."""
    names = [p.name for p in policies.policies if p.policy.match.namespace_selector is not None]
    if not names:
        return []
    which = f"policy {names[0]} uses" if len(names) == 1 else f"policies {', '.join(names)} use"
    return [NAMESPACE_PERMISSION_NOTE.format(policies=which)]


def cmd_validate(args: argparse.Namespace) -> int:
    require_cluster_for_kubeconfig(args)
    _policy_file(args)
    structured = args.output != "text"
    try:
        policies = policies_from(args)
    except PolicyError as exc:
        if not structured:
            raise
        source = "<stdin>" if str(args.policies) == "-" else str(args.policies or default_policies_path())
        print_object({"policies": source, "valid": False, "problems": exc.problems}, fmt=args.output)
        return EXIT_FAILURE
    modes = [p.policy.mode for p in policies.policies]
    counts = {"count": len(policies), "enforce": modes.count("enforce"), "audit": modes.count("audit")}
    summary = (
        f"{policies.source}: {_counted(len(policies), 'policy', 'policies')} valid"
        f" ({counts['enforce']} enforce, {counts['audit']} audit)"
    )
    reserved = [r.mode for r in policies.reservations]
    reservations = {
        "count": len(reserved),
        "enforce": reserved.count("enforce"),
        "audit": reserved.count("audit"),
    }
    if reserved:  # the guard's part of the file; without any, /validate refuses nothing
        summary += (
            f"; {_counted(len(reserved), 'reservation', 'reservations')}"
            f" ({reservations['enforce']} enforce, {reservations['audit']} audit)"
        )
    findings = file_findings(policies)  # they need no nodes: reported always
    notes = _notes(policies)
    report: dict[str, Any] = {"policies": policies.source, "valid": True, "problems": [], **counts}
    report.update(reservations=reservations, nodes=None, notes=notes)
    native = []
    if args.native:  # which policies `export` can compile
        native = [{"policy": name, "reason": reason} for name, reason in native_problems(policies)]
        report["native"] = {"supported": not native, "problems": native}
    if not structured:
        print(summary)  # before the nodes are fetched: the file itself was checked
        for finding in findings:
            print(f"{finding.severity}: {finding.message}")
        for note in notes:
            print(f"note: {note}")
        for problem in native:
            print(f"note: native mode: policy {problem['policy']} cannot run natively: {problem['reason']}")
        if args.native and not native:
            print("note: native mode: every policy can run natively (placement-webhook export)")
    if args.nodes is not None or args.cluster:
        nodes, where = load_nodes(args.nodes, kubeconfig=args.kubeconfig)
        ert = args.extended_resource_toleration
        on_nodes = check_policies(policies, nodes, extended_resource_toleration=ert, shadowed=False)
        findings += on_nodes
        report["nodes"] = {"source": where, "count": len(nodes)}
        if not structured:
            print("\n".join(render_findings(on_nodes, nodes=len(nodes), where=where)))
    failing = {"error", "warning"} if args.strict else {"error"}
    code = EXIT_FAILURE if any(f.severity in failing for f in findings) else EXIT_OK
    report.update(
        findings=[{"severity": f.severity, "message": f.message} for f in findings],
        errors=sum(f.severity == "error" for f in findings),
        warnings=sum(f.severity == "warning" for f in findings),
    )
    if structured:
        print_object(report, fmt=args.output)
    return code


def cmd_test(args: argparse.Namespace) -> int:
    missing = [d for d in args.dirs if not Path(d).exists()]
    if missing:
        raise InputError(f"{missing[0]}: no such directory")
    cases = [c for root in args.dirs for c in find_cases(Path(root))]
    if not cases:
        raise InputError(f"no {CASE_FILE} found under {', '.join(args.dirs)}")
    results = [(path, run_case(path)) for path in cases]
    failed = sum(not r.passed for _, r in results)
    if args.output != "text":
        report = {
            "cases": [
                {"name": r.name, "path": str(path), "passed": r.passed, "failures": r.failures}
                for path, r in results
            ],
            "passed": len(cases) - failed,
            "failed": failed,
        }
        print_object(report, fmt=args.output)
        return EXIT_FAILURE if failed else EXIT_OK
    for path, result in results:
        print(f"{'PASS' if result.passed else 'FAIL'} {result.name} ({path})")
        for failure in result.failures:
            print(f"     {failure}")
    print(f"{len(cases) - failed} passed, {failed} failed")
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    print_json(case_file_schema() if args.test_case else policy_file_schema())
    return EXIT_OK


def add_validate_parser(commands: Any) -> None:
    validate = add_verb(commands, "validate", help="check a policy file (and its placement against nodes)")
    validate.add_argument(
        "file", nargs="?", metavar="FILE", help="the policy file (as --policies); - for stdin"
    )
    add_policies_option(validate)
    add_node_options(validate, required=False)
    validate.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    validate.add_argument(
        "--native", action="store_true", help="say which policies can run natively (see export)"
    )
    add_output_option(validate)
    validate.set_defaults(handler=cmd_validate)


def add_test_and_schema_parsers(commands: Any) -> None:
    test = add_verb(commands, "test", help="run policy test cases (folders with placement-test.yaml)")
    test.add_argument("dirs", nargs="+", metavar="DIR", help="folders to search for cases, or case files")
    add_output_option(test)
    test.set_defaults(handler=cmd_test)

    schema = add_verb(commands, "schema", help="print the JSON Schema of the policy file")
    schema.add_argument(
        "--test-case",
        action="store_true",
        help="the schema of a test case file (placement-test.yaml) instead",
    )
    schema.set_defaults(handler=cmd_schema)
