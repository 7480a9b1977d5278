"""The only module that talks to the Kubernetes API, through the official ``kubernetes`` client.

Objects go in and come out as plain dicts: responses are read raw (``_preload_content=False``) and
parsed as JSON, so nothing is dropped or defaulted by the client's typed models. Every failed call
becomes a one-line ClusterError naming the verb and the object.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from webhook.errors import ClusterError, InputError
from webhook.kube.objects import RawObject

REQUEST_TIMEOUT = 10  # seconds; a bootstrap Job should fail and retry rather than hang
JSON_PATCH = "application/json-patch+json"


def _check_kubeconfig(kubeconfig: str | None) -> None:
    """A kubeconfig named but missing is one clear line (the client library says "No configuration
    found."). ``$KUBECONFIG`` is a list; as kubectl, its missing entries only matter when all are."""
    if kubeconfig is not None:
        if not Path(kubeconfig).is_file():
            raise InputError(f"--kubeconfig {kubeconfig}: no such file")
        return
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed and not any(Path(p).is_file() for p in listed):
        raise InputError(f"KUBECONFIG={os.environ['KUBECONFIG']}: no such file")


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """An API client from the in-cluster service account when there is one, else from a kubeconfig.

    ``kubeconfig`` None means ``$KUBECONFIG``, read here at call time (the client reads it only
    once, when first imported), else ``~/.kube/config``. A fresh Configuration is used, so loading
    never changes the client library's global default.
    """
    configuration = client.Configuration()
    if kubeconfig is not None:
        _check_kubeconfig(kubeconfig)
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return client.ApiClient(configuration)
    except config.ConfigException:
        pass
    _check_kubeconfig(kubeconfig)
    try:
        config.load_kube_config(
            config_file=kubeconfig or os.environ.get("KUBECONFIG"), client_configuration=configuration
        )  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError) as exc:
        raise ClusterError(f"no in-cluster service account and no usable kubeconfig: {exc}") from None
    return client.ApiClient(configuration)


