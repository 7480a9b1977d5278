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
from webhook.certs import DEFAULT_NAMESPACE, DEFAULT_SERVICE
from webhook.documents import Subject, read_subjects
from webhook.errors import ClusterError, InputError, PolicyError
from webhook.matching import explain_selection
from webhook.nodes import load_nodes
from webhook.objects import read_pod_facts
from webhook.policies import PolicySet, default_policies_path, load_policies, policy_file_schema
from webhook.policytests import CASE_FILE, find_cases, run_case
from webhook.reachability import check_policies, render_findings
from webhook.seldon import read_manifest_files
from webhook.simulation import render_simulation, simulate_subject, simulation_json

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


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


def _policies(args: argparse.Namespace) -> PolicySet:
    return load_policies(args.policies or default_policies_path())


def cmd_review(args: argparse.Namespace) -> int:
    policies = _policies(args)
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
        elif args.output == "request":
            _print_json(subject.admission_review())
        else:
            _print_json(decision.answer)
    return EXIT_FAILURE if denied else EXIT_OK


# --- validate, test, schema -------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    policies = _policies(args)
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


def cmd_serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from webhook.serve import run_server, settings_from_options

    try:
        settings = settings_from_options(
            policies=args.policies,
            cert_dir=args.cert_dir,
            host=args.host,
            port=args.port,
            client_ca=args.client_ca,
            dev_certs=args.dev_certs,
            log_level=args.log_level,
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise InputError(f"setting {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return run_server(settings)


# --- certs ------------------------------------------------------------------------------------------


def cmd_certs(args: argparse.Namespace) -> int:
    # imported here: only `certs` needs the kubernetes client, which is slow to import
    from webhook import bootstrap

    if args.new_ca and args.ca_cert:
        raise InputError("--new-ca and --ca-cert/--ca-key exclude each other")
    if (args.ca_cert is None) != (args.ca_key is None):
        raise InputError("--ca-cert and --ca-key go together")
    if args.days < 1 or args.ca_days < args.days:
        raise InputError("--days must be at least 1 and at most --ca-days")
    supplied = bootstrap.read_supplied_ca(args.ca_cert, args.ca_key) if args.ca_cert else None
    options = bootstrap.CertsOptions(
        service=args.service, namespace=args.namespace, days=args.days, ca_days=args.ca_days,
        new_ca=args.new_ca, supplied_ca=supplied,
    )  # fmt: skip
    if args.install:
        if args.out is not None:
            raise InputError("--out is for files; --install writes Secrets")
        from webhook.cluster import load_api_client

        api = load_api_client(args.kubeconfig)
        lines = bootstrap.install_certificates(
            api,
            options,
            secret=args.secret or f"{args.service}-tls",
            ca_secret=args.ca_secret or f"{args.service}-ca",
            webhook=args.webhook or args.service,
        )
        for line in lines:
            print(line)
        return EXIT_OK
    out = args.out or Path("certs")
    issued = bootstrap.issue_to_folder(out, options)
    kept = "created" if issued.ca_created else "kept"
    print(f"wrote {out}/tls.crt, tls.key (CA {kept}) for {', '.join(options.hostnames)}", file=sys.stderr)
    print(bootstrap.ca_bundle_base64(issued.ca.cert_pem))
    return EXIT_OK


def _add_certs_parser(commands: Any) -> None:
    certs = commands.add_parser(
        "certs",
        help="issue the webhook's CA and serving certificate into a folder, or install them in the cluster",
        description="Prints the base64 CA bundle for caBundle (folder mode) or what --install changed.",
    )
    certs.add_argument("--service", default=DEFAULT_SERVICE, help="Service name (default %(default)s)")
    certs.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="its namespace (default %(default)s)")
    certs.add_argument("--out", type=Path, default=None, help="folder for the files (default certs)")
    certs.add_argument(
        "--days", type=int, default=365, help="serving certificate lifetime (default %(default)s)"
    )
    certs.add_argument(
        "--ca-days", type=int, default=3650, help="CA lifetime when one is made (default %(default)s)"
    )
    certs.add_argument("--ca-cert", type=Path, help="sign with this CA certificate (with --ca-key)")
    certs.add_argument("--ca-key", type=Path, help="the CA's private key (PEM, unencrypted)")
    certs.add_argument("--new-ca", action="store_true", help="replace the CA instead of keeping it")
    certs.add_argument("--install", action="store_true", help="write Secrets and caBundle through the API")
    certs.add_argument("--secret", help="with --install: TLS Secret name (default SERVICE-tls)")
    certs.add_argument("--ca-secret", help="with --install: CA Secret name (default SERVICE-ca)")
    certs.add_argument("--webhook", help="with --install: MutatingWebhookConfiguration (default SERVICE)")
    certs.add_argument("--kubeconfig", help="with --install, outside a cluster: kubeconfig file")
    certs.set_defaults(handler=cmd_certs)


# --- simulate ----------------------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    policies = _policies(args)
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
    review.add_argument(
        "-o", "--output", choices=["summary", "patch", "pod", "review", "request"], default="summary"
    )
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

    serve = commands.add_parser(
        "serve",
        help="run the HTTPS admission server",
        description="Every option is also an environment variable PLACEMENT_WEBHOOK_<OPTION> "
        "(e.g. PLACEMENT_WEBHOOK_CERT_DIR); options win over the environment.",
    )
    _add_policies_option(serve)
    serve.add_argument("--cert-dir", type=Path, help="tls.crt, tls.key and ca.crt (default: certs)")
    serve.add_argument("--host", help="address to listen on (default: 0.0.0.0)")
    serve.add_argument("--port", type=int, help="TLS port (default: 8443)")
    serve.add_argument(
        "--client-ca", type=Path, help="answer /mutate only for clients with a certificate signed by this CA"
    )
    serve.add_argument(
        "--dev-certs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="create a local CA and certificate when the cert dir has none (default: on)",
    )
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(handler=cmd_serve)
    _add_certs_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
