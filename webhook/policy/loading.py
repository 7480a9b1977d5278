"""Loading the policy file: read it bounded, validate it, name the line, policy and field of each problem.

Every error names the file line, the policy (or the reservation, by its taint key) and the field
path (``policies.yaml:14: policies[1] (gpu-servers).placement.tolerations[0].operator: must be
Equal or Exists``), and all problems of a file are reported at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from webhook.errors import PolicyError
from webhook.kube.selectors import requirements_satisfiable
from webhook.policy.compiled import PolicySet, compile_policy
from webhook.policy.entitlement import forgeable_entitlements
from webhook.policy.model import PolicyFile
from webhook.policy.reservations import compile_reservation
from webhook.policy.source import YamlDocument, load_yaml_document

#: ConfigMaps hold at most 1 MiB; anything bigger is a mistake, not a policy file.
MAX_POLICY_FILE_BYTES = 1024 * 1024
#: The example shipped inside the package (a symlink to the top-level ``policies.yaml``).
BUNDLED_POLICIES = Path(__file__).parent.parent / "defaults" / "policies.yaml"


def default_policies_path() -> Path:
    """``./policies.yaml`` when present, else the example bundled with the package."""
    local = Path("policies.yaml")
    return local if local.is_file() else BUNDLED_POLICIES


def _shown(text: str) -> str:
    """A key or name as written, quoted JSON-style when it holds a newline or other control."""
    return text if text.isprintable() else json.dumps(text)


#: (top-level list, index) -> the name shown beside it: a policy's name, a reservation's taint key.
Names = dict[tuple[str, int], str]


def _format_loc(loc: tuple[int | str, ...], names: Names) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            name = names.get((str(loc[0]), part)) if i == 1 else None
            if name is not None:
                out += f" ({_shown(name)})"
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
    first: dict[tuple[str, str | None, str | None], int] = {}
    for i, reservation in enumerate(policy_file.reservations):
        taint = reservation.taint
        same = first.setdefault((taint.key, taint.value, taint.effect), i)
        if same != i:
            problems.append((("reservations", i, "taint"), f"duplicate of reservations[{same}]"))
        for j, rule in enumerate(reservation.allow):
            if rule.is_empty():
                problems.append(
                    (
                        ("reservations", i, "allow", j),
                        "must set namespaces, podSelector or daemonSets"
                        " (an empty rule would allow every Pod)",
                    )
                )
    return problems


def _raw_names(data: Any, section: str, field: str) -> dict[int, str]:
    """``section[i].field`` of the raw document where it is a string (to name entries in errors)."""
    raw = data.get(section) if isinstance(data, dict) else None
    names: dict[int, str] = {}
    for i, entry in enumerate(raw if isinstance(raw, list) else []):
        value = entry.get(field) if isinstance(entry, dict) else None
        if field == "taint":
            value = value.get("key") if isinstance(value, dict) else None
        if isinstance(value, str):
            names[i] = value
    return names


def parse_policies(document: YamlDocument) -> PolicySet:
    """Validate a parsed policy document; raise ``PolicyError`` listing every problem."""
    data = document.data
    policy_names = _raw_names(data, "policies", "name")
    names: Names = {("policies", i): name for i, name in policy_names.items()}
    names |= {("reservations", i): key for i, key in _raw_names(data, "reservations", "taint").items()}
    problems = _duplicate_names(policy_names)
    try:
        policy_file = PolicyFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        problems += [(tuple(e["loc"]), _format_message(e)) for e in errors]
    else:
        problems += _semantic_problems(policy_file) + forgeable_entitlements(policy_file)
    if problems:
        problems.sort(key=lambda p: document.line_of(p[0]))
        raise PolicyError(
            [
                f"{document.where(loc)}: {_format_loc(loc, names) or 'document'}: {message}"
                for loc, message in problems
            ]
        )
    compiled = tuple(compile_policy(p, index=i) for i, p in enumerate(policy_file.policies))
    reservations = tuple(compile_reservation(r, index=i) for i, r in enumerate(policy_file.reservations))
    return PolicySet(policies=compiled, source=document.source, reservations=reservations)


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
