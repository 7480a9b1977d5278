"""Seldon Core 2 ``Server`` and ``ServerConfig`` manifests, turned into the Pod each will produce.

Follows the Seldon operator (SeldonIO/seldon-core ``operator/``): ``ServerReconciler.
createDeploymentReconciler`` merges the ServerConfig's ``podSpec`` with the Server's
(``common.MergePodSpecs``: mergo ``WithOverride`` and ``WithAppendSlice``, containers merged by
name in ``MergeContainers``), rewrites ``SELDON_SERVER_CAPABILITIES`` (``updateCapabilities``),
and the StatefulSet's Pod template carries ``seldon-server-name: <server>`` and
``app.kubernetes.io/name: seldon-server`` over the Server's and ServerConfig's labels
(``toStatefulSet``).

Approximations: ``merge_overrides`` stands in for mergo (maps merged key by key, lists appended, a
non-empty value overrides); the Pod is ``<server>-0`` (StatefulSet ordinal 0); image overrides,
replicas and volume claim templates are ignored, as they do not affect placement. ServerConfigs
are the bases of the Servers in the input; an input with no Server at all stands for the Servers
the ``seldon-core-v2-runtime`` chart creates, one per ServerConfig, named after it and in its
namespace (else ``-n``, else ``default``, as for a Server). The API server's own
additions (default tolerations, extended-resource tolerations) come from ``webhook.apiserver``.
"""

from __future__ import annotations

from typing import Any

from webhook.engine.documents import Subject, read_documents, subject_from_document
from webhook.errors import InputError
from webhook.kube.objects import CAPABILITIES_ENV, SERVER_NAME_LABEL, RawObject, as_dict, as_list
from webhook.kube.patches import clone_json
from webhook.simulation.admission_plugins import add_default_tolerations

SELDON_API_PREFIX = "mlops.seldon.io/"
SERVER_LABELS = {"app.kubernetes.io/name": "seldon-server"}


def is_seldon_manifest(doc: Any) -> bool:
    """A ``Server`` or ``ServerConfig`` of Seldon Core 2's ``mlops.seldon.io`` API group."""
    return (
        isinstance(doc, dict)
        and doc.get("kind") in ("Server", "ServerConfig")
        and str(doc.get("apiVersion", "")).startswith(SELDON_API_PREFIX)
    )


def _is_empty(value: Any) -> bool:
    """mergo's ``isEmptyValue``: such a value in the override does not replace the base's."""
    return value is None or value == "" or value is False or value == 0 or value == {} or value == []


def merge_overrides(base: Any, override: Any) -> Any:
    """mergo ``Merge(base, override, WithOverride, WithAppendSlice)`` on plain JSON data."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_overrides(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return base if _is_empty(override) else override


def merge_containers(existing: list[Any], overrides: list[Any]) -> list[Any]:
    """``MergeContainers``: overrides first (merged into a same-named one), then the untouched rest."""
    by_name = {as_dict(c).get("name"): c for c in existing}
    merged = [
        merge_overrides(by_name[name], c) if (name := as_dict(c).get("name")) in by_name else c
        for c in overrides
    ]
    named = {as_dict(c).get("name") for c in overrides}
    return merged + [c for c in existing if as_dict(c).get("name") not in named]


def _set_capabilities(spec: dict[str, Any], server_spec: dict[str, Any]) -> None:
    """``updateCapabilities``: ``capabilities`` replace the agent's list, ``extraCapabilities`` extend it."""
    capabilities = [str(c) for c in as_list(server_spec.get("capabilities"))]
    extra = [str(c) for c in as_list(server_spec.get("extraCapabilities"))]
    for container in as_list(spec.get("containers")):
        for var in as_list(as_dict(container).get("env")):
            if isinstance(var, dict) and var.get("name") == CAPABILITIES_ENV and (capabilities or extra):
                var["value"] = (
                    ",".join(capabilities) if capabilities else f"{var.get('value', '')},{','.join(extra)}"
                )


