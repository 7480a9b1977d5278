"""Read-only views of raw Kubernetes objects, kept as the ``dict`` the API server sent.

Nothing here copies or validates a whole Pod: the webhook owns only the placement fields, so it
reads the few facts it needs (labels, the Seldon agent's environment, extended-resource requests)
and leaves everything else untouched.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar, overload

RawObject = dict[str, Any]

SERVER_NAME_LABEL = "seldon-server-name"
AGENT_CONTAINER = "agent"
SERVER_TYPE_ENV = "SELDON_SERVER_TYPE"
CAPABILITIES_ENV = "SELDON_SERVER_CAPABILITIES"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def escape_pointer(token: str) -> str:
    """Escape one JSON Pointer reference token (RFC 6901): ``~`` → ``~0`` then ``/`` → ``~1``."""
    return token.replace("~", "~0").replace("/", "~1")


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty one: odd types in fields we only read are ignored."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def string_labels(obj: RawObject) -> dict[str, str]:
    """The object's labels with string values only (the API server guarantees strings)."""
    labels = as_dict(as_dict(obj.get("metadata")).get("labels"))
    return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}


def stored_namespace_labels(name: str, labels: Mapping[str, str]) -> dict[str, str]:
    """A Namespace's labels as the API server stores them: it sets ``kubernetes.io/metadata.name``
    to the name on every create and update, over any value given (``SetDefaults_Namespace`` and the
    namespace strategy), so a manifest or ``--namespace-labels`` without it still has it live."""
    return {**labels, NAMESPACE_NAME_LABEL: name}


_NONZERO_DIGITS = frozenset("123456789")


def is_nonzero_quantity(value: Any) -> bool:
    """True when a resource quantity (``"1"``, ``2``, ``"500m"``, ``"1Gi"``) is not zero.

    Only the sign and digits matter for "non-zero", so the suffix is dropped rather than scaled;
    an unparsable quantity counts as zero (the API server would reject such a Pod anyway).
    """
    if isinstance(value, str) and value[:1] in _NONZERO_DIGITS:
        return True  # "1", "2Gi", "500m": the common case needs no parsing
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value != 0
    if not isinstance(value, str):
        return False
    number = value.strip().rstrip("kKMGTPEimnu").rstrip("eE")
    try:
        return Decimal(number) != 0
    except InvalidOperation:
        return False


def _all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for field in ("initContainers", "containers")
        for c in as_list(spec.get(field))
        if isinstance(c, dict)
    ]


def _env_value(container: dict[str, Any], name: str) -> str | None:
    """A literal env value of the container (``valueFrom`` cannot be known at admission).

    Of a name given twice the LAST entry counts: the kubelet builds the environment in order, each
    entry over the one before (the API server only warns "hides previous definition")."""
    for var in reversed(as_list(container.get("env"))):
        if isinstance(var, dict) and var.get("name") == name:
            value = var.get("value")
            return value if isinstance(value, str) else None
    return None


_T = TypeVar("_T")


class _cached(Generic[_T]):  # noqa: N801 - used like the decorator it replaces
    """``functools.cached_property`` without its per-instance lock (Python 3.11 takes an RLock on
    every first access, a few microseconds per fact on the admission hot path): the value goes into
    the instance's ``__dict__``, where every later lookup finds it before this descriptor."""

    def __init__(self, compute: Callable[[Any], _T]) -> None:
        self._compute = compute
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type) -> _cached[_T]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> _T: ...
    def __get__(self, instance: object | None, owner: type) -> _T | _cached[_T]:
        if instance is None:
            return self
        value = self._compute(instance)
        instance.__dict__[self._name] = value
        return value


