"""Policy test cases as data, in the spirit of ``kyverno test``.

A case is a folder with a ``placement-test.yaml``::

    name: GPU server gets the GPU pool
    policies: ../../../policies.yaml   # relative to the case folder
    input: pod.yaml                    # Pods, AdmissionReviews, workloads (Deployment, StatefulSet,
                                       # ReplicaSet, DaemonSet, Job, CronJob: the Pod their controller
                                       # creates) or Seldon Servers (with their ServerConfig): every
                                       # document is checked
    namespace: seldon-mesh             # optional, for a bare Pod without metadata.namespace
    namespaceLabels: {team: nlp}       # optional: the labels of the Pods' namespace (namespaceSelector);
                                       # a Namespace manifest in the input gives its own instead
    expect:
      outcome: patched                 # patched|unchanged|audit|conflict|denied|malformed
      policy: gpu-servers              # the applied policy, or null for none
      pod: expected.yaml               # optional: the mutated Pods, one document per input one
      warnings: [conflicts with]       # optional: each must be a substring of some warning;
                                       # []: the review has no warning
      denied: conflicts with           # optional: substring of the denial message
      guard: denied                    # optional: the reservation guard's outcome on the mutated
                                       # Pod (allowed|denied|audit|untouched)
      guardDenied: reserved taint      # optional: substring of the guard's denial message

Every case is also checked for idempotency (reviewing the result again changes nothing) and for
"the patch reproduces the mutation". The file's format, checked strictly, is ``webhook.cli.testcase``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch
import orjson

from webhook.admission.request import AdmissionRequest
from webhook.cli.common import check_label_values
from webhook.cli.files import read_manifests, read_subjects
from webhook.cli.namespacelabels import NamespaceLabels
from webhook.cli.testcase import CASE_FILE, Case, Expectation, load_case
from webhook.engine.documents import Subject
from webhook.engine.handlers import Guard, Mutator, after_mutation, pod_request
from webhook.engine.memo import LoadedPolicies
from webhook.errors import InputError, PolicyError, UndecidableError
from webhook.kube.objects import RawObject, escape_pointer
from webhook.policy.compiled import PolicySet
from webhook.policy.loading import load_policies

__all__ = ["CASE_FILE", "CaseResult", "find_cases", "run_case"]


@dataclass
class CaseResult:
    path: Path
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def find_cases(root: Path) -> list[Path]:
    """Every case file under ``root`` (or ``root`` itself when it is one), in a stable order."""
    if root.is_file():
        return [root]
    return sorted(root.rglob(CASE_FILE))


MUTATOR, GUARD = Mutator(), Guard()
_ABSENT = object()
SHOWN_DIFFERENCES, SHOWN_VALUE_CHARS = 5, 120


def _differences(expected: Any, actual: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(JSON Pointer, expected, actual) wherever the two documents differ, as JSON compares them
    (``1`` is not ``true``); lists index by index, so an appended item is one difference."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in [*expected, *(k for k in actual if k not in expected)]:
            pointer = f"{path}/{escape_pointer(str(key))}"
            yield from _differences(expected.get(key, _ABSENT), actual.get(key, _ABSENT), pointer)
    elif isinstance(expected, list) and isinstance(actual, list):
        for i in range(max(len(expected), len(actual))):
            yield from _differences(
                expected[i] if i < len(expected) else _ABSENT,
                actual[i] if i < len(actual) else _ABSENT,
                f"{path}/{i}",
            )
    elif type(expected) is not type(actual) or expected != actual:
        yield path or "/", expected, actual


def _value(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 1] + "…"


def _pod_mismatches(name: str, expected: RawObject, actual: RawObject) -> list[str]:
    """One line per difference, ``pod differs from NAME at PATH: expected X, got Y`` (the first few)."""
    found = list(_differences(expected, actual))
    lines = [
        f"pod differs from {name} at {p}: expected {_value(e)}, got {_value(a)}"
        for p, e, a in found[:SHOWN_DIFFERENCES]
    ]
    if len(found) > SHOWN_DIFFERENCES:
        lines.append(f"pod differs from {name} in {len(found) - SHOWN_DIFFERENCES} more places")
    return lines


def _check_one(
    subject: Subject,
    wanted: RawObject | None,
    case: Case,
    loaded: LoadedPolicies,
    labels: Mapping[str, str] | None,
) -> list[str]:
    request = subject.request or pod_request(subject.pod, namespace=subject.namespace)
    if not request.targets_pod_creation():  # a test case reviews its Pod whatever the operation
        request = pod_request(subject.pod, namespace=subject.namespace)
    review = MUTATOR.decide(request, loaded, labels)
    assert review is not None  # a Pod CREATE
    expect, failures = case.expect, []
    if expect.outcome is not None and review.outcome != expect.outcome:
        failures.append(f"outcome: expected {expect.outcome}, got {review.outcome}")
    if "policy" in expect.model_fields_set and review.policy != expect.policy:
        failures.append(f"policy: expected {_value(expect.policy)}, got {_value(review.policy)}")
    if wanted is not None:
        failures += _pod_mismatches(str(expect.pod), wanted, review.pod)
    if expect.warnings == [] and review.warnings:
        failures.append(f"warnings: expected none, got {_value(review.warnings)}")
    for text in expect.warnings or []:
        if not any(text in w for w in review.warnings):
            failures.append(f"no warning contains {_value(text)} (warnings: {_value(review.warnings)})")
    if expect.denied is not None and (review.denial is None or expect.denied not in review.denial):
        failures.append(f"expected a denial containing {_value(expect.denied)}, got {_value(review.denial)}")
    if jsonpatch.apply_patch(subject.pod, review.patch) != review.pod:
        failures.append("the patch applied to the input does not give the mutated Pod")
    again = MUTATOR.decide(pod_request(review.pod, namespace=subject.namespace), loaded, labels)
    if again is not None and again.patch:
        failures.append(f"not idempotent: a second review patches {[op['path'] for op in again.patch]}")
    guarded = after_mutation(subject.request or request, review)
    return failures + _check_guard(guarded, expect, loaded, labels)


def _check_guard(
    request: AdmissionRequest,
    expect: Expectation,
    loaded: LoadedPolicies,
    labels: Mapping[str, str] | None,
) -> list[str]:
    """The reservation guard on the Pod as mutated (an UPDATE review: against its oldObject)."""
    if expect.guard is None and expect.guard_denied is None:
        return []
    verdict = GUARD.decide(request, loaded, labels)
    if verdict is None:
        return [f"guard: the request is not a Pod CREATE or UPDATE ({request.operation})"]
    failures = []
    if expect.guard is not None and verdict.outcome != expect.guard:
        failures.append(f"guard: expected {expect.guard}, got {verdict.outcome} ({verdict.message})")
    if expect.guard_denied is not None and (
        verdict.message is None or expect.guard_denied not in verdict.message
    ):
        failures.append(
            f"expected a guard denial containing {_value(expect.guard_denied)}, got {_value(verdict.message)}"
        )
    return failures


def _check(case: Case, base: Path, policies: PolicySet) -> list[str]:
    """Every document of the input against the expectation; the i-th against the i-th expected Pod."""
    manifests, namespaces = read_manifests([str(base / case.input)], namespace=case.namespace)
    if manifests.skipped or manifests.models:  # a case's input is meant whole: nothing is skipped
        return [*manifests.skipped, *(f"{m.source}: a Model is not a Pod" for m in manifests.models)]
    subjects = manifests.subjects
    if not subjects:
        return [f"{case.input}: no Pods in the input"]
    check_label_values(subjects)
    labels = NamespaceLabels(namespaces, policies=policies, given=case.namespace_labels)
    wanted: list[RawObject | None] = [None] * len(subjects)
    if case.expect.pod is not None:
        wanted = [s.pod for s in read_subjects(str(base / case.expect.pod))]
        if len(wanted) != len(subjects):
            return [
                f"pod: {case.expect.pod} has {len(wanted)} documents for the {len(subjects)} of {case.input}"
            ]
    failures, loaded = [], LoadedPolicies(policies)
    for number, (subject, pod) in enumerate(zip(subjects, wanted, strict=True), start=1):
        prefix = f"document {number} ({subject.display_name}): " if len(subjects) > 1 else ""
        namespace_labels = labels(subject.namespace)
        failures += [prefix + f for f in _check_one(subject, pod, case, loaded, namespace_labels)]
    return failures


def run_case(path: Path) -> CaseResult:
    """Run one case file; problems reading it are reported as failures, not raised."""
    try:
        case = load_case(path)
    except InputError as exc:
        return CaseResult(path, path.parent.name, str(exc).splitlines())
    result = CaseResult(path, case.name)
    try:
        policies = load_policies(path.parent / case.policies)
        result.failures = _check(case, path.parent, policies)
    except PolicyError as exc:
        result.failures = [f"policies: {line}" for line in exc.problems]
    except (InputError, UndecidableError) as exc:
        result.failures = [str(exc)]
    return result