def _reason(exc: ApiException) -> str:
    """The API server's own one-line message from a Status body, else the HTTP reason."""
    try:
        message = json.loads(exc.body or b"{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return f"{exc.status} {message or exc.reason}".replace("\n", " ")


def call_api(
    what: str, method: Callable[..., Any], *args: Any, missing_ok: bool = False, **kwargs: Any
) -> Any:
    """Call one client method and return the JSON body as a dict (None for 404 when ``missing_ok``)."""
    try:
        response = method(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
    except ApiException as exc:
        if missing_ok and exc.status == 404:
            return None
        raise ClusterError(f"{what}: {_reason(exc)}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterError(f"{what}: {exc}") from None
    return json.loads(response.data)


def get_secret(api: client.ApiClient, name: str, *, namespace: str) -> RawObject | None:
    """The Secret, or None when it does not exist."""
    core = client.CoreV1Api(api)
    result: RawObject | None = call_api(
        f"get secret {namespace}/{name}", core.read_namespaced_secret, name, namespace, missing_ok=True
    )
    return result


def save_secret(api: client.ApiClient, secret: RawObject, *, existing: RawObject | None) -> str:
    """Create ``secret``, or replace ``existing`` with it (its resourceVersion guards against races)."""
    core = client.CoreV1Api(api)
    name, namespace = secret["metadata"]["name"], secret["metadata"]["namespace"]
    if existing is None:
        call_api(f"create secret {namespace}/{name}", core.create_namespaced_secret, namespace, secret)
        return "created"
    body = {
        **secret,
        "metadata": {**secret["metadata"], "resourceVersion": existing["metadata"]["resourceVersion"]},
    }
    call_api(f"update secret {namespace}/{name}", core.replace_namespaced_secret, name, namespace, body)
    return "updated"


#: The two kinds of webhook configuration ``certs --install`` patches: the placement webhook's and
#: the reservation guard's (the chart gives both the same name).
WebhookKind = Literal["mutating", "validating"]


def get_webhook_configuration(
    api: client.ApiClient, name: str, *, kind: WebhookKind = "mutating", missing_ok: bool = False
) -> RawObject | None:
    """The Mutating (or Validating) WebhookConfiguration; a ClusterError when it is not there
    (yet), or None then with ``missing_ok``."""
    admission = client.AdmissionregistrationV1Api(api)
    what = f"get {kind}webhookconfiguration {name}"
    method = getattr(admission, f"read_{kind}_webhook_configuration")
    result: RawObject | None = call_api(what, method, name, missing_ok=missing_ok)
    return result


def patch_webhook_configuration(
    api: client.ApiClient, name: str, ops: list[RawObject], *, kind: WebhookKind = "mutating"
) -> RawObject:
    """Apply a JSON Patch to the Mutating (or Validating) WebhookConfiguration."""
    admission = client.AdmissionregistrationV1Api(api)
    what = f"patch {kind}webhookconfiguration {name}"
    method = getattr(admission, f"patch_{kind}_webhook_configuration")
    result: RawObject = call_api(what, method, name, ops, _content_type=JSON_PATCH)
    return result


def get_namespace(api: client.ApiClient, name: str) -> RawObject | None:
    """The Namespace, or None when it does not exist."""
    core = client.CoreV1Api(api)
    result: RawObject | None = call_api(f"get namespace {name}", core.read_namespace, name, missing_ok=True)
    return result


def list_nodes(api: client.ApiClient) -> list[RawObject]:
    """Every Node, as the raw dicts the API server sent."""
    core = client.CoreV1Api(api)
    node_list: RawObject = call_api("list nodes", core.list_node)
    items = node_list.get("items")
    return items if isinstance(items, list) else []


SELDON_GROUP, SELDON_VERSION = "mlops.seldon.io", "v1alpha1"


def list_seldon_objects(
    api: client.ApiClient, plural: str, *, namespace: str | None = None
) -> list[RawObject]:
    """Every Seldon Core 2 object of a kind (``servers``, ``serverconfigs``, ``models``), in one
    namespace or in all, as raw dicts with their ``apiVersion`` and ``kind`` set."""
    custom = client.CustomObjectsApi(api)
    where = f" in {namespace}" if namespace else ""
    if namespace:
        listed: RawObject = call_api(
            f"list {plural}.{SELDON_GROUP}{where}",
            custom.list_namespaced_custom_object,
            SELDON_GROUP,
            SELDON_VERSION,
            namespace,
            plural,
        )
    else:
        listed = call_api(
            f"list {plural}.{SELDON_GROUP}",
            custom.list_cluster_custom_object,
            SELDON_GROUP,
            SELDON_VERSION,
            plural,
        )
    kind = str(listed.get("kind", "")).removesuffix("List")
    items = listed.get("items")
    return [
        {"apiVersion": f"{SELDON_GROUP}/{SELDON_VERSION}", "kind": kind, **item}
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]


# --- read-only lookups for ``audit --cluster`` (RBAC: docs/audit-rbac.yaml) ------------------------


def list_pods(api: client.ApiClient, *, namespace: str | None = None) -> list[RawObject]:
    """Every Pod, in one namespace or in all, as raw dicts with ``apiVersion`` and ``kind`` set."""
    core = client.CoreV1Api(api)
    if namespace:
        listed: RawObject = call_api(f"list pods in {namespace}", core.list_namespaced_pod, namespace)
    else:
        listed = call_api("list pods", core.list_pod_for_all_namespaces)
    items = listed.get("items")
    return [
        {"apiVersion": "v1", "kind": "Pod", **item}
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]


def get_replicaset(api: client.ApiClient, name: str, *, namespace: str) -> RawObject | None:
    """The ReplicaSet (to find its Deployment), or None when it is gone."""
    apps = client.AppsV1Api(api)
    what = f"get replicaset {namespace}/{name}"
    result: RawObject | None = call_api(
        what, apps.read_namespaced_replica_set, name, namespace, missing_ok=True
    )
    return result


def namespace_labels(api: client.ApiClient, *, namespace: str | None = None) -> dict[str, dict[str, str]]:
    """Labels per namespace: of every namespace (list), or of one (get)."""
    core = client.CoreV1Api(api)
    if namespace:
        one: RawObject | None = call_api(
            f"get namespace {namespace}", core.read_namespace, namespace, missing_ok=True
        )
        found = [one] if one is not None else []
    else:
        listed: RawObject = call_api("list namespaces", core.list_namespace)
        found = [i for i in listed.get("items") or [] if isinstance(i, dict)]
    labels: dict[str, dict[str, str]] = {}
    for item in found:
        metadata = item.get("metadata") or {}
        own = metadata.get("labels") or {}
        labels[str(metadata.get("name", ""))] = {str(k): str(v) for k, v in own.items()}
    return labels


def get_node(api: client.ApiClient, name: str) -> RawObject | None:
    """The Node, or None when it does not exist."""
    core = client.CoreV1Api(api)
    result: RawObject | None = call_api(f"get node {name}", core.read_node, name, missing_ok=True)
    return result
