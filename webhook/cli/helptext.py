"""What ``--help`` says of each verb: a description and examples (argparse ``epilog``)."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTIONS = {
    "review": """\
Dry-run the policies on Pods or AdmissionReview v1 requests, answering exactly as the server would.
The summary names the policy file in use, which policy matched and why the earlier ones did not,
what was added, conflicts and warnings. A directory FILE stands for its .yaml, .yml and .json
files (-R: and its subdirectories'). Several Pods printed as JSON or YAML are one List document
(apiVersion: v1, kind: List, items). Exit 1 when the policies would deny a Pod.""",
    "validate": """\
Check a policy file: every problem, one line each, with its line, policy and field (exit 1).
With --nodes or --cluster, also check each policy's placement against those nodes: errors exit 1,
warnings only with --strict. -o json|yaml prints the same facts as one object.""",
    "simulate": """\
Show the nodes each Pod, AdmissionReview or Seldon Server fits before and after the policies,
with the scheduler's own filters (taints, node affinity, nodeSelector, cordons, nodeName).
Exit 1 when a Pod fits no node, is denied, could land without the GPUs it requests, or could not
be scored by the scheduler.""",
    "test": """\
Run policy test cases as data: every folder under DIR with a placement-test.yaml is a case
(policies, input Pods, expected outcome, policy, mutated Pod, warnings or denial). Every input
document is checked, and each for idempotency and "the patch reproduces the mutation". Exit 1
when a case fails.""",
    "audit": """\
Review running Pods as the webhook would if they were created now, and report those that today's
policies would place differently (patched, conflict, denied, stale) or the reservation guard would
refuse (refused), grouped by owner with the command that rolls it. Reads kubectl get pods -o yaml
exports (ReplicaSets, Namespaces and the MutatingWebhookConfiguration may be among them) or,
read-only, the cluster. Only Pods the webhook configuration selects are audited. Exit 1 when a
Pod differs, 0 when none does.""",
    "schema": """\
Print the JSON Schema of the policy file (policies.schema.json) or, with --test-case, of a test
case file (placement-test.schema.json), for editors.""",
    "native-guard": """\
Print the ValidatingAdmissionPolicies and bindings compiled from the policy file's reservations:
the reservation guard in CEL, evaluated by the API server itself, so that it holds while no
webhook replica answers. The chart installs them and the server keeps them in step (serve
--native-guard); this shows what it applies. Pods created with spec.nodeName stay with the
webhook (CEL cannot read a Node's taints). Empty List without reservations.""",
    "export": """\
Print native mode: the enforce policies as one MutatingAdmissionPolicy (the first matching policy
adds its placement with JSON Patch, as /mutate does), the onConflict policies as
ValidatingAdmissionPolicies (deny: Deny, warn: Warn, with /mutate's words), and the reservation
guard, each with its binding. The API server applies them itself: no webhook to run. Refused,
with the reason for each policy, when a policy cannot run natively (audit mode), unless
--without-audit leaves those out as the chart's mode native does.""",
    "serve": """\
Run the HTTPS admission server: POST /mutate (placement) and /validate (the reservation guard),
GET /healthz, /readyz and /metrics on one TLS port.
Every option is also an environment variable PLACEMENT_WEBHOOK_<OPTION> (e.g.
PLACEMENT_WEBHOOK_CERT_DIR); options win over the environment. The policy file and the
certificates are reloaded when they change. Exit 1 when it cannot start (invalid policies,
unusable certificates, an address in use).""",
    "certs": """\
Issue the webhook's CA and serving certificate into a folder (prints the base64 CA bundle for
caBundle), or with --install write them as Secrets and patch caBundle through the API (prints what
changed). A CA given with --ca-cert/--ca-key must be a CA whose key matches.""",
}

EXAMPLES = {
    "review": """\
  placement-webhook review pod.yaml
  kubectl get pod triton-0 -o yaml | placement-webhook review - -o patch
  placement-webhook review manifests/ -R -o yaml --policies policies.yaml""",
    "validate": """\
  placement-webhook validate policies.yaml
  placement-webhook validate --policies policies.yaml --nodes nodes.yaml --strict
  kubectl get cm placement-webhook-policies -o jsonpath='{.data.policies\\.yaml}' \\
    | placement-webhook validate -""",
    "simulate": """\
  placement-webhook simulate server.yaml serverconfigs.yaml --nodes nodes.yaml
  placement-webhook simulate pod.yaml --cluster -o json""",
    "test": """\
  placement-webhook test tests/cases
  placement-webhook test tests/cases/gpu-server-patched -o json""",
    "audit": """\
  kubectl get pods,replicasets -A -o yaml | placement-webhook audit -
  placement-webhook audit --cluster -n seldon-mesh -o json""",
    "schema": """\
  placement-webhook schema > policies.schema.json
  placement-webhook schema --test-case > placement-test.schema.json""",
    "native-guard": """\
  placement-webhook native-guard --policies policies.yaml
  placement-webhook native-guard --policies policies.yaml --exclude-namespace pw | kubectl apply -f -""",
    "export": """\
  placement-webhook export --policies policies.yaml
  placement-webhook export --policies policies.yaml -o json | kubectl apply --server-side -f -""",
    "serve": """\
  placement-webhook serve --policies policies.yaml --cert-dir certs --port 8443
  PLACEMENT_WEBHOOK_LOG_LEVEL=debug placement-webhook serve --no-dev-certs""",
    "certs": """\
  placement-webhook certs --service placement-webhook --namespace placement-webhook --out certs
  placement-webhook certs --install --kubeconfig ~/.kube/config""",
}


def add_verb(commands: Any, name: str, *, help: str) -> argparse.ArgumentParser:
    """A subcommand parser with its description and examples, laid out as written."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help,
        description=DESCRIPTIONS[name],
        epilog="examples:\n" + EXAMPLES[name],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser
