"""The test case file (``placement-test.yaml``): its model, its JSON Schema, and strict loading.

Checked as strictly as a policy file: every field typed, values from their sets, unknown fields
named (with the field meant when the spelling is close), nothing a case cannot fail on (an empty
``expect``, an empty substring, a null that only means "not checked"), and every problem reported
at once as ``file:line: field: problem``. ``placement-webhook schema --test-case`` prints the
schema (``placement-test.schema.json`` in the repository), for editors.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from webhook.errors import InputError, PolicyError
from webhook.kube.selectors import dns_label_error, label_value_error, qualified_name_error
from webhook.policy.source import YamlDocument, load_yaml_document

CASE_FILE = "placement-test.yaml"
SCHEMA_HINT = "see `placement-webhook schema --test-case`"

#: what the mutator answers for a Pod CREATE (``skipped`` is for requests it does not review)
CaseOutcome = Literal["patched", "unchanged", "audit", "conflict", "denied", "malformed"]
GuardOutcome = Literal["allowed", "denied", "audit", "untouched"]
Text = Annotated[str, StringConstraints(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, strict=True)


class Expectation(_Strict):
    """What the review of every input document must give; at least one field."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    outcome: CaseOutcome | None = Field(None, description="the mutator's outcome")
    policy: Text | None = Field(
        None, description="the policy that applied; null: none applied (absent: not checked)"
    )
    pod: Text | None = Field(
        None, description="file of the mutated Pods, one document per input document (relative to the case)"
    )
    warnings: list[Text] | None = Field(
        None, description="each must be a substring of some warning; []: the review has no warning"
    )
    denied: Text | None = Field(None, description="a substring of the denial message")
    guard: GuardOutcome | None = Field(None, description="the reservation guard's outcome on the mutated Pod")
    guard_denied: Text | None = Field(None, description="a substring of the guard's denial message")


class Case(_Strict):
    """One test case: policies, input Pods, and what the webhook must answer for each."""

    name: Text = Field(description="shown in the PASS/FAIL line")
    policies: Text = Field("policies.yaml", description="the policy file, relative to the case folder")
    input: Text = Field(description="Pods or AdmissionReviews (and Namespaces), relative to the case folder")
    namespace: Text | None = Field(
        None,
        description="namespace of a bare Pod without metadata.namespace (default: default)",
        json_schema_extra={"pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
    )
    namespace_labels: dict[str, str] | None = Field(
        None,
        description="labels of the Pods' namespace for namespaceSelector (a Namespace manifest in the"
        " input gives its own); kubernetes.io/metadata.name is added as the API server does",
    )
    expect: Expectation


#: the one field whose null means something (no policy applied); any other may only be left out
NULLABLE = frozenset({"policy"})


def _without_null(properties: dict[str, Any]) -> None:
    """Optional fields in the schema as the loader takes them: absent, or a value, never null."""
    for name, prop in properties.items():
        options = prop.get("anyOf")
        if name in NULLABLE or not isinstance(options, list):
            continue
        values = [o for o in options if o != {"type": "null"}]
        prop.pop("anyOf")
        prop.pop("default", None)
        prop.update(values[0] if len(values) == 1 else {"anyOf": values})


def case_file_schema() -> dict[str, Any]:
    """JSON Schema of ``placement-test.yaml`` for editors (yaml-language-server)."""
    schema = Case.model_json_schema(by_alias=True)
    _without_null(schema["properties"])
    for definition in schema.get("$defs", {}).values():
        _without_null(definition.get("properties", {}))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "placement-webhook test case"
    return schema


Loc = tuple[int | str, ...]
_FIELDS: dict[Loc, list[str]] = {
    (): [f.alias or n for n, f in Case.model_fields.items()],
    ("expect",): [f.alias or n for n, f in Expectation.model_fields.items()],
}


def _field_name(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _message(error: Any) -> str:
    kind, loc = str(error["type"]), tuple(error["loc"])
    if kind == "extra_forbidden":
        known = _FIELDS.get(loc[:-1], [])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        return f"unknown field (did you mean {close[0]}?)" if close else f"unknown field ({SCHEMA_HINT})"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        expected = str(error["ctx"]["expected"]).replace("'", "")
        return f"must be {expected} (got {_shown(error.get('input'))})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "must be a mapping"
    if kind == "list_type":
        return "must be a list"
    if kind == "string_type":
        return f'must be a string (got {_shown(error.get("input"))}; quote YAML values such as "true" or "1")'
    message = str(error["msg"])
    return message[0].lower() + message[1:]


def _semantic_problems(case: Case) -> list[tuple[Loc, str]]:
    """What a valid-typed case still cannot mean: nothing to check, contradictions, bad names."""
    problems: list[tuple[Loc, str]] = []
    expect = case.expect
    for model, at in ((case, ()), (expect, ("expect",))):
        for name in sorted(model.model_fields_set - NULLABLE):
            if getattr(model, name) is None:
                alias = type(model).model_fields[name].alias or name
                problems.append(((*at, alias), "must not be null (leave the field out instead)"))
    if expect.denied is not None and expect.outcome not in (None, "denied"):
        problems.append((("expect", "denied"), f"a denial is expected, but outcome is {expect.outcome}"))
    if expect.guard_denied is not None and expect.guard not in (None, "denied"):
        problems.append(
            (("expect", "guardDenied"), f"a guard denial is expected, but guard is {expect.guard}")
        )
    if case.namespace is not None and (problem := dns_label_error(case.namespace)):
        problems.append((("namespace",), problem))
    for key, value in (case.namespace_labels or {}).items():
        problem = qualified_name_error(key) or label_value_error(value)
        if problem:
            which = "key" if qualified_name_error(key) else "value"
            problems.append((("namespaceLabels", key), f"{which} {problem}"))
    return problems


def _empty_expect(data: Any) -> list[tuple[Loc, str]]:
    """An empty ``expect`` checks nothing: refused with the other problems, whatever they are."""
    if isinstance(data, dict) and data.get("expect") == {}:
        return [(("expect",), "give at least one of " + ", ".join(_FIELDS[("expect",)]))]
    return []


def parse_case(document: YamlDocument) -> Case:
    """The case of a parsed document; ``InputError`` with one line per problem, in file order."""
    problems = _empty_expect(document.data)
    try:
        case = Case.model_validate(document.data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems += [(tuple(e["loc"]), _message(e)) for e in errors]
    else:
        problems += _semantic_problems(case)
    if problems:
        problems.sort(key=lambda p: document.line_of(p[0]))
        raise InputError(
            "\n".join(f"{document.where(loc)}: {_field_name(loc) or 'document'}: {m}" for loc, m in problems)
        )
    return case


def load_case(path: Path) -> Case:
    """Read and check one case file; ``InputError`` naming file, line and field of every problem."""
    try:
        document = load_yaml_document(path.read_text(encoding="utf-8"), source=str(path))
    except PolicyError as exc:  # YAML problems, as for a policy file
        raise InputError("\n".join(exc.problems)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    return parse_case(document)
