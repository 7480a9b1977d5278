"""The policy file: its schema, strict validation with line numbers, and compilation for matching.

People edit this file, so every rule the API server would apply to the placement it produces is
checked here first, unknown keys are errors, and every error names the file line, the policy and
the field path (``policies.yaml:14: policies[1] (gpu-servers).placement.tolerations[0].operator:
must be Equal or Exists``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from webhook.errors import PolicyError
from webhook.matching import Criterion, compile_match
from webhook.selectors import (
    NUMERIC_OPERATORS,
    Requirement,
    dns_label_error,
    label_value_error,
    parse_int64,
    qualified_name_error,
    requirements_satisfiable,
)
from webhook.yamlsource import YamlDocument, load_yaml_document

#: ConfigMaps hold at most 1 MiB; anything bigger is a mistake, not a policy file.
MAX_POLICY_FILE_BYTES = 1024 * 1024
#: The example shipped inside the package (a symlink to the top-level ``policies.yaml``).
BUNDLED_POLICIES = Path(__file__).parent / "defaults" / "policies.yaml"


def default_policies_path() -> Path:
    """``./policies.yaml`` when present, else the example bundled with the package."""
    local = Path("policies.yaml")
    return local if local.is_file() else BUNDLED_POLICIES


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, strict=True
    )


def _check_key(key: str) -> str:
    error = qualified_name_error(key)
    if error:
        raise ValueError(f"{key!r}: {error}")
    return key


def _check_values(operator: str, values: list[str] | None, *, numeric_ok: bool) -> list[str] | None:
    """The API server's ``values`` rules for one selector requirement."""
    if operator in ("In", "NotIn"):
        if not values:
            raise ValueError(f"must be non-empty when operator is {operator}")
        for value in values:
            error = label_value_error(value)
            if error:
                raise ValueError(f"{value!r}: {error}")
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            raise ValueError(f"must be empty when operator is {operator}")
    elif (
        numeric_ok
        and operator in NUMERIC_OPERATORS
        and (not values or len(values) != 1 or parse_int64(values[0]) is None)
    ):
        raise ValueError(f"must be exactly one integer when operator is {operator}")
    return values


class LabelSelectorRequirement(_Strict):
    """A ``metav1.LabelSelectorRequirement`` (podSelector.matchExpressions)."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = Field(default=None, validate_default=True)

    _key = field_validator("key")(_check_key)

    @field_validator("values")
    @classmethod
    def _values(cls, values: list[str] | None, info: ValidationInfo) -> list[str] | None:
        operator = info.data.get("operator")
        return _check_values(operator, values, numeric_ok=False) if operator else values


class NodeSelectorRequirement(_Strict):
    """A ``core/v1.NodeSelectorRequirement`` over node labels."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = Field(default=None, validate_default=True)

    _key = field_validator("key")(_check_key)

    @field_validator("values")
    @classmethod
    def _values(cls, values: list[str] | None, info: ValidationInfo) -> list[str] | None:
        operator = info.data.get("operator")
        return _check_values(operator, values, numeric_ok=True) if operator else values

    def to_kubernetes(self) -> dict[str, Any]:
        expr: dict[str, Any] = {"key": self.key, "operator": self.operator}
        if self.values:
            expr["values"] = list(self.values)
        return expr

    def as_requirement(self) -> Requirement:
        return (self.operator, tuple(self.values or ()))


