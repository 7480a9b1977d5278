"""Who owns a Pod and how to roll it (``webhook/simulation/owners.py``): the controller reference,
a ReplicaSet standing for its Deployment (by its own reference, or by name), the commands and notes."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.simulation.owners import Owner, controller_of, owner_of


def ref(kind: str, name: str, *, controller: Any = True) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": controller}


def pod(*refs: Any, name: Any = "web-7d9f-abcde", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "ownerReferences": list(refs), "labels": labels}}


def replicaset(*refs: Any, name: str = "web-7d9f") -> dict[str, Any]:
    return {"metadata": {"name": name, "ownerReferences": list(refs)}}


def test_the_controller_reference_is_the_one_marked_controller() -> None:
    assert controller_of(pod(ref("A", "a", controller=False), ref("B", "b"), ref("C", "c"))) == ref("B", "b")
    assert controller_of(pod(ref("A", "a", controller="true"), ref("B", "b", controller=None))) is None
    assert controller_of(pod("x", None, ref("B", "b"))) == ref("B", "b")
    assert controller_of({"metadata": {"ownerReferences": "x"}}) is None
    assert controller_of({}) is None


@pytest.mark.parametrize(
    ("owned", "replicasets", "owner", "via"),
    [
        (pod(name="bare"), {}, Owner("ns", "Pod", "bare"), ""),
        (pod(ref("Deployment", "web", controller=False), name="bare"), {}, Owner("ns", "Pod", "bare"), ""),
        ({"metadata": {}}, {}, Owner("ns", "Pod", ""), ""),
        (pod(ref("StatefulSet", "db")), {}, Owner("ns", "StatefulSet", "db"), ""),
        (pod(ref("DaemonSet", "agent")), {}, Owner("ns", "DaemonSet", "agent"), ""),
        (pod(ref("Job", "j")), {}, Owner("ns", "Job", "j"), ""),
        (pod({"controller": True}), {}, Owner("ns", "", ""), ""),
        (  # the ReplicaSet at hand: its own controller decides
            pod(ref("ReplicaSet", "web-7d9f")),
            {("ns", "web-7d9f"): replicaset(ref("Deployment", "web"))},
            Owner("ns", "Deployment", "web"),
            "ReplicaSet web-7d9f",
        ),
        (  # a ReplicaSet of nothing, or of something else, stands for itself, whatever its name
            pod(ref("ReplicaSet", "web-7d9f"), **{"pod-template-hash": "7d9f"}),
            {("ns", "web-7d9f"): replicaset(ref("Other", "web"))},
            Owner("ns", "ReplicaSet", "web-7d9f"),
            "",
        ),
        (
            pod(ref("ReplicaSet", "web-7d9f")),
            {("ns", "web-7d9f"): replicaset(ref("Deployment", "web", controller=False))},
            Owner("ns", "ReplicaSet", "web-7d9f"),
            "",
        ),
        (  # in another namespace: not this one's
            pod(ref("ReplicaSet", "web-7d9f"), **{"pod-template-hash": "7d9f"}),
            {("other", "web-7d9f"): replicaset(ref("Other", "web"))},
            Owner("ns", "Deployment", "web"),
            "ReplicaSet web-7d9f (by name)",
        ),
        (  # without the ReplicaSet: taken for a Deployment's by its name and the Pod's hash label
            pod(ref("ReplicaSet", "web-7d9f"), **{"pod-template-hash": "9999"}),
            {},
            Owner("ns", "ReplicaSet", "web-7d9f"),
            "",
        ),
        (pod(ref("ReplicaSet", "web-7d9f")), {}, Owner("ns", "ReplicaSet", "web-7d9f"), ""),
        (
            pod(ref("ReplicaSet", "web7d9f"), **{"pod-template-hash": "7d9f"}),
            {},
            Owner("ns", "ReplicaSet", "web7d9f"),
            "",
        ),
    ],
)
def test_owner_of(owned: dict[str, Any], replicasets: dict[Any, Any], owner: Owner, via: str) -> None:
    found = owner_of(owned, namespace="ns", replicasets=replicasets)
    assert (found.namespace, found.kind, found.name, found.via) == (
        owner.namespace,
        owner.kind,
        owner.name,
        via,
    )


def test_a_deployment_by_name_keeps_the_rest_of_the_name() -> None:
    owned = pod(ref("ReplicaSet", "web-api-7d9f"), **{"pod-template-hash": "7d9f"})
    found = owner_of(owned, namespace="ns", replicasets={})
    assert (found.kind, found.name, found.via) == (
        "Deployment",
        "web-api",
        "ReplicaSet web-api-7d9f (by name)",
    )


@pytest.mark.parametrize(
    ("owner", "command", "note"),
    [
        (Owner("ns", "StatefulSet", "db"), "kubectl rollout restart statefulset/db -n ns", None),
        (Owner("ns", "Deployment", "web"), "kubectl rollout restart deployment/web -n ns", None),
        (Owner("ns", "DaemonSet", "agent"), "kubectl rollout restart daemonset/agent -n ns", None),
        (
            Owner("ns", "Pod", "bare"),
            None,
            "kubectl delete pod bare -n ns, then create it again from its own manifest (not from kubectl"
            " get: that copy is bound to its node and the webhook skips it)",
        ),
        (
            Owner("ns", "ReplicaSet", "web-7d9f"),
            None,
            "kubectl delete pod -n ns <the Pods below>: the ReplicaSet web-7d9f creates them again",
        ),
    ],
)
def test_how_to_roll_each_owner(owner: Owner, command: str | None, note: str | None) -> None:
    assert (owner.command, owner.note) == (command, note)


def test_owners_compare_without_how_they_were_found() -> None:
    assert Owner("ns", "Deployment", "web", "ReplicaSet a") == Owner("ns", "Deployment", "web")
    assert sorted([Owner("b", "A", "x"), Owner("a", "Z", "y"), Owner("a", "B", "z")]) == [
        Owner("a", "B", "z"),
        Owner("a", "Z", "y"),
        Owner("b", "A", "x"),
    ]
