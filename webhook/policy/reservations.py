"""Reservations compiled for the guard: the reserved taint as data, each allow rule a predicate.

A reservation's ``allow`` rules are ORed, the fields of one rule ANDed (as a policy's ``match``),
so "DaemonSet Pods in gpu-operator" is one rule. Each rule is compiled once, at load time, and
carries the sentence that names it in the guard's answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from webhook.kube.objects import RawObject, as_dict, as_list, string_labels
from webhook.kube.selectors import label_selector_matches
from webhook.kube.tolerations import go_string
from webhook.policy.criteria import glob_matcher
from webhook.policy.model import AllowRule, Reservation

#: (Pod, request namespace) -> does the rule let this Pod tolerate the reserved taint?
AllowPredicate = Callable[[RawObject, str], bool]


def owned_by_daemonset(pod: RawObject) -> bool:
    """The Pod's controller is an ``apps/v1`` DaemonSet (``metadata.ownerReferences``, ``controller: true``),
    as the DaemonSet controller writes it."""
    for owner in as_list(as_dict(pod.get("metadata")).get("ownerReferences")):
        if (
            isinstance(owner, dict)
            and owner.get("controller") is True
            and owner.get("kind") == "DaemonSet"
            and owner.get("apiVersion") == "apps/v1"
        ):
            return True
    return False


@dataclass(frozen=True)
class CompiledAllowRule:
    holds: AllowPredicate
    description: str  # "allow[0] (namespaces [gpu-operator], DaemonSet Pods)"


@dataclass(frozen=True)
class CompiledReservation:
    """One reservation, ready for the guard: the taint's fields and the allow rules as predicates."""

    index: int
    reservation: Reservation
    allow: tuple[CompiledAllowRule, ...]

    @property
    def key(self) -> str:
        return self.reservation.taint.key

    @property
    def value(self) -> str | None:
        return self.reservation.taint.value

    @property
    def effect(self) -> str | None:
        return self.reservation.taint.effect

    @property
    def mode(self) -> str:
        return self.reservation.mode

    def carried_by(self, taint: Mapping[str, Any]) -> bool:
        """Whether a node's taint is one this reservation stands for: the same key, and the same
        value and effect where the reservation names them."""
        if go_string(taint.get("key")) != self.key:
            return False
        if self.value is not None and go_string(taint.get("value")) != self.value:
            return False
        return self.effect is None or go_string(taint.get("effect")) == self.effect

    @property
    def taint(self) -> str:
        """The reserved taint as kubectl prints taints (``seldon-gpu-srv:NoSchedule``: any value)."""
        return self.reservation.taint.describe()


def _compile_rule(rule: AllowRule, *, index: int) -> CompiledAllowRule:
    checks: list[AllowPredicate] = []
    words: list[str] = []
    if rule.namespaces is not None:
        in_namespaces = glob_matcher(rule.namespaces)
        checks.append(lambda _pod, namespace: in_namespaces(namespace))
        words.append(f"namespaces [{', '.join(rule.namespaces)}]")
    if rule.pod_selector is not None:
        selector = rule.pod_selector.model_dump(by_alias=True)
        checks.append(lambda pod, _namespace: label_selector_matches(selector, string_labels(pod)))
        words.append("podSelector")
    if rule.daemon_sets:
        checks.append(lambda pod, _namespace: owned_by_daemonset(pod))
        words.append("DaemonSet Pods")
    return CompiledAllowRule(
        holds=lambda pod, namespace: all(check(pod, namespace) for check in checks),
        description=f"allow[{index}] ({', '.join(words)})",
    )


def compile_reservation(reservation: Reservation, *, index: int) -> CompiledReservation:
    rules = tuple(_compile_rule(rule, index=i) for i, rule in enumerate(reservation.allow))
    return CompiledReservation(index=index, reservation=reservation, allow=rules)
