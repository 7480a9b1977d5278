"""``review``: dry-run the policies on Pods or AdmissionReviews, answering exactly as the server would."""

from __future__ import annotations

import argparse
from typing import Any

from webhook.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_policies_option,
    add_recursive_option,
    policies_from,
    print_json,
    print_yaml,
    review_conventions,
)
from webhook.cli.helptext import add_verb
from webhook.engine.admission import decide, review_pod
from webhook.engine.documents import Subject, read_subjects
from webhook.engine.matching import explain_selection
from webhook.kube.objects import read_pod_facts
from webhook.policy.compiled import PolicySet


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
    policies = policies_from(args)
    subjects = [s for file in args.files for s in read_subjects(file, namespace=args.namespace)]
    denied = False
    for i, subject in enumerate(subjects):
        decision = decide(subject.admission_review(), policies=policies)
        review = decision.review
        denied |= review is not None and not review.allowed
        if args.output == "summary":
            print(("\n" if i else "") + "\n".join(_summary(subject, policies)))
        elif args.output == "patch":
            print_json(review.patch if review else [])
        elif args.output == "pod":
            print("---") if i else None
            print_yaml(review.pod if review else subject.pod)
        elif args.output == "request":
            print_json(subject.admission_review())
        else:
            print_json(decision.answer)
    return EXIT_FAILURE if denied else EXIT_OK


def add_review_parser(commands: Any) -> None:
    review = add_verb(commands, "review", help="dry-run the policies on Pods or AdmissionReviews")
    review.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="Pod or AdmissionReview YAML/JSON, a directory of them; - for stdin",
    )
    add_recursive_option(review)
    add_policies_option(review)
    review.add_argument(
        "-o",
        "--output",
        choices=["summary", "patch", "pod", "review", "request", "json", "yaml"],
        default="summary",
        help="what to print (default summary); json and yaml: the mutated Pod",
    )
    review.add_argument("-n", "--namespace", help="namespace for bare Pods without metadata.namespace")
    review.set_defaults(handler=review_conventions(cmd_review))
