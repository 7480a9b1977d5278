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
namespace (else ``-n``, else ``default``, as for a Server). The API server's own additions
(default tolerations, extended-resource tolerations) come from
``webhook.simulation.admission_plugins``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from webhook.engine.documents import Subject, is_namespace, subject_from_document
from webhook.errors import InputError, shown
from webhook.kube.objects import (
    CAPABILITIES_ENV,
    SERVER_NAME_LABEL,
    RawObject,
    as_dict,
    as_list,
    read_pod_facts,
)
from webhook.kube.patches import clone_json
from webhook.simulation.admission_plugins import add_default_tolerations
from webhook.simulation.workloads import is_workload, workload_pod

SELDON_API_PREFIX = "mlops.seldon.io/"
SERVER_LABELS = {"app.kubernetes.io/name": "seldon-server"}


def is_seldon_manifest(doc: Any, kinds: tuple[str, ...] = ("Server", "ServerConfig", "Model")) -> bool:
    """A ``Server``, ``ServerConfig`` or ``Model`` of Seldon Core 2's ``mlops.seldon.io`` API group."""
    return (
        isinstance(doc, dict)
        and doc.get("kind") in kinds
        and str(doc.get("apiVersion", "")).startswith(SELDON_API_PREFIX)
    )


@dataclass(frozen=True)
class SeldonServer:
    """A Server of the inputs: where it lives, the agent's capabilities, and the Pod it produces.

    ``capabilities`` are read back from the Pod's agent env ``SELDON_SERVER_CAPABILITIES`` (split on
    commas and trimmed, as the agent's ``cli.go`` does); ``own`` are those the Server itself sets
    (``capabilities`` or else ``extraCapabilities``), which a note reports when no Model needs them."""

    name: str
    namespace: str
    capabilities: frozenset[str]
    own: tuple[str, ...]
    subject: Subject


@dataclass(frozen=True)
class SeldonModel:
    """A ``Model``: its requirements (trimmed, as the scheduler compares them) and ``spec.server``."""

    name: str
    namespace: str
    requirements: tuple[str, ...]
    server: str | None
    source: str


@dataclass(frozen=True)
class Manifests:
    """What the inputs hold: Pods to simulate (Servers among them), the Servers and the Models."""

    subjects: list[Subject]
    servers: list[SeldonServer] = field(default_factory=list)
    models: list[SeldonModel] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # documents of other kinds, each named
    warnings: list[str] = field(default_factory=list)  # e.g. a namespace given that an object overrides


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


def _own_capabilities(server_spec: dict[str, Any]) -> tuple[str, ...]:
    listed = as_list(server_spec.get("capabilities")) or as_list(server_spec.get("extraCapabilities"))
    return tuple(str(c).strip() for c in listed if str(c).strip())


def _namespace_of(doc: RawObject, namespace: str | None) -> str:
    own = as_dict(doc.get("metadata")).get("namespace")
    return own if isinstance(own, str) and own else (namespace or "default")


def _server(
    server: RawObject,
    source: str,
    configs: dict[str, RawObject],
    namespace: str | None,
    *,
    origin: str,
    elsewhere: dict[str, str],
) -> SeldonServer:
    name = _name(server, source)
    wanted = as_dict(server.get("spec")).get("serverConfig")
    if not isinstance(wanted, str) or not wanted:
        raise InputError(f"{source}: Server {name}: spec.serverConfig must name a ServerConfig")
    if wanted not in configs:
        found = elsewhere.get(wanted)
        why = f"is among the inputs but in {found}" if found else "is not among the inputs (add its manifest)"
        raise InputError(f"{source}: Server {name}: ServerConfig {shown(wanted)} {why}")
    chosen = _namespace_of(server, namespace)
    pod = server_pod(server, configs[wanted], namespace=chosen, source=source)
    capabilities = read_pod_facts(pod, namespace=chosen).capabilities
    own = _own_capabilities(as_dict(server.get("spec")))
    subject = Subject(pod, chosen, f"{source} ({origin} {name})", origin=f"{origin} {chosen}/{name}")
    return SeldonServer(name, chosen, capabilities, own, subject)


def _model(doc: RawObject, source: str, namespace: str | None) -> SeldonModel:
    name, spec = _name(doc, source), as_dict(doc.get("spec"))
    # the scheduler trims each requirement before comparing (filters/serverrequirements.go, contains)
    requirements = tuple(str(r).strip() for r in as_list(spec.get("requirements")))
    pinned = spec.get("server")
    server = pinned if isinstance(pinned, str) and pinned else None
    return SeldonModel(name, _namespace_of(doc, namespace), requirements, server, f"{source} (Model {name})")


def _is_config_in(doc: RawObject, operator_namespace: str | None) -> bool:
    """Seldon's ``GetServerConfigForServer`` reads the ServerConfig from the operator's own namespace
    (``constants.SeldonNamespace``, its ``POD_NAMESPACE``), whatever the Server's namespace is."""
    if operator_namespace is None:
        return True
    own = as_dict(doc.get("metadata")).get("namespace")
    return own in (None, "", operator_namespace)


def _numbered(documents: list[tuple[Any, str]]) -> list[tuple[Any, str, str]]:
    """Each document with its source and ``source: document N`` (N counts from 1 in each source)."""
    counts: dict[str, int] = {}
    numbered = []
    for doc, source in documents:
        counts[source] = counts.get(source, 0) + 1
        numbered.append((doc, source, f"{source}: document {counts[source]}"))
    return numbered


