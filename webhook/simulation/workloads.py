"""The Pod a workload's controller creates: what the webhook receives for a Deployment's Pods.

``review``, ``test`` and ``simulate`` review such Pods as Kyverno's rule auto-generation does for
its users: the workload's Pod template (``metadata`` and ``spec``), in the workload's namespace,
named and labelled as its controller names and labels it (kubernetes ``pkg/controller``):

- ReplicaSet (``GetPodFromTemplate``): ``generateName: <replicaset>-``, the template's labels,
  annotations and finalizers (every controller below starts from it);
- Deployment: its ReplicaSet's Pod, ``generateName: <deployment>-<pod-template-hash>-`` and the
  ``pod-template-hash`` label, whose value is a hash of the Go object that cannot be computed
  offline: the Pod here is ``<deployment>-*`` without that label;
- StatefulSet (``newStatefulSetPod``): ``name: <statefulset>-0`` (ordinal 0) with the
  ``statefulset.kubernetes.io/pod-name`` and ``apps.kubernetes.io/pod-index`` labels, hostname and
  subdomain (``spec.serviceName``); the ``controller-revision-hash`` label is not known offline;
- DaemonSet (``CreatePodTemplate``): ``generateName: <daemonset>-`` and the tolerations the
  controller adds (``AddOrUpdateDaemonPodTolerations``: not-ready and unreachable NoExecute with
  no time limit, the node-condition NoSchedule taints; network-unavailable with hostNetwork).
  The per-node ``matchFields`` term it also adds is left out: which node is not known offline;
- Job: ``generateName: <job>-`` with the ``job-name`` labels; CronJob: the Job of
  ``spec.jobTemplate`` (its name holds the schedule time: ``<cronjob>-*`` here).

Every Pod then goes through the API server's DefaultTolerationSeconds, as a Server's Pod does
(``webhook.simulation.admission_plugins``), and, where its controller is the workload itself, an
``ownerReferences`` entry naming it (the reservation guard's ``daemonSets`` rule reads it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from webhook.errors import InputError
from webhook.kube.objects import RawObject, as_dict
from webhook.kube.patches import clone_json
from webhook.simulation.admission_plugins import add_default_tolerations

#: kind -> the apiVersion its controller serves (older groups are no longer served by the API server)
WORKLOAD_KINDS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}

_NODE_CONDITION_TAINTS = (
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
)


def is_workload(doc: Any) -> bool:
    """A Deployment, StatefulSet, ReplicaSet, DaemonSet, Job or CronJob of the served API version."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return isinstance(kind, str) and kind in WORKLOAD_KINDS and doc.get("apiVersion") == WORKLOAD_KINDS[kind]


@dataclass(frozen=True)
class WorkloadPod:
    """The Pod a workload's controller creates, and the workload it came from (``Deployment ns/name``)."""

    pod: RawObject
    namespace: str
    kind: str
    name: str

    @property
    def origin(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def _template(spec: Any, path: str, where: str) -> dict[str, Any]:
    template = as_dict(spec).get("template")
    if not isinstance(template, dict) or not isinstance(
        as_dict(template.get("spec")).get("containers"), list
    ):
        raise InputError(f"{where}: {path}.spec.containers must be a list (the Pod template)")
    return template


def _daemon_tolerations(spec: dict[str, Any]) -> None:
    """``AddOrUpdateDaemonPodTolerations``, each through ``AddOrUpdateTolerationInPodSpec``: one
    with the same key, operator, value and effect (``MatchToleration``) is replaced in place,
    else the toleration is appended."""
    tolerations = spec.setdefault("tolerations", [])
    if not isinstance(tolerations, list):
        return
    keys = [(key, "NoExecute") for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")]
    keys += [(key, "NoSchedule") for key in _NODE_CONDITION_TAINTS]
    if spec.get("hostNetwork") is True:
        keys.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    for key, effect in keys:
        wanted = {"key": key, "operator": "Exists", "effect": effect}
        same = [
            i
            for i, t in enumerate(tolerations)
            if (as_dict(t).get("key"), as_dict(t).get("operator"), as_dict(t).get("value") or "")
            == (key, "Exists", "")
            and as_dict(t).get("effect") == effect
        ]
        for i in same:
            tolerations[i] = dict(wanted)
        if not same:
            tolerations.append(wanted)


def workload_pod(doc: RawObject, *, where: str, namespace: str | None) -> WorkloadPod:
    """The Pod ``doc`` (``is_workload``) has its controller create; ``namespace`` for a workload
    without metadata.namespace (else ``default``). ``where`` names the document in errors."""
    kind, metadata = str(doc["kind"]), as_dict(doc.get("metadata"))
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: {kind} without metadata.name")
    own = metadata.get("namespace")
    chosen = own if isinstance(own, str) and own else (namespace or "default")
    spec, path = doc.get("spec"), "spec.template"
    labels: dict[str, Any] = {}
    if kind == "CronJob":
        spec, path = (
            as_dict(as_dict(doc.get("spec")).get("jobTemplate")).get("spec"),
            "spec.jobTemplate.spec.template",
        )
    template = clone_json(_template(spec, path, f"{where}: {kind} {name}"))
    # GetPodFromTemplate: the template's labels, annotations and finalizers, generateName "<controller>-"
    kept = ("labels", "annotations", "finalizers")
    pod_meta = {"generateName": f"{name}-", "namespace": chosen} | {
        k: v for k, v in as_dict(template.get("metadata")).items() if k in kept
    }
    pod_spec = as_dict(template.get("spec"))
    if kind == "StatefulSet":  # newStatefulSetPod, then initIdentity: ordinal 0
        pod_meta = {"name": f"{name}-0", **pod_meta}
        labels = {"statefulset.kubernetes.io/pod-name": f"{name}-0", "apps.kubernetes.io/pod-index": "0"}
        pod_spec["hostname"] = f"{name}-0"
        service = as_dict(doc.get("spec")).get("serviceName")
        if isinstance(service, str) and service:
            pod_spec["subdomain"] = service
    if kind == "Job":
        labels = {"batch.kubernetes.io/job-name": name, "job-name": name}
    if kind == "DaemonSet":
        _daemon_tolerations(pod_spec)
    if labels or "labels" in pod_meta:
        pod_meta["labels"] = {**as_dict(pod_meta.get("labels")), **labels}
    if kind in ("ReplicaSet", "StatefulSet", "DaemonSet", "Job"):  # a Deployment's ReplicaSet is unnamed
        api, uid = WORKLOAD_KINDS[kind], metadata.get("uid")
        if not isinstance(uid, str) or not uid:  # a manifest has none yet: a stable stand-in
            uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{api}/{kind}/{chosen}/{name}"))
        owner = {"apiVersion": api, "kind": kind, "name": name, "uid": uid}
        pod_meta["ownerReferences"] = [owner | {"controller": True, "blockOwnerDeletion": True}]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}
    return WorkloadPod(add_default_tolerations(pod), chosen, kind, name)