def _pod_spec(doc: RawObject, where: str) -> dict[str, Any]:
    spec = as_dict(doc.get("spec")).get("podSpec")
    if not isinstance(spec, dict):
        raise InputError(f"{where}: spec.podSpec must be a mapping")
    return spec


def server_pod(server: RawObject, config: RawObject, *, namespace: str, source: str) -> RawObject:
    """The Pod the operator's StatefulSet creates for ``server`` built on ``config``."""
    name = str(as_dict(server.get("metadata")).get("name"))
    server_spec = as_dict(server.get("spec"))
    spec = _pod_spec(config, f"{source}: ServerConfig")
    override = server_spec.get("podSpec")
    if override is not None:
        if not isinstance(override, dict):
            raise InputError(f"{source}: Server {name}: spec.podSpec must be a mapping")
        merged = merge_overrides(spec, override)
        merged["containers"] = merge_containers(
            as_list(spec.get("containers")), as_list(override.get("containers"))
        )
        spec = merged
    spec = clone_json(spec)
    _set_capabilities(spec, server_spec)
    server_meta, config_meta = as_dict(server.get("metadata")), as_dict(config.get("metadata"))
    labels = {**as_dict(config_meta.get("labels")), **as_dict(server_meta.get("labels"))}
    annotations = {**as_dict(config_meta.get("annotations")), **as_dict(server_meta.get("annotations"))}
    metadata: dict[str, Any] = {
        "name": f"{name}-0",
        "generateName": f"{name}-",
        "namespace": namespace,
        "labels": {**labels, **SERVER_LABELS, SERVER_NAME_LABEL: name},
    }
    if annotations:
        metadata["annotations"] = annotations
    return add_default_tolerations({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})


def _name(doc: RawObject, source: str) -> str:
    name = as_dict(doc.get("metadata")).get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{source}: {doc.get('kind')} without metadata.name")
    return name


def _server_subject(
    server: RawObject, source: str, configs: dict[str, RawObject], namespace: str | None, *, origin: str
) -> Subject:
    name = _name(server, source)
    wanted = as_dict(server.get("spec")).get("serverConfig")
    if not isinstance(wanted, str) or wanted not in configs:
        raise InputError(
            f"{source}: Server {name}: ServerConfig {wanted!r} is not among the inputs (add its manifest)"
        )
    own = as_dict(server.get("metadata")).get("namespace")
    chosen = own if isinstance(own, str) and own else (namespace or "default")
    pod = server_pod(server, configs[wanted], namespace=chosen, source=source)
    return Subject(pod, chosen, f"{source} ({origin} {name})")


def read_manifests(documents: list[tuple[Any, str]], *, namespace: str | None) -> list[Subject]:
    """Pods, AdmissionReviews and Servers (ServerConfigs only without Servers) as Subjects, in order."""
    configs = {_name(d, s): d for d, s in documents if is_seldon_manifest(d) and d["kind"] == "ServerConfig"}
    has_servers = any(is_seldon_manifest(d) and d["kind"] == "Server" for d, _ in documents)
    subjects = []
    for doc, source in documents:
        if not is_seldon_manifest(doc):
            subjects.append(subject_from_document(doc, source=source, namespace=namespace))
        elif doc["kind"] == "Server":
            subjects.append(_server_subject(doc, source, configs, namespace, origin="Server"))
        elif not has_servers:
            name, own = _name(doc, source), as_dict(doc.get("metadata")).get("namespace")
            # the runtime chart creates the Server next to its ServerConfig, in the release namespace
            implied = {"metadata": {"name": name, "namespace": own}, "spec": {"serverConfig": name}}
            subjects.append(_server_subject(implied, source, configs, namespace, origin="ServerConfig"))
    return subjects


def read_manifest_files(paths: list[str], *, namespace: str | None) -> list[Subject]:
    """``read_manifests`` over files: a Server may name a ServerConfig from another file."""
    documents = [(doc, source) for path in paths for docs, source in [read_documents(path)] for doc in docs]
    return read_manifests(documents, namespace=namespace)