@contextmanager
def _at(source: str, where: str) -> Iterator[None]:
    """An ``InputError`` about ``source`` re-raised naming the document: ``file: document 3: ...``."""
    try:
        yield
    except InputError as exc:
        message = str(exc)
        if message.startswith(f"{source}: ") and not message.startswith(f"{where}: "):
            raise InputError(f"{where}: {message.removeprefix(f'{source}: ')}") from exc
        raise


def _is_reviewable(doc: Any) -> bool:
    """What ``subject_from_document`` takes (and refuses in its own words): anything but another kind."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return not isinstance(kind, str) or kind in ("Pod", "AdmissionReview")


def _skipped(doc: RawObject, where: str) -> str:
    metadata = as_dict(doc.get("metadata"))
    name = metadata.get("name")
    shown = f" {name}" if isinstance(name, str) and name else ""
    return f"{where}: skipped {doc.get('kind')}{shown}: not a Pod, workload, Seldon Server or AdmissionReview"


@dataclass
class _Reader:
    """The state ``read_seldon_manifests`` reads every document with."""

    namespace: str | None
    operator_namespace: str | None
    configs: dict[str, RawObject]
    elsewhere: dict[str, str]  # ServerConfigs outside the operator's namespace: name -> where they are
    has_servers: bool
    manifests: Manifests = field(default_factory=lambda: Manifests([]))

    def read(self, doc: Any, source: str, where: str) -> None:
        manifests, namespace = self.manifests, self.namespace
        if is_namespace(doc):
            return
        if is_workload(doc):
            made = workload_pod(doc, where=source, namespace=namespace)
            shown = f"{source} ({made.kind} {made.name})"
            manifests.subjects.append(Subject(made.pod, made.namespace, shown, origin=made.origin))
        elif not is_seldon_manifest(doc):
            if _is_reviewable(doc):
                manifests.subjects.append(subject_from_document(doc, source=source, namespace=namespace))
            else:
                manifests.skipped.append(_skipped(doc, where))
        elif doc["kind"] == "Model":
            manifests.models.append(_model(doc, source, namespace))
        elif doc["kind"] == "Server":
            self._add_server(doc, source, origin="Server")
        elif not self.has_servers and _is_config_in(doc, self.operator_namespace):
            name, own = _name(doc, source), as_dict(doc.get("metadata")).get("namespace")
            # the runtime chart creates the Server next to its ServerConfig, in the release namespace
            implied = {"metadata": {"name": name, "namespace": own}, "spec": {"serverConfig": name}}
            self._add_server(implied, source, origin="ServerConfig")

    def _add_server(self, doc: RawObject, source: str, *, origin: str) -> None:
        server = _server(doc, source, self.configs, self.namespace, origin=origin, elsewhere=self.elsewhere)
        self.manifests.servers.append(server)
        self.manifests.subjects.append(server.subject)


def read_seldon_manifests(
    documents: list[tuple[Any, str]], *, namespace: str | None, operator_namespace: str | None = None
) -> Manifests:
    """Pods, AdmissionReviews, workloads (``webhook.simulation.workloads``) and Servers
    (ServerConfigs only without Servers) as Subjects, in order, with the Servers and Models;
    Namespaces are left to the caller, documents of other kinds are skipped and named. Errors name
    the document (``file: document 3: ...``).
    ``operator_namespace``: only ServerConfigs there (or without a namespace) count; None takes
    every ServerConfig by name. ``namespace``: for objects without their own; a warning names each
    object whose own namespace differs (kubectl refuses such a mismatch, we say it)."""
    numbered = _numbered(documents)
    configs: dict[str, RawObject] = {}
    elsewhere: dict[str, str] = {}
    for doc, source, where in numbered:
        if is_seldon_manifest(doc, ("ServerConfig",)):
            with _at(source, where):
                name = _name(doc, source)
            if _is_config_in(doc, operator_namespace):
                configs[name] = doc
            else:
                own = as_dict(doc.get("metadata")).get("namespace")
                elsewhere[name] = (
                    f"namespace {own}, not the operator's {operator_namespace} (--operator-namespace):"
                    " the operator reads ServerConfigs from its own namespace only"
                )
    has_servers = any(is_seldon_manifest(d, ("Server",)) for d, _ in documents)
    reader = _Reader(namespace, operator_namespace, configs, elsewhere, has_servers)
    manifests = reader.manifests
    for doc, source, where in numbered:
        made = len(manifests.subjects)
        with _at(source, where):
            reader.read(doc, source, where)
        for subject in manifests.subjects[made:]:
            if namespace and subject.namespace != namespace:
                manifests.warnings.append(
                    f"{where}: {subject.origin or 'Pod ' + subject.display_name} is in namespace"
                    f" {subject.namespace} (its own metadata.namespace), not -n {namespace}: -n applies"
                    " only to objects without one (kubectl refuses such a mismatch)"
                )
    return manifests


def read_manifests(documents: list[tuple[Any, str]], *, namespace: str | None) -> list[Subject]:
    """The Subjects of ``read_seldon_manifests``."""
    return read_seldon_manifests(documents, namespace=namespace).subjects