class PodFacts:
    """The facts a policy match looks at. Each is read at most once per review, and only if a
    policy asks for it: most policies never look at the agent's environment or at resources."""

    def __init__(
        self, pod: RawObject, *, namespace: str, namespace_labels: Mapping[str, str] | None = None
    ) -> None:
        self.namespace = namespace
        #: the labels of the Pod's Namespace (the AdmissionReview does not carry them); None: unknown
        self.namespace_labels = namespace_labels
        self._pod = pod
        server_name = as_dict(as_dict(pod.get("metadata")).get("labels")).get(SERVER_NAME_LABEL)
        self.server_name: str | None = server_name if isinstance(server_name, str) else None
        self._spec = as_dict(pod.get("spec"))

    @_cached
    def labels(self) -> dict[str, str]:
        """The Pod's string labels, for podSelector (most policies never need them all)."""
        return string_labels(self._pod)

    @_cached
    def _containers(self) -> list[dict[str, Any]]:
        return _all_containers(self._spec)

    @_cached
    def _agent(self) -> dict[str, Any]:
        return next((c for c in self._containers if c.get("name") == AGENT_CONTAINER), {})

    @_cached
    def server_type(self) -> str | None:
        return _env_value(self._agent, SERVER_TYPE_ENV)

    @_cached
    def capabilities(self) -> frozenset[str]:
        listed = _env_value(self._agent, CAPABILITIES_ENV) or ""
        return frozenset(c.strip() for c in listed.split(",") if c.strip())

    @_cached
    def requested_resources(self) -> frozenset[str]:
        """Resource names some container requests or limits in a non-zero quantity.

        Remembered by the containers' ``resources`` (in ``marshal`` format: exact, types
        included): the Pods of one server all ask for the same, and reading the quantities costs
        more than writing them out in C."""
        resources = [c.get("resources") for c in self._containers]
        try:
            key: bytes | None = marshal.dumps(resources)
        except ValueError:  # a type marshal lacks (a subclass, a date from YAML): not remembered
            key = None
        if key is not None and len(key) > _REQUESTED_KEY_BYTES:
            key = None  # an odd Pod's long list: not remembered, so the memo's size stays bounded
        found = _REQUESTED.get(key) if key is not None else None
        if found is None:
            found = requested_resources(resources)
            if key is not None:
                if len(_REQUESTED) >= _REQUESTED_ENTRIES:
                    _REQUESTED.clear()
                _REQUESTED[key] = found
        return found


#: ``requested_resources`` by the ``marshal`` of the containers' resources; bounded, as a flood of
#: distinct Pods would otherwise grow it (then it starts afresh).
_REQUESTED: dict[bytes, frozenset[str]] = {}
_REQUESTED_ENTRIES = 4096
_REQUESTED_KEY_BYTES = 2048  # real containers' resources are a few hundred bytes


def requested_resources(resources: list[Any]) -> frozenset[str]:
    """Resource names that some of the containers' ``resources`` requests or limits in a
    non-zero quantity."""
    requested: set[str] = set()
    for each in resources:
        if not isinstance(each, dict):
            continue
        for kind in ("requests", "limits"):
            quantities = each.get(kind)
            if isinstance(quantities, dict):
                for name, quantity in quantities.items():
                    if name not in requested and isinstance(name, str) and is_nonzero_quantity(quantity):
                        requested.add(name)
    return frozenset(requested)


def read_pod_facts(
    pod: RawObject, *, namespace: str, namespace_labels: Mapping[str, str] | None = None
) -> PodFacts:
    """The match-relevant facts of a Pod; ``namespace`` is the request's (authoritative),
    ``namespace_labels`` its Namespace's labels when known (None: unknown)."""
    return PodFacts(pod, namespace=namespace, namespace_labels=namespace_labels)


def node_taints(node: RawObject) -> list[dict[str, Any]]:
    """A Node's ``spec.taints`` (malformed entries left out): what the scheduler, the guard's
    ``spec.nodeName`` rule and its caches read."""
    return [t for t in as_list(as_dict(node.get("spec")).get("taints")) if isinstance(t, dict)]


def pod_display_name(pod: RawObject, *, namespace: str) -> str:
    """``namespace/name`` or ``namespace/generateName*`` for messages (Deployment Pods lack a name)."""
    metadata = as_dict(pod.get("metadata"))
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        generate = metadata.get("generateName")
        name = f"{generate}*" if isinstance(generate, str) and generate else "<unnamed>"
    return f"{namespace}/{name}" if namespace else name
