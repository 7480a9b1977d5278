"""Loading the policy file: read it bounded, validate it, name the line, policy and field of each problem.

Every error names the file line, the policy (or the reservation, by its taint key) and the field
path (``policies.yaml:14: policies[1] (gpu-servers).placement.tolerations[0].operator: must be
Equal or Exists``), and all problems of a file are reported at once.
"""

from __future__ import annotations

import contextlib
import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from webhook.errors import PolicyError
from webhook.kube.selectors import requirements_satisfiable
from webhook.policy.compiled import PolicySet, compile_policy
from webhook.policy.entitlement import forgeable_entitlements
from webhook.policy.model import EntryError, Policy, PolicyFile, Reservation
from webhook.policy.patterns import pattern_warnings
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


_Entry = TypeVar("_Entry", Policy, Reservation)

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


def _literal_words(expected: str) -> str:
    """pydantic's ``'a', 'b' or True`` in the file's words: ``a, b or true``."""
    return expected.replace("'", "").replace("True", "true").replace("False", "false").replace("None", "null")


def _format_message(error: Any, loc: Loc) -> str:
    kind, message = str(error["type"]), str(error["msg"])
    if kind == "extra_forbidden":
        close = _close_field(loc)
        if close is not None:
            return f"unknown field; did you mean {close}? (see `placement-webhook schema`)"
        return "unknown field (check the spelling; see `placement-webhook schema`)"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return "must be " + _literal_words(str(error["ctx"]["expected"]))
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "must be a mapping"
    if kind == "list_type":
        return "must be a list"
    if kind == "string_type":
        return 'must be a string (quote YAML values such as "true" or "1")'
    if kind == "int_type":
        return "must be an integer"
    if kind == "bool_type":
        return "must be true or false"
    if kind == "greater_than_equal":
        return f"must be at least {error['ctx']['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {error['ctx']['le']}"
    return message[0].lower() + message[1:]


