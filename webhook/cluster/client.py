"""The only module that talks to the Kubernetes API, through the official ``kubernetes`` client.

Objects go in and come out as plain dicts: responses are read raw (``_preload_content=False``) and
parsed as JSON, so nothing is dropped or defaulted by the client's typed models. Every failed call
becomes a one-line ClusterError naming the verb and the object.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from webhook.errors import ClusterError, InputError
from webhook.kube.objects import RawObject

REQUEST_TIMEOUT = 10  # seconds; a bootstrap Job should fail and retry rather than hang
JSON_PATCH = "application/json-patch+json"
#: items per list call, as kubectl's ``--chunk-size`` (0: the whole list in one call)
DEFAULT_CHUNK_SIZE = 500
#: times a list starts over after its continue token expired
LIST_RESTARTS = 3


class ContinueExpiredError(ClusterError):
    """410 Gone: the list's continue token refers to a revision etcd has compacted away."""


#: told after each page: what is listed, items read so far, items the API server says remain
#: (None when it does not say), and whether that was the last page
PageProgress = Callable[[str, int, "int | None", bool], None]


@dataclass(frozen=True)
class Paging:
    """How lists are read: ``chunk_size`` items per call, and who hears of each page."""

    chunk_size: int = DEFAULT_CHUNK_SIZE
    progress: PageProgress | None = None


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
        if exc.status == 410:
            raise ContinueExpiredError(f"{what}: {_reason(exc)}") from None
        raise ClusterError(f"{what}: {_reason(exc)}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterError(f"{what}: {exc}") from None
    return json.loads(response.data)


def list_all(what: str, method: Callable[..., Any], *args: Any, paging: Paging = Paging()) -> list[Any]:
    """Every item of a list call, read as kubectl reads it: pages of ``chunk_size`` items
    (``limit``, then ``continue``), so neither the API server nor this process holds a large
    cluster's list in one response. A continue token that expires between pages (410 Gone: the
    list took longer than etcd keeps its revision) starts the list over, up to ``LIST_RESTARTS``
    times, so the items are always those of one consistent list."""
    for attempt in range(LIST_RESTARTS + 1):
        items: list[Any] = []
        token: str | None = None
        try:
            while True:
                options: dict[str, Any] = {"limit": paging.chunk_size} if paging.chunk_size else {}
                if token is not None:
                    options["_continue"] = token
                page: RawObject = call_api(what, method, *args, **options)
                found = page.get("items")
                items += found if isinstance(found, list) else []
                metadata = page.get("metadata") or {}
                token = metadata.get("continue") or None
                if paging.progress is not None:
                    paging.progress(what, len(items), metadata.get("remainingItemCount"), token is None)
                if token is None:
                    return items
        except ContinueExpiredError:
            if token is None or attempt == LIST_RESTARTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


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


def list_nodes(api: client.ApiClient, *, paging: Paging = Paging()) -> list[RawObject]:
    """Every Node, as the raw dicts the API server sent."""
    core = client.CoreV1Api(api)
    return list_all("list nodes", core.list_node, paging=paging)


SELDON_GROUP, SELDON_VERSION = "mlops.seldon.io", "v1alpha1"
#: the kind of each plural listed (a list's items carry none; its ``kind`` is on the List)
SELDON_KINDS = {"servers": "Server", "serverconfigs": "ServerConfig", "models": "Model"}


def list_seldon_objects(
    api: client.ApiClient, plural: str, *, namespace: str | None = None, paging: Paging = Paging()
) -> list[RawObject]:
    """Every Seldon Core 2 object of a kind (``servers``, ``serverconfigs``, ``models``), in one
    namespace or in all, as raw dicts with their ``apiVersion`` and ``kind`` set."""
    custom = client.CustomObjectsApi(api)
    where = f" in {namespace}" if namespace else ""
    what = f"list {plural}.{SELDON_GROUP}{where}"
    if namespace:
        args: tuple[Any, ...] = (
            custom.list_namespaced_custom_object,
            SELDON_GROUP,
            SELDON_VERSION,
            namespace,
        )
    else:
        args = (custom.list_cluster_custom_object, SELDON_GROUP, SELDON_VERSION)
    items = list_all(what, *args, plural, paging=paging)
    kind = SELDON_KINDS.get(plural, plural)
    return [
        {"apiVersion": f"{SELDON_GROUP}/{SELDON_VERSION}", "kind": kind, **item}
        for item in items
        if isinstance(item, dict)
    ]


# --- read-only lookups for ``audit --cluster`` (RBAC: docs/audit-rbac.yaml) ------------------------


def list_pods(
    api: client.ApiClient, *, namespace: str | None = None, paging: Paging = Paging()
) -> list[RawObject]:
    """Every Pod, in one namespace or in all, as raw dicts with ``apiVersion`` and ``kind`` set."""
    core = client.CoreV1Api(api)
    if namespace:
        items = list_all(f"list pods in {namespace}", core.list_namespaced_pod, namespace, paging=paging)
    else:
        items = list_all("list pods", core.list_pod_for_all_namespaces, paging=paging)
    return [{"apiVersion": "v1", "kind": "Pod", **item} for item in items if isinstance(item, dict)]


def get_replicaset(api: client.ApiClient, name: str, *, namespace: str) -> RawObject | None:
    """The ReplicaSet (to find its Deployment), or None when it is gone."""
    apps = client.AppsV1Api(api)
    what = f"get replicaset {namespace}/{name}"
    result: RawObject | None = call_api(
        what, apps.read_namespaced_replica_set, name, namespace, missing_ok=True
    )
    return result


def namespace_labels(
    api: client.ApiClient, *, namespace: str | None = None, paging: Paging = Paging()
) -> dict[str, dict[str, str]]:
    """Labels per namespace: of every namespace (list), or of one (get)."""
    core = client.CoreV1Api(api)
    if namespace:
        one: RawObject | None = call_api(
            f"get namespace {namespace}", core.read_namespace, namespace, missing_ok=True
        )
        found = [one] if one is not None else []
    else:
        found = [
            i for i in list_all("list namespaces", core.list_namespace, paging=paging) if isinstance(i, dict)
        ]
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
