"""The ``placement-webhook`` command line: a thin adapter from argv to the pure core.

Exit codes: 0 ok; 1 a policy or test failure (or a Pod the policies would deny, a simulated Pod
that fits no node or could land without its GPUs, a ``validate --nodes`` error); 2 usage errors
or unreadable input. Errors go to stderr, one line each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from webhook import __version__
from webhook.admission import decide, review_pod
from webhook.documents import Subject, read_subjects
from webhook.errors import InputError, PolicyError
from webhook.matching import explain_selection
from webhook.nodes import load_nodes
from webhook.objects import read_pod_facts
from webhook.policies import PolicySet, load_policies, policy_file_schema
from webhook.policytests import CASE_FILE, find_cases, run_case
from webhook.reachability import check_policies, render_findings
from webhook.seldon import read_manifest_files
from webhook.simulation import render_simulation, simulate_subject, simulation_json

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
BUNDLED_POLICIES = Path(__file__).parent / "defaults" / "policies.yaml"


def default_policies_path() -> Path:
    """``./policies.yaml`` when present, else the example bundled with the package."""
    local = Path("policies.yaml")
    return local if local.is_file() else BUNDLED_POLICIES


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _print_yaml(value: Any) -> None:
    sys.stdout.write(yaml.safe_dump(value, sort_keys=False, width=120))


# --- review -----------------------------------------------------------------------------------------


def _summary(subject: Subject, policies: PolicySet) -> list[str]:
    review = review_pod(subject.pod, namespace=subject.namespace, policies=policies)
    facts = read_pod_facts(subject.pod, namespace=subject.namespace)
    server = f"server {facts.server_name}" if facts.server_name else "not a Seldon server"
    lines = [f"Pod {subject.display_name} ({server}, type {facts.server_type or '-'})"]
    for name, reason in explain_selection(policies, facts):
        lines.append(
            f"  {'match:  ' if reason is None else 'skip:   '}{name}" + (f": {reason}" if reason else "")
        )
    if review.policy is None:
        lines.append("  policy: none matched")
    lines.append(
        f"  outcome: {review.outcome}" + (f" ({len(review.patch)} patch ops)" if review.patch else "")
    )
    if review.plan is not None and review.outcome == "patched":
        lines += [f"  added:  {what}" for what in review.plan.describe()]
    if review.plan is not None and review.plan.conflicts:
        lines.append(f"  conflict on: {', '.join(review.plan.conflicts)}")
    lines += [f"  warning: {w}" for w in review.warnings]
    if review.denial:
        lines.append(f"  denied: {review.denial}")
    return lines


def cmd_review(args: argparse.Namespace) -> int:
    policies = load_policies(args.policies)
    subjects = [s for file in args.files for s in read_subjects(file, namespace=args.namespace)]
    denied = False
    for i, subject in enumerate(subjects):
        decision = decide(subject.admission_review(), policies=policies)
        review = decision.review
        denied |= review is not None and not review.allowed
        if args.output == "summary":
            print(("\n" if i else "") + "\n".join(_summary(subject, policies)))
        elif args.output == "patch":
            _print_json(review.patch if review else [])
        elif args.output == "pod":
            print("---") if i else None
            _print_yaml(review.pod if review else subject.pod)
        else:
            _print_json(decision.answer)
    return EXIT_FAILURE if denied else EXIT_OK


# --- validate, test, schema -------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    policies = load_policies(args.policies)
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
    _print_json(policy_file_schema())
    return EXIT_OK


# --- simulate ----------------------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    policies = load_policies(args.policies)
    subjects = read_manifest_files(args.files, namespace=args.namespace)
    nodes, where = load_nodes(args.nodes)
    results = [
        simulate_subject(
            s, nodes=nodes, policies=policies, extended_resource_toleration=args.extended_resource_toleration
        )
        for s in subjects
    ]
    if args.output == "json":
        _print_json({"nodes": where, "pods": [simulation_json(r) for r in results]})
    else:
        print("\n\n".join("\n".join(render_simulation(r)) for r in results))
    return EXIT_FAILURE if any(r.problems for r in results) else EXIT_OK


# --- parser and entry point -------------------------------------------------------------------------


def _add_policies_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies",
        type=Path,
        default=None,
        help="policy file (default: ./policies.yaml if present, else the bundled example)",
    )


def _add_node_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--nodes", metavar="NODES", help="YAML/JSON file of Node objects (kubectl get nodes -o yaml)"
    )
    source.add_argument(
        "--cluster", action="store_true", help="list the nodes through the current kubeconfig"
    )
    parser.add_argument(
        "--extended-resource-toleration",
        action="store_true",
        help="model the API server's ExtendedResourceToleration admission plugin (on in e.g. GKE)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="placement-webhook",
        description="Place Seldon Core 2 inference server Pods on the right nodes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    review = commands.add_parser("review", help="dry-run the policies on Pods or AdmissionReviews")
    review.add_argument(
        "files", nargs="+", metavar="FILE", help="Pod or AdmissionReview YAML/JSON; - for stdin"
    )
    _add_policies_option(review)
    review.add_argument("-o", "--output", choices=["summary", "patch", "pod", "review"], default="summary")
    review.add_argument("-n", "--namespace", help="namespace for bare Pods without metadata.namespace")
    review.set_defaults(handler=cmd_review)

    validate = commands.add_parser("validate", help="check a policy file (and its placement against nodes)")
    _add_policies_option(validate)
    _add_node_options(validate, required=False)
    validate.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    validate.set_defaults(handler=cmd_validate)

    simulate = commands.add_parser(
        "simulate", help="show the nodes each Pod fits before and after the policies"
    )
    simulate.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="Pod, AdmissionReview, Seldon Server or ServerConfig; - for stdin",
    )
    _add_node_options(simulate, required=True)
    _add_policies_option(simulate)
    simulate.add_argument("-o", "--output", choices=["table", "json"], default="table")
    simulate.add_argument("-n", "--namespace", help="namespace for manifests without metadata.namespace")
    simulate.set_defaults(handler=cmd_simulate)

    test = commands.add_parser("test", help="run policy test cases (folders with placement-test.yaml)")
    test.add_argument("dirs", nargs="+", metavar="DIR")
    test.set_defaults(handler=cmd_test)

    schema = commands.add_parser("schema", help="print the JSON Schema of the policy file")
    schema.set_defaults(handler=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "policies", "unset") is None:
        args.policies = default_policies_path()
    try:
        code: int = args.handler(args)
        return code
    except PolicyError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_FAILURE
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
