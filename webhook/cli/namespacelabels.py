"""Where ``review``, ``simulate`` and ``test`` find a namespace's labels for namespaceSelector.

In order: a Namespace manifest among the inputs (for that namespace), else ``--namespace-labels
k=v,...`` (for every Pod whose namespace has no manifest), else with ``--cluster`` a GET of the
Namespace; else the labels are unknown, and the engine's rule applies (an enforce policy that
needs them: exit 2 with the message; an audit policy: a warning). Nothing is looked up when no
policy uses namespaceSelector.

A manifest's labels and the flag's get ``kubernetes.io/metadata.name`` set to the namespace's
name, as the API server sets it on every Namespace (a GET already has it): a policy selecting on
it answers offline as it does live.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from webhook.errors import ClusterError, InputError
from webhook.kube.objects import stored_namespace_labels
from webhook.kube.selectors import label_value_error, qualified_name_error
from webhook.policy.compiled import PolicySet


def parse_namespace_labels(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` (empty: a namespace without labels), each key and value valid as a label."""
    labels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        value_problem = label_value_error(value)
        problem = (
            "expected KEY=VALUE"
            if not sep
            else qualified_name_error(key) or (f"value {value_problem}" if value_problem else None)
        )
        if problem:
            raise InputError(f"--namespace-labels {item}: {problem}")
        labels[key] = value
    return labels


def add_namespace_labels_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--namespace-labels",
        metavar="K=V,...",
        help="labels of the Pods' namespace for namespaceSelector (a Namespace manifest among the"
        " inputs wins for its own namespace)",
    )


def add_cluster_labels_option(parser: argparse.ArgumentParser) -> None:
    """``--cluster`` and ``--kubeconfig`` for verbs that otherwise never call the API (review)."""
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="read the labels of namespaces not given otherwise from the cluster (GET namespace)",
    )
    parser.add_argument(
        "--kubeconfig", help="with --cluster: kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )


class NamespaceLabels:
    """name -> labels, or None when unknown; each cluster namespace is read at most once."""

    def __init__(
        self,
        manifests: Mapping[str, Mapping[str, str]],
        *,
        policies: PolicySet,
        given: Mapping[str, str] | None = None,
        cluster: bool = False,
        kubeconfig: str | None = None,
    ) -> None:
        self.manifests = manifests
        self.needed = policies.uses_namespace_selector
        self.given = given
        self.cluster, self.kubeconfig = cluster, kubeconfig
        self._api: Any = None
        self._fetched: dict[str, Mapping[str, str] | None] = {}

    def __call__(self, name: str) -> Mapping[str, str] | None:
        if not self.needed:
            return None
        if name in self.manifests:
            return stored_namespace_labels(name, self.manifests[name])
        if self.given is not None:
            return stored_namespace_labels(name, self.given)
        if not self.cluster:
            return None
        if name not in self._fetched:
            self._fetched[name] = self._fetch(name)
        return self._fetched[name]

    def _fetch(self, name: str) -> Mapping[str, str] | None:
        from webhook.cluster import client as cluster  # here: the kubernetes client is slow to import
        from webhook.kube.objects import string_labels

        try:
            if self._api is None:
                self._api = cluster.load_api_client(self.kubeconfig)
            namespace = cluster.get_namespace(self._api, name)
        except ClusterError as exc:
            raise InputError(f"cluster: {exc}") from exc
        return None if namespace is None else string_labels(namespace)


def namespace_labels_from(
    args: argparse.Namespace, manifests: Mapping[str, Mapping[str, str]], policies: PolicySet
) -> NamespaceLabels:
    flag = getattr(args, "namespace_labels", None)
    return NamespaceLabels(
        manifests,
        policies=policies,
        given=parse_namespace_labels(flag) if flag is not None else None,
        cluster=bool(getattr(args, "cluster", False)),
        kubeconfig=getattr(args, "kubeconfig", None),
    )


def describe_labels(labels: Mapping[str, str] | None) -> str:
    """For the review summary: ``team=nlp, env=prod``, ``(none)`` or ``unknown``."""
    if labels is None:
        return "unknown"
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(none)"
