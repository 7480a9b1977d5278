"""The only module that talks to the Kubernetes API, through the official ``kubernetes`` client.

Objects go in and come out as plain dicts: requests go through the client's configured connection
(credentials, TLS, proxy, retries) by path, and responses are read raw and parsed as JSON, so
nothing is dropped or defaulted by the client's typed models. The generated API methods are not
used: since kubernetes 37 each validates its arguments with pydantic models built at its first
call, ~21 MB more in every process that calls one (measured: the server's RSS 88 -> 67 MB). Every
failed call becomes a one-line ClusterError naming the verb and the object.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
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

NAMESPACES = "/api/v1/namespaces"
NAMESPACE = f"{NAMESPACES}/{{name}}"
NODES = "/api/v1/nodes"
SECRETS = "/api/v1/namespaces/{namespace}/secrets"
SECRET = "/api/v1/namespaces/{namespace}/secrets/{name}"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


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


#: query parameters as the API server names them (``limit``, ``continue``, ``watch``...)
Query = Sequence[tuple[str, str | int | bool]]
#: seconds for the whole call, or (connect, read)
Timeout = float | tuple[float, float]


def request(
    api: client.ApiClient,
    verb: str,
    path: str,
    *,
    names: Mapping[str, str] | None = None,
    query: Query = (),
    body: Any = None,
    content_type: str | None = None,
    timeout: Timeout = REQUEST_TIMEOUT,
) -> Any:
    """One call by path (``/api/v1/namespaces/{name}``, ``names`` filling the braces, quoted) with
    the client's credentials; the urllib3 response, unread (a watch is read as it streams). A
    status other than 2xx raises ``ApiException``, as the generated methods raise it."""
    headers = {"Accept": "application/json"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    serialized = api.param_serialize(
        verb,
        path,
        path_params=dict(names or {}),
        query_params=list(query),
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*serialized, _request_timeout=timeout)
    if not 200 <= response.status <= 299:
        response.read()  # type: ignore[no-untyped-call]
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    return response.response


def call_api(
    api: client.ApiClient, what: str, verb: str, path: str, *, missing_ok: bool = False, **options: Any
) -> Any:
    """One ``request`` (``options``: its ``names``, ``query``, ``body``, ``content_type``) and its
    JSON body as a dict; None for 404 when ``missing_ok``, a ClusterError naming ``what`` otherwise."""
    try:
        response = request(api, verb, path, **options)
    except ApiException as exc:
        if missing_ok and exc.status == 404:
            return None
        if exc.status == 410:
            raise ContinueExpiredError(f"{what}: {_reason(exc)}") from None
        raise ClusterError(f"{what}: {_reason(exc)}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterError(f"{what}: {exc}") from None
    return json.loads(response.data)


def list_all(
    api: client.ApiClient,
    what: str,
    path: str,
    *,
    names: Mapping[str, str] | None = None,
    paging: Paging = Paging(),
) -> list[Any]:
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
                query: list[tuple[str, str | int | bool]] = []
                if paging.chunk_size:
                    query.append(("limit", paging.chunk_size))
                if token is not None:
                    query.append(("continue", token))
                page: RawObject = call_api(api, what, "GET", path, names=names, query=query)
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
    result: RawObject | None = call_api(
        api,
        f"get secret {namespace}/{name}",
        "GET",
        SECRET,
        names={"namespace": namespace, "name": name},
        missing_ok=True,
    )
    return result


def save_secret(api: client.ApiClient, secret: RawObject, *, existing: RawObject | None) -> str:
    """Create ``secret``, or replace ``existing`` with it (its resourceVersion guards against races)."""
    name, namespace = secret["metadata"]["name"], secret["metadata"]["namespace"]
    names = {"namespace": namespace, "name": name}
    if existing is None:
        call_api(api, f"create secret {namespace}/{name}", "POST", SECRETS, names=names, body=secret)
        return "created"
    body = {
        **secret,
        "metadata": {**secret["metadata"], "resourceVersion": existing["metadata"]["resourceVersion"]},
    }
    call_api(api, f"update secret {namespace}/{name}", "PUT", SECRET, names=names, body=body)
    return "updated"


#: The two kinds of webhook configuration ``certs --install`` patches: the placement webhook's and
#: the reservation guard's (the chart gives both the same name).
WebhookKind = Literal["mutating", "validating"]


def get_webhook_configuration(
    api: client.ApiClient, name: str, *, kind: WebhookKind = "mutating", missing_ok: bool = False
) -> RawObject | None:
    """The Mutating (or Validating) WebhookConfiguration; a ClusterError when it is not there
    (yet), or None then with ``missing_ok``."""
    what = f"get {kind}webhookconfiguration {name}"
    path = f"{ADMISSION}/{kind}webhookconfigurations/{{name}}"
    result: RawObject | None = call_api(api, what, "GET", path, names={"name": name}, missing_ok=missing_ok)
    return result


def patch_webhook_configuration(
    api: client.ApiClient, name: str, ops: list[RawObject], *, kind: WebhookKind = "mutating"
) -> RawObject:
    """Apply a JSON Patch to the Mutating (or Validating) WebhookConfiguration."""
    what = f"patch {kind}webhookconfiguration {name}"
    path = f"{ADMISSION}/{kind}webhookconfigurations/{{name}}"
    result: RawObject = call_api(
        api, what, "PATCH", path, names={"name": name}, body=ops, content_type=JSON_PATCH
    )
    return result


def get_namespace(api: client.ApiClient, name: str) -> RawObject | None:
    """The Namespace, or None when it does not exist."""
    result: RawObject | None = call_api(
        api, f"get namespace {name}", "GET", NAMESPACE, names={"name": name}, missing_ok=True
    )
    return result


def list_nodes(api: client.ApiClient, *, paging: Paging = Paging()) -> list[RawObject]:
    """Every Node, as the raw dicts the API server sent."""
    return list_all(api, "list nodes", NODES, paging=paging)


SELDON_GROUP, SELDON_VERSION = "mlops.seldon.io", "v1alpha1"
#: the kind of each plural listed (a list's items carry none; its ``kind`` is on the List)
SELDON_KINDS = {"servers": "Server", "serverconfigs": "ServerConfig", "models": "Model"}


def list_seldon_objects(
    api: client.ApiClient, plural: str, *, namespace: str | None = None, paging: Paging = Paging()
) -> list[RawObject]:
    """Every Seldon Core 2 object of a kind (``servers``, ``serverconfigs``, ``models``), in one
    namespace or in all, as raw dicts with their ``apiVersion`` and ``kind`` set."""
    where = f" in {namespace}" if namespace else ""
    what = f"list {plural}.{SELDON_GROUP}{where}"
    group = f"/apis/{SELDON_GROUP}/{SELDON_VERSION}"
    if namespace:
        path, names = (
            f"{group}/namespaces/{{namespace}}/{{plural}}",
            {"namespace": namespace, "plural": plural},
        )
    else:
        path, names = f"{group}/{{plural}}", {"plural": plural}
    items = list_all(api, what, path, names=names, paging=paging)
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
    if namespace:
        path = "/api/v1/namespaces/{namespace}/pods"
        items = list_all(
            api, f"list pods in {namespace}", path, names={"namespace": namespace}, paging=paging
        )
    else:
        items = list_all(api, "list pods", "/api/v1/pods", paging=paging)
    return [{"apiVersion": "v1", "kind": "Pod", **item} for item in items if isinstance(item, dict)]


def get_replicaset(api: client.ApiClient, name: str, *, namespace: str) -> RawObject | None:
    """The ReplicaSet (to find its Deployment), or None when it is gone."""
    what = f"get replicaset {namespace}/{name}"
    path = "/apis/apps/v1/namespaces/{namespace}/replicasets/{name}"
    names = {"namespace": namespace, "name": name}
    result: RawObject | None = call_api(api, what, "GET", path, names=names, missing_ok=True)
    return result


def namespace_labels(
    api: client.ApiClient, *, namespace: str | None = None, paging: Paging = Paging()
) -> dict[str, dict[str, str]]:
    """Labels per namespace: of every namespace (list), or of one (get)."""
    if namespace:
        one = get_namespace(api, namespace)
        found = [one] if one is not None else []
    else:
        found = [
            i for i in list_all(api, "list namespaces", NAMESPACES, paging=paging) if isinstance(i, dict)
        ]
    labels: dict[str, dict[str, str]] = {}
    for item in found:
        metadata = item.get("metadata") or {}
        own = metadata.get("labels") or {}
        labels[str(metadata.get("name", ""))] = {str(k): str(v) for k, v in own.items()}
    return labels


def get_node(api: client.ApiClient, name: str) -> RawObject | None:
    """The Node, or None when it does not exist."""
    result: RawObject | None = call_api(
        api, f"get node {name}", "GET", f"{NODES}/{{name}}", names={"name": name}, missing_ok=True
    )
    return result