class LabelSelector(_Strict):
    """A ``metav1.LabelSelector`` over the Pod's labels; empty selects every Pod."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    @field_validator("match_labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        return _check_label_map(labels)


def _check_label_map(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        _check_key(key)
        error = label_value_error(value)
        if error:
            raise ValueError(f"value of {key!r}: {error}")
    return labels


def _non_empty_strings(values: list[str] | None) -> list[str] | None:
    if values is not None:
        if not values:
            raise ValueError("must not be empty; omit the field to match every Pod")
        if any(not v for v in values):
            raise ValueError("entries must be non-empty strings")
    return values


class Match(_Strict):
    """Which Pods a policy applies to: every field given must hold."""

    namespaces: list[str] | None = None
    servers: list[str] | None = None
    server_types: list[str] | None = None
    capabilities: list[str] | None = None
    resources: list[str] | None = None
    pod_selector: LabelSelector | None = None

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
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        return _check_key(key) if key else key

    @field_validator("operator")
    @classmethod
    def _operator(cls, operator: str, info: ValidationInfo) -> str:
        if info.data.get("key") == "" and operator != "Exists":
            raise ValueError("must be Exists when key is empty (an empty key tolerates every taint)")
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
        if seconds is not None and info.data.get("effect") != "NoExecute":
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

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        error = dns_label_error(name)
        if error:
            raise ValueError(error)
        return name


class PolicyFile(_Strict):
    """The whole ``policies.yaml``: ordered policies, the first match wins."""

    version: Literal[1]
    policies: list[Policy] = Field(default_factory=list)

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


# --- compiled form --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledPolicy:
    """A validated policy, precompiled for the hot path: globs as regexes, placement as raw dicts."""

    index: int
    policy: Policy
    criteria: tuple[Criterion, ...]
    tolerations: tuple[dict[str, Any], ...]
    node_selector: dict[str, str]
    required: tuple[dict[str, Any], ...]
    preferred: tuple[dict[str, Any], ...]
    requirements_by_key: dict[str, list[Requirement]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.policy.name


def compile_policy(policy: Policy, *, index: int) -> CompiledPolicy:
    match, placement = policy.match, policy.placement
    return CompiledPolicy(
        index=index,
        policy=policy,
        criteria=compile_match(match),
        tolerations=tuple(t.to_kubernetes() for t in placement.tolerations),
        node_selector=dict(placement.node_selector),
        required=tuple(e.to_kubernetes() for e in placement.node_affinity.required),
        preferred=tuple(t.to_kubernetes() for t in placement.node_affinity.preferred),
        requirements_by_key=placement.requirements_by_key(),
    )


@dataclass(frozen=True)
class PolicySet:
    """What the engine runs on: the ordered compiled policies and where they came from."""

    policies: tuple[CompiledPolicy, ...]
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.policies)


# --- loading ----------------------------------------------------------------------------------------


def _shown(text: str) -> str:
    """A key or name as written, quoted JSON-style when it holds a newline or other control."""
    return text if text.isprintable() else json.dumps(text)


def _format_loc(loc: tuple[int | str, ...], names: dict[int, str]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            if i == 1 and loc[0] == "policies" and part in names:
                out += f" ({_shown(names[part])})"
        else:
            out += f".{_shown(part)}" if out else _shown(part)
    return out


def _format_message(error: Any) -> str:
    kind, message = str(error["type"]), str(error["msg"])
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see `placement-webhook schema`)"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return "must be " + str(error["ctx"]["expected"]).replace("'", "")
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "must be a mapping"
    if kind == "list_type":
        return "must be a list"
    if kind == "string_type":
        return 'must be a string (quote YAML values such as "true" or "1")'
    if kind == "greater_than_equal":
        return f"must be at least {error['ctx']['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {error['ctx']['le']}"
    return message[0].lower() + message[1:]


Problem = tuple[tuple[int | str, ...], str]


def _duplicate_names(names: dict[int, str]) -> list[Problem]:
    """Checked on the raw document so that it is reported together with field errors."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for i, name in sorted(names.items()):
        if name in first:
            problems.append((("policies", i, "name"), f"duplicate of policies[{first[name]}]"))
        first.setdefault(name, i)
    return problems


def _semantic_problems(policy_file: PolicyFile) -> list[Problem]:
    """Rules across fields that pydantic's per-field validators cannot see."""
    problems: list[Problem] = []
    for i, policy in enumerate(policy_file.policies):
        if policy.placement.is_empty():
            problems.append(
                (("policies", i, "placement"), "must set tolerations, nodeSelector or nodeAffinity")
            )
        for key, requirements in policy.placement.requirements_by_key().items():
            if not requirements_satisfiable(requirements):
                problems.append(
                    (("policies", i, "placement"), f"no node label value can satisfy every rule on {key}")
                )
    return problems


def parse_policies(document: YamlDocument) -> PolicySet:
    """Validate a parsed policy document; raise ``PolicyError`` listing every problem."""
    data = document.data
    raw_policies = data.get("policies") if isinstance(data, dict) else None
    names = {
        i: p["name"]
        for i, p in enumerate(raw_policies if isinstance(raw_policies, list) else [])
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    }
    problems = _duplicate_names(names)
    try:
        policy_file = PolicyFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        problems += [(tuple(e["loc"]), _format_message(e)) for e in errors]
    else:
        problems += _semantic_problems(policy_file)
    if problems:
        problems.sort(key=lambda p: document.line_of(p[0]))
        raise PolicyError(
            [
                f"{document.where(loc)}: {_format_loc(loc, names) or 'document'}: {message}"
                for loc, message in problems
            ]
        )
    compiled = tuple(compile_policy(p, index=i) for i, p in enumerate(policy_file.policies))
    return PolicySet(policies=compiled, source=document.source)


def load_policies_text(text: str, *, source: str = "<memory>") -> PolicySet:
    return parse_policies(load_yaml_document(text, source=source))


def load_policies(path: str | Path) -> PolicySet:
    """Read and validate a policy file; every failure is a ``PolicyError`` naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_POLICY_FILE_BYTES:
            raise PolicyError([f"{path}: {size} bytes is over the {MAX_POLICY_FILE_BYTES} byte limit"])
        with path.open("rb") as handle:  # bounded: the file may grow after stat, or be /dev/zero
            data = handle.read(MAX_POLICY_FILE_BYTES + 1)
        if len(data) > MAX_POLICY_FILE_BYTES:
            raise PolicyError([f"{path}: over the {MAX_POLICY_FILE_BYTES} byte limit"])
        text = data.decode("utf-8")
    except OSError as exc:
        raise PolicyError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise PolicyError([f"{path}: not UTF-8 text: {exc.reason}"]) from exc
    return load_policies_text(text, source=str(path))
