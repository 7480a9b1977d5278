"""``serve`` and ``certs``: run the HTTPS admission server, issue or install its certificates.

The server and the Kubernetes client are imported inside the commands: the offline verbs start
without either.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from webhook.cli.common import EXIT_OK, add_policies_option
from webhook.cli.helptext import add_verb
from webhook.cluster.certs import DEFAULT_NAMESPACE, DEFAULT_SERVICE
from webhook.errors import InputError


def cmd_serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from webhook.server.serve import run_server, settings_from_options

    try:
        settings = settings_from_options(
            policies=args.policies,
            cert_dir=args.cert_dir,
            host=args.host,
            port=args.port,
            metrics_port=args.metrics_port,
            client_ca=args.client_ca,
            dev_certs=args.dev_certs,
            log_level=args.log_level,
            native_guard=args.native_guard,
            native_placement=args.native_placement,
        )
    except ValidationError as exc:
        raise InputError("; ".join(setting_problems(exc))) from None
    return run_server(settings)


#: The settings ``serve`` also takes as options (see ``add_serve_parser``).
SERVE_OPTIONS = frozenset(
    (
        "policies",
        "cert_dir",
        "host",
        "port",
        "metrics_port",
        "client_ca",
        "dev_certs",
        "log_level",
        "native_guard",
        "native_placement",
    )
)


def _number(value: Any) -> Any:
    """``0`` for pydantic's ``0.0`` bound of a float setting, as one would write it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def setting_problems(exc: Any) -> list[str]:
    """Each invalid setting by the environment variable that sets it (``serve`` options set the
    same), in the words of YAML/JSON rather than pydantic's."""
    problems = []
    for error in exc.errors(include_url=False):
        field = "_".join(str(part) for part in error["loc"])
        name = "PLACEMENT_WEBHOOK_" + field.upper()
        if field in SERVE_OPTIONS:
            name += f" (--{field.replace('_', '-')})"
        ctx = {k: _number(v) for k, v in (error.get("ctx") or {}).items()}
        kind = error["type"]
        words = {
            "greater_than": f"must be greater than {ctx.get('gt')}",
            "greater_than_equal": f"must be at least {ctx.get('ge')}",
            "less_than": f"must be less than {ctx.get('lt')}",
            "less_than_equal": f"must be at most {ctx.get('le')}",
            "float_parsing": "must be a number",
            "int_parsing": "must be an integer",
            "bool_parsing": "must be true or false",
            "string_pattern_mismatch": f"must match {ctx.get('pattern')}",
            "extra_forbidden": "unknown setting",
        }
        message = words.get(kind) or str(error["msg"])[:1].lower() + str(error["msg"])[1:]
        problems.append(f"{name}: {message}")
    return problems


def cmd_certs(args: argparse.Namespace) -> int:
    # imported here: only `certs` needs the kubernetes client, which is slow to import
    from webhook.cluster import bootstrap

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
        from webhook.cluster.client import load_api_client

        api = load_api_client(args.kubeconfig)
        lines = bootstrap.install_certificates(
            api,
            options,
            secret=args.secret or f"{args.service}-tls",
            ca_secret=args.ca_secret or f"{args.service}-ca",
            webhook=args.webhook or args.service,
            mutating=args.mutating,
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


def add_certs_parser(commands: Any) -> None:
    certs = add_verb(
        commands,
        "certs",
        help="issue the webhook's CA and serving certificate into a folder, or install them in the cluster",
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
    certs.add_argument(
        "--webhook",
        help="with --install: the Mutating and Validating WebhookConfiguration (default SERVICE)",
    )
    certs.add_argument(
        "--no-mutating",
        dest="mutating",
        action="store_false",
        help="with --install: there is no MutatingWebhookConfiguration to patch (native mode)",
    )
    certs.add_argument("--kubeconfig", help="with --install, outside a cluster: kubeconfig file")
    certs.set_defaults(handler=cmd_certs)


def add_serve_parser(commands: Any) -> None:
    serve = add_verb(commands, "serve", help="run the HTTPS admission server")
    add_policies_option(serve, stdin=False)
    serve.add_argument("--cert-dir", type=Path, help="tls.crt, tls.key and ca.crt (default: certs)")
    serve.add_argument("--host", help="address to listen on (default: 0.0.0.0)")
    serve.add_argument("--port", type=int, help="TLS port (default: 8443)")
    serve.add_argument(
        "--metrics-port",
        type=int,
        help="also serve GET /metrics (only) over plain HTTP on this port (default: off)",
    )
    serve.add_argument(
        "--client-ca",
        type=Path,
        help="answer the webhooks (/mutate, /validate) only for clients with a certificate signed by this CA;"
        " /healthz, /readyz and /metrics stay open to the kubelet's probes",
    )
    serve.add_argument(
        "--dev-certs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="create a local CA and certificate when the cert dir has none (default: on)",
    )
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--native-guard",
        metavar="NAME",
        help="keep the native ValidatingAdmissionPolicies NAME and NAME-audit (installed, with their"
        " bindings, by the chart) compiled from the reservations in step, by server-side apply"
        " (needs cluster credentials; default: off)",
    )
    serve.add_argument(
        "--native-placement",
        metavar="NAME",
        help="keep native mode in step: the MutatingAdmissionPolicy NAME and the ValidatingAdmissionPolicies"
        " NAME-deny and NAME-warn (installed, with their bindings, by the chart in mode native or both)"
        " compiled from the enforce policies, by server-side apply (needs cluster credentials; default: off)",
    )
    serve.set_defaults(handler=cmd_serve)