Loc = tuple[int | str, ...]


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model that holds the field at ``loc`` (walking PolicyFile's fields by their YAML names)."""
    current: Any = PolicyFile
    for part in loc:
        if isinstance(part, str):
            if not (isinstance(current, type) and issubclass(current, BaseModel)):
                return None
            fields = {f.alias or name: f for name, f in current.model_fields.items()}
            if part not in fields:
                return None
            current = fields[part].annotation
        while get_origin(current) in (Union, UnionType) or get_origin(current) is list:
            args = [a for a in get_args(current) if a is not type(None)]
            current = args[0] if len(args) == 1 else None
            if isinstance(part, str):  # a list is entered by the index that follows
                break
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _close_field(loc: Loc) -> str | None:
    """The allowed field closest to a misspelt one (``placment``: placement), or None."""
    model = _model_at(loc[:-1])
    if model is None or not loc or not isinstance(loc[-1], str):
        return None
    allowed = [f.alias or name for name, f in model.model_fields.items()]
    close = difflib.get_close_matches(loc[-1], allowed, n=1)
    return close[0] if close else None


@dataclass(frozen=True)
class Problem:
    """One problem: the path shown, the path whose line it is reported at (a map key's problem is
    shown at the map but reported at the key's line), and the message."""

    loc: Loc
    message: str
    line_loc: Loc | None = None

    def line(self, document: YamlDocument) -> int:
        return document.line_of(self.loc if self.line_loc is None else self.line_loc)


def _problems_of(error: Any) -> list[Problem]:
    """One pydantic error as problems: an ``EntryError`` is every bad entry, each at its path."""
    loc: Loc = tuple(error["loc"])
    raised = (error.get("ctx") or {}).get("error")
    if error["type"] == "value_error" and isinstance(raised, EntryError):
        return [
            Problem(loc + sub, message) if not at_key else Problem(loc, message, line_loc=loc + sub)
            for sub, message, at_key in raised.problems
        ]
    return [Problem(loc, _format_message(error, loc))]


def _duplicate_names(names: dict[int, str]) -> list[Problem]:
    """Checked on the raw document so that it is reported together with field errors."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for i, name in sorted(names.items()):
        if name in first:
            problems.append(Problem(("policies", i, "name"), f"duplicate of policies[{first[name]}]"))
        first.setdefault(name, i)
    return problems


def _policy_problems(i: int, policy: Policy) -> list[Problem]:
    """Rules across the fields of one policy that pydantic's per-field validators cannot see."""
    problems: list[Problem] = []
    if policy.placement.is_empty():
        problems.append(
            Problem(("policies", i, "placement"), "must set tolerations, nodeSelector or nodeAffinity")
        )
    for key, requirements in policy.placement.requirements_by_key().items():
        if not requirements_satisfiable(requirements):
            problems.append(
                Problem(("policies", i, "placement"), f"no node label value can satisfy every rule on {key}")
            )
    return problems


def _reservation_problems(reservations: list[tuple[int, Reservation]]) -> list[Problem]:
    """Duplicate reserved taints and empty allow rules, over the reservations that validated."""
    problems: list[Problem] = []
    first: dict[tuple[str, str | None, str | None], int] = {}
    for i, reservation in reservations:
        taint = reservation.taint
        same = first.setdefault((taint.key, taint.value, taint.effect), i)
        if same != i:
            problems.append(Problem(("reservations", i, "taint"), f"duplicate of reservations[{same}]"))
        for j, rule in enumerate(reservation.allow):
            if rule.is_empty():
                problems.append(
                    Problem(
                        ("reservations", i, "allow", j),
                        "must set namespaces, podSelector or daemonSets"
                        " (an empty rule would allow every Pod)",
                    )
                )
    return problems


def _entries(data: Any, section: str, model: type[_Entry]) -> list[tuple[int, _Entry]]:
    """The entries of ``section`` that validate on their own (checked across fields even when
    other entries, or the rest of the file, have errors: every problem is reported at once)."""
    raw = data.get(section) if isinstance(data, dict) else None
    valid: list[tuple[int, _Entry]] = []
    for i, entry in enumerate(raw if isinstance(raw, list) else []):
        with contextlib.suppress(ValidationError):
            valid.append((i, model.model_validate(entry)))
    return valid


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
    """Validate a parsed policy document; raise ``PolicyError`` listing every problem, each at its
    own line, in line order."""
    data = document.data
    policy_names = _raw_names(data, "policies", "name")
    names: Names = {("policies", i): name for i, name in policy_names.items()}
    names |= {("reservations", i): key for i, key in _raw_names(data, "reservations", "taint").items()}
    problems = _duplicate_names(policy_names)
    policy_file: PolicyFile | None = None
    try:
        policy_file = PolicyFile.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            problems += _problems_of(error)
        policies, reservations = (
            _entries(data, "policies", Policy),
            _entries(data, "reservations", Reservation),
        )
    else:
        policies = list(enumerate(policy_file.policies))
        reservations = list(enumerate(policy_file.reservations))
    for i, policy in policies:
        problems += _policy_problems(i, policy)
    problems += _reservation_problems(reservations)
    problems += [Problem(loc, message) for loc, message in forgeable_entitlements(policies, reservations)]
    if problems or policy_file is None:
        problems.sort(key=lambda p: p.line(document))
        raise PolicyError([_located(document, p, names) for p in problems])
    compiled = tuple(compile_policy(p, index=i) for i, p in enumerate(policy_file.policies))
    compiled_reservations = tuple(
        compile_reservation(r, index=i) for i, r in enumerate(policy_file.reservations)
    )
    warnings = tuple(
        _located(document, Problem(loc, message), names) for loc, message in pattern_warnings(policy_file)
    )
    return PolicySet(
        policies=compiled, source=document.source, reservations=compiled_reservations, warnings=warnings
    )


def _located(document: YamlDocument, problem: Problem, names: Names) -> str:
    """``file:LINE: path: message``, as compilers write it (just ``file:`` when no line is known)."""
    line = problem.line(document)
    where = f"{document.source}:{line}" if line else document.source
    return f"{where}: {_format_loc(problem.loc, names) or 'document'}: {problem.message}"


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
