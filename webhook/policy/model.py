"""The policy file's schema: pydantic models with the API server's own rules for what they emit.

People edit this file, so every rule the API server would apply to the placement it produces is
checked here first and unknown keys are errors. Loading (``loading.py``) turns the errors into
lines naming the file, the policy and the field; compilation (``compiled.py``) readies a valid
policy for the hot path.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from webhook.kube.selectors import (
    INT64_MAX,
    INT64_MIN,
    NUMERIC_OPERATORS,
    Requirement,
    dns_label_error,
    label_value_error,
    parse_int64,
    qualified_name_error,
)


class _Strict(BaseModel):
    # Only the camelCase aliases are read: the schema knows no snake_case names, so ``on_conflict``
    # is an unknown field like any misspelling (no ``populate_by_name``).
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True, strict=True)


def quoted(text: str) -> str:
    """A key or value as the user wrote it, double-quoted as in YAML and JSON (never Python's repr)."""
    return json.dumps(text, ensure_ascii=False)


#: (path below the field, message, whether it is about the map key at that path)
EntryProblem = tuple[tuple[int | str, ...], str, bool]


class EntryError(ValueError):
    """Every bad entry of one list or map field, each at its own path below the field: raised by a
    validator so that all of them are reported at once, each at its own line (a plain ValueError
    names only the field, at the field's line). ``webhook.policy.loading`` expands it."""

    def __init__(self, problems: list[EntryProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(message for _, message, _ in problems))


def _raise_entries(problems: list[EntryProblem]) -> None:
    if problems:
        raise EntryError(problems)


def _key_error(key: str) -> str | None:
    error = qualified_name_error(key)
    return f"key {quoted(key)}: {error}" if error else None


def _check_key(key: str) -> str:
    error = qualified_name_error(key)
    if error:
        raise ValueError(f"{quoted(key)}: {error}")
    return key


def _check_values(operator: str, values: list[str] | None) -> list[str] | None:
    """The API server's ``values`` rules for one selector requirement (each model's ``operator``
    Literal already refuses the operators it does not know, e.g. Gt in a LabelSelector)."""
    if operator in ("In", "NotIn"):
        if not values:
            raise ValueError(f"must be non-empty when operator is {operator}")
        problems: list[EntryProblem] = []
        for i, value in enumerate(values):
            error = label_value_error(value)
            if error:
                problems.append(((i,), f"{quoted(value)}: {error}", False))
        _raise_entries(problems)
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            raise ValueError(f"must be empty when operator is {operator}")
    elif operator in NUMERIC_OPERATORS:
        if not values or len(values) != 1 or parse_int64(values[0]) is None:
            raise ValueError(f"must be exactly one integer when operator is {operator}")
        if label_value_error(values[0]):  # the API server checks every value as a label value
            raise ValueError(
                f"{quoted(values[0])}: must be an integer without a sign when operator is {operator}"
                " (every value must also be a valid label value, which cannot start with '+' or '-')"
            )
    return values


def _check_requirement_values(values: list[str] | None, info: ValidationInfo) -> list[str] | None:
    """``values`` checked against the operator; none to check against when the operator is invalid."""
    operator = info.data.get("operator")
    return _check_values(operator, values) if operator else values


class LabelSelectorRequirement(_Strict):
    """A ``metav1.LabelSelectorRequirement`` (podSelector and namespaceSelector matchExpressions)."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = Field(default=None, validate_default=True)

    _key = field_validator("key")(_check_key)
    _values = field_validator("values")(_check_requirement_values)


class NodeSelectorRequirement(_Strict):
    """A ``core/v1.NodeSelectorRequirement`` over node labels."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = Field(default=None, validate_default=True)

    _key = field_validator("key")(_check_key)
    _values = field_validator("values")(_check_requirement_values)

    def to_kubernetes(self) -> dict[str, Any]:
        expr: dict[str, Any] = {"key": self.key, "operator": self.operator}
        if self.values:
            expr["values"] = list(self.values)
        return expr

    def as_requirement(self) -> Requirement:
        return (self.operator, tuple(self.values or ()))


class LabelSelector(_Strict):
    """A ``metav1.LabelSelector`` over the Pod's (podSelector) or its Namespace's (namespaceSelector)
    labels; an empty one selects everything."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    @field_validator("match_labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        return _check_label_map(labels)


def _check_label_map(labels: dict[str, str]) -> dict[str, str]:
    """Every bad key (reported at the key's line) and every bad value (at its own)."""
    problems: list[EntryProblem] = []
    for key, value in labels.items():
        key_error = _key_error(key)
        if key_error:
            problems.append(((key,), key_error, True))
        error = label_value_error(value)
        if error:
            problems.append(((key,), f"{quoted(value)}: {error}", False))
    _raise_entries(problems)
    return labels


def _non_empty_strings(values: list[str] | None) -> list[str] | None:
    if values is not None:
        if not values:
            raise ValueError("must not be empty; omit the field to match every Pod")
        _raise_entries([((i,), "must be a non-empty string", False) for i, v in enumerate(values) if not v])
    return values


class Match(_Strict):
    """Which Pods a policy applies to: every field given must hold."""

    namespaces: list[str] | None = None
    servers: list[str] | None = None
    server_types: list[str] | None = None
    capabilities: list[str] | None = None
    resources: list[str] | None = None
    pod_selector: LabelSelector | None = None
    #: over the labels of the Pod's Namespace, which the server keeps in a cache (not in the review)
    namespace_selector: LabelSelector | None = None

    _lists = field_validator("namespaces", "servers", "server_types", "capabilities", "resources")(
        _non_empty_strings
    )

    @property
    def needs_seldon_server(self) -> bool:
        """Server-specific criteria only ever hold for Pods labelled ``seldon-server-name``."""
        return any(v is not None for v in (self.servers, self.server_types, self.capabilities))


class Toleration(_Strict):
    """A ``core/v1.Toleration``; fields are declared in the order their rules depend on each other."""

    key: str = ""
    # validate_default: the rules apply to the toleration as emitted, defaults included
    # (``{value: x}`` emits ``operator: Equal`` with an empty key, which the API server refuses)
    operator: Literal["Equal", "Exists"] = Field(default="Equal", validate_default=True)
    value: str = Field(default="", validate_default=True)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, ge=INT64_MIN, le=INT64_MAX)

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        return _check_key(key) if key else key

    @field_validator("operator")
    @classmethod
    def _operator(cls, operator: str, info: ValidationInfo) -> str:
        if info.data.get("key") == "" and operator != "Exists":
            raise ValueError(
                "must be Exists when key is empty (an empty key tolerates every taint;"
                " the operator defaults to Equal)"
            )
        return operator

    @field_validator("value")
    @classmethod
    def _value(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("operator") == "Exists" and value:
            raise ValueError("must be empty when operator is Exists")
        error = label_value_error(value)
        if error:
            raise ValueError(error)
        return value

    @field_validator("toleration_seconds")
    @classmethod
    def _seconds(cls, seconds: int | None, info: ValidationInfo) -> int | None:
        # "effect" is missing from info.data only when it failed validation itself
        if seconds is not None and "effect" in info.data and info.data["effect"] != "NoExecute":
            raise ValueError("may only be set when effect is NoExecute")
        return seconds

    def to_kubernetes(self) -> dict[str, Any]:
        toleration: dict[str, Any] = {}
        if self.key:
            toleration["key"] = self.key
        toleration["operator"] = self.operator
        if self.value:
            toleration["value"] = self.value
        if self.effect:
            toleration["effect"] = self.effect
        if self.toleration_seconds is not None:
            toleration["tolerationSeconds"] = self.toleration_seconds
        return toleration


class PreferredTerm(_Strict):
    """A ``core/v1.PreferredSchedulingTerm`` written flat: weight beside its expressions."""

    weight: int = Field(ge=1, le=100)
    match_expressions: list[NodeSelectorRequirement] = Field(min_length=1)

    def to_kubernetes(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "preference": {"matchExpressions": [e.to_kubernetes() for e in self.match_expressions]},
        }


class NodeAffinity(_Strict):
    required: list[NodeSelectorRequirement] = Field(default_factory=list)
    preferred: list[PreferredTerm] = Field(default_factory=list)


class Placement(_Strict):
    """What a matching Pod gets; at least one field must say something."""

    tolerations: list[Toleration] = Field(default_factory=list)
    node_selector: dict[str, str] = Field(default_factory=dict)
    node_affinity: NodeAffinity = Field(default_factory=NodeAffinity)

    @field_validator("node_selector")
    @classmethod
    def _selector(cls, labels: dict[str, str]) -> dict[str, str]:
        return _check_label_map(labels)

    def is_empty(self) -> bool:
        affinity = self.node_affinity
        return not (self.tolerations or self.node_selector or affinity.required or affinity.preferred)

    def requirements_by_key(self) -> dict[str, list[Requirement]]:
        """nodeSelector and required affinity of this placement, grouped by node label key."""
        by_key: dict[str, list[Requirement]] = {}
        for key, value in self.node_selector.items():
            by_key.setdefault(key, []).append(("In", (value,)))
        for expr in self.node_affinity.required:
            by_key.setdefault(expr.key, []).append(expr.as_requirement())
        return by_key


class Policy(_Strict):
    name: str
    description: str = ""
    match: Match = Field(default_factory=Match)
    placement: Placement
    on_conflict: Literal["warn", "deny"] = "warn"
    mode: Literal["enforce", "audit"] = "enforce"
    #: why a match any tenant can satisfy may grant a reserved taint (see ``policy.entitlement``)
    accept_forgeable: str | None = Field(default=None, min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        error = dns_label_error(name)
        if error:
            raise ValueError(error)
        return name


class ReservedTaint(_Strict):
    """The taint a reservation keeps for its Pods; an omitted value or effect means any."""

    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    _key = field_validator("key")(_check_key)

    @field_validator("value")
    @classmethod
    def _value(cls, value: str | None) -> str | None:
        error = label_value_error(value) if value is not None else None
        if error:
            raise ValueError(error)
        return value

    def describe(self) -> str:
        """``key=value:Effect`` as kubectl prints taints; ``key:Effect`` for any value, no
        ``:Effect`` for any effect (written as the toleration that tolerates exactly these taints)."""
        value = "" if self.value is None else f"={self.value}"
        return f"{self.key}{value}{':' + self.effect if self.effect else ''}"


class AllowRule(_Strict):
    """Pods that may tolerate a reserved taint besides those a policy places there; every field
    given must hold (AND), and at least one must be given."""

    namespaces: list[str] | None = None
    pod_selector: LabelSelector | None = None
    # ownerReferences are written by whoever creates the Pod: pair this with ``namespaces``
    # unless every namespace's users are trusted not to forge one
    daemon_sets: Literal[True] | None = None
    #: why a rule any tenant can satisfy in every namespace is accepted (``policy.entitlement``)
    accept_forgeable: str | None = Field(default=None, min_length=1)

    _lists = field_validator("namespaces")(_non_empty_strings)

    def is_empty(self) -> bool:
        return self.namespaces is None and self.pod_selector is None and self.daemon_sets is None


class Reservation(_Strict):
    """A taint only the Pods our enforce policies place there (and ``allow``) may tolerate."""

    taint: ReservedTaint
    mode: Literal["enforce", "audit"] = "enforce"
    allow: list[AllowRule] = Field(default_factory=list)
    message: str = ""  # how to get access, appended to the denial (a channel, a ticket queue)


class PolicyFile(_Strict):
    """The whole ``policies.yaml``: ordered policies, the first match wins; reserved taints."""

    version: Literal[1]
    policies: list[Policy] = Field(default_factory=list)
    reservations: list[Reservation] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        # Literal[1] compares by equality, and True == 1: ``version: true`` must not pass
        if isinstance(value, bool):
            raise ValueError("must be the integer 1")
        return value


def policy_file_schema() -> dict[str, Any]:
    """JSON Schema of the policy file for editors (yaml-language-server)."""
    schema = PolicyFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "placement-webhook policies"
    return schema
