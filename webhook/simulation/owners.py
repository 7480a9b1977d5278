"""Who owns a Pod, and how to roll it: the controller a rollout replaces the Pod through
(StatefulSet, Deployment via its ReplicaSet, DaemonSet), or the bare Pod itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook.kube.objects import RawObject, as_dict, as_list, string_labels


@dataclass(frozen=True, order=True)
class Owner:
    """The controller that recreates a Pod (``kind`` ``Pod`` for a bare one), and how it was found."""

    namespace: str
    kind: str
    name: str
    via: str = field(default="", compare=False)  # e.g. "ReplicaSet triton-7d9f" for a Deployment

    @property
    def command(self) -> str | None:
        """The command that has the Pods recreated (and so reviewed again at CREATE), None when no
        single command does (``note`` then says what to do)."""
        if self.kind in ("StatefulSet", "Deployment", "DaemonSet"):
            return f"kubectl rollout restart {self.kind.lower()}/{self.name} -n {self.namespace}"
        return None

    @property
    def note(self) -> str | None:
        """How to have the Pods recreated when no rollout command does it."""
        ns = self.namespace
        if self.kind in ("StatefulSet", "Deployment", "DaemonSet"):
            return None
        if self.kind == "Pod":
            return (
                f"kubectl delete pod {self.name} -n {ns}, then create it again from its own manifest"
                " (not from kubectl get: that copy is bound to its node and the webhook skips it)"
            )
        return f"kubectl delete pod -n {ns} <the Pods below>: the {self.kind} {self.name} creates them again"


def controller_of(obj: RawObject) -> dict[str, Any] | None:
    refs = [as_dict(r) for r in as_list(as_dict(obj.get("metadata")).get("ownerReferences"))]
    return next((r for r in refs if r.get("controller") is True), None)


def owner_of(pod: RawObject, *, namespace: str, replicasets: Mapping[tuple[str, str], RawObject]) -> Owner:
    """The Pod's controller; a ReplicaSet stands for its Deployment. With the ReplicaSet at hand its
    own controller reference decides; without it (a Pod export alone), a ReplicaSet named
    ``<deployment>-<pod-template-hash>`` (the Deployment controller's naming) is taken for it."""
    ref = controller_of(pod)
    name = str(as_dict(as_dict(pod.get("metadata"))).get("name", ""))
    if ref is None:
        return Owner(namespace, "Pod", name)
    kind, owner_name = str(ref.get("kind", "")), str(ref.get("name", ""))
    if kind != "ReplicaSet":
        return Owner(namespace, kind, owner_name)
    via = f"ReplicaSet {owner_name}"
    replicaset = replicasets.get((namespace, owner_name))
    if replicaset is not None:
        parent = controller_of(replicaset)
        if parent is not None and parent.get("kind") == "Deployment":
            return Owner(namespace, "Deployment", str(parent.get("name", "")), via)
        return Owner(namespace, "ReplicaSet", owner_name)
    template_hash = string_labels(pod).get("pod-template-hash")
    if template_hash and owner_name.endswith(f"-{template_hash}"):
        return Owner(
            namespace, "Deployment", owner_name.removesuffix(f"-{template_hash}"), f"{via} (by name)"
        )
    return Owner(namespace, "ReplicaSet", owner_name)
