"""What the API server does to a Pod before our webhook sees it, for Pods we build ourselves.

An AdmissionReview's object is taken as the API server sent it to the webhook; a Pod file, a Pod
built from a Seldon ``Server`` manifest, or a probe Pod built from a policy, has not been through
the API server yet (``simulate.admitted_pod``). Only the steps that change *placement* are
modelled:

- ``DefaultTolerationSeconds`` (enabled by default): tolerate ``node.kubernetes.io/not-ready`` and
  ``unreachable`` (NoExecute) for 300 s unless the Pod already tolerates them
  (``plugin/pkg/admission/defaulttolerationseconds``);
- ``ExtendedResourceToleration`` (off by default in kube-apiserver, on in e.g. GKE): for every
  extended resource a container or init container requests, add ``{key: <resource>, operator:
  Exists, effect: NoSchedule}`` unless an identical toleration exists
  (``plugin/pkg/admission/extendedresourcetoleration`` ``Admit``, ``helper.IsExtendedResourceName``,
  ``AddOrUpdateTolerationInPod``). Both run before ``MutatingAdmissionWebhook`` in the plugin order;
- defaulting: a resource given only in ``limits`` is requested at its limit (``SetDefaults_Pod``).
"""

from __future__ import annotations

from typing import Any

from webhook.kube.objects import RawObject, as_dict, as_list
from webhook.kube.selectors import qualified_name_error

DEFAULT_TOLERATION_SECONDS = 300
NOT_READY, UNREACHABLE = "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"


def is_extended_resource(name: str) -> bool:
    """``helper.IsExtendedResourceName``: domain-prefixed, not ``kubernetes.io/``, not ``requests.``."""
    if "/" not in name or "kubernetes.io/" in name or name.startswith("requests."):
        return False
    return qualified_name_error(f"requests.{name}") is None


def requested_resources(pod: RawObject) -> dict[str, Any]:
    """Every resource a container or init container requests (limits stand in for absent requests)."""
    spec = as_dict(pod.get("spec"))
    requested: dict[str, Any] = {}
    for field in ("initContainers", "containers"):
        for container in as_list(spec.get(field)):
            resources = as_dict(as_dict(container).get("resources"))
            defaulted = {**as_dict(resources.get("limits")), **as_dict(resources.get("requests"))}
            requested.update({k: v for k, v in defaulted.items() if isinstance(k, str)})
    return requested


def extended_resources(pod: RawObject) -> list[str]:
    """The extended resource names the Pod requests, sorted (as the plugin iterates them)."""
    return sorted(name for name in requested_resources(pod) if is_extended_resource(name))


def _with_tolerations(pod: RawObject, added: list[dict[str, Any]]) -> RawObject:
    """A shallow copy of ``pod`` with ``added`` appended to its tolerations (``pod`` is not changed)."""
    if not added:
        return pod
    spec = as_dict(pod.get("spec"))
    return {**pod, "spec": {**spec, "tolerations": [*as_list(spec.get("tolerations")), *added]}}


def _identity(toleration: Any) -> tuple[str, str, str, str]:
    """``Toleration.MatchToleration``: tolerations are unique by key, effect, operator and value."""
    t = as_dict(toleration)
    return (t.get("key") or "", t.get("effect") or "", t.get("operator") or "", t.get("value") or "")


def add_extended_resource_tolerations(pod: RawObject) -> RawObject:
    """The Pod after the ``ExtendedResourceToleration`` admission plugin."""
    present = {_identity(t) for t in as_list(as_dict(pod.get("spec")).get("tolerations"))}
    wanted = [{"key": name, "operator": "Exists", "effect": "NoSchedule"} for name in extended_resources(pod)]
    return _with_tolerations(pod, [t for t in wanted if _identity(t) not in present])


def add_default_tolerations(pod: RawObject) -> RawObject:
    """The Pod after ``DefaultTolerationSeconds``; a key it already tolerates for NoExecute is left alone."""
    tolerations = [as_dict(t) for t in as_list(as_dict(pod.get("spec")).get("tolerations"))]

    def tolerated(key: str) -> bool:  # the plugin's own test: same or empty key, NoExecute or any effect
        return any(
            (t.get("key") or "") in (key, "") and (t.get("effect") or "NoExecute") == "NoExecute"
            for t in tolerations
        )

    added = [
        {
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
        }
        for key in (NOT_READY, UNREACHABLE)
        if not tolerated(key)
    ]
    return _with_tolerations(pod, added)
