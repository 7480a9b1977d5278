"""Property: whatever the loader accepts, the API server accepts once emitted, and orjson encodes.

Policies are drawn from pools of hostile values (a trailing newline, 64 characters, signs on Gt/Lt
values, integers past int64, defaults that validators never saw). For every policy the loader
accepts, the placement it emits is checked against an independent transcription of upstream's
``ValidateTolerations`` and ``ValidateNodeSelectorRequirement`` (kubernetes
``pkg/apis/core/validation/validation.go``), and the whole AdmissionReview answer for a matching
Pod must encode with ``orjson`` (before issue 17, ``tolerationSeconds: 2**64`` loaded and every
admission then failed with a 500).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import admission_review, minimal_pod, mutate
from tests.strategies import pods
from webhook.errors import PolicyError
from webhook.policy.loading import load_policies_text

# --- the oracle: upstream's rules, written from the Go source, independent of webhook.kube ---------
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _is_label_key(key: str) -> bool:  # content.IsLabelKey
    parts = key.split("/")
    if len(parts) > 2:
        return False
    if len(parts) == 2 and not (0 < len(parts[0]) <= 253 and _DNS_SUBDOMAIN.fullmatch(parts[0])):
        return False
    name = parts[-1]
    return 0 < len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None


def _is_label_value(value: str) -> bool:  # content.IsLabelValue
    return len(value) <= 63 and (value == "" or _LABEL_NAME.fullmatch(value) is not None)


def _go_parse_int(text: str) -> int | None:  # strconv.ParseInt(text, 10, 64)
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or any(ch not in "0123456789" for ch in body):
        return None
    number = int(body.lstrip("0") or "0") * (-1 if text[:1] == "-" else 1)
    return number if -(2**63) <= number < 2**63 else None


def _toleration_errors(t: dict[str, Any]) -> list[str]:  # ValidateTolerations
    errors = []
    key, operator, value = t.get("key", ""), t.get("operator", ""), t.get("value", "")
    if key and not _is_label_key(key):
        errors.append("key")
    if not key and operator != "Exists":
        errors.append("operator must be Exists when `key` is empty")
    if "tolerationSeconds" in t and t.get("effect") != "NoExecute":
        errors.append("effect must be 'NoExecute' when `tolerationSeconds` is set")
    if operator in ("Equal", ""):
        if not _is_label_value(value):
            errors.append("value")
    elif operator == "Exists":
        if value:
            errors.append("value must be empty when `operator` is 'Exists'")
    else:
        errors.append("operator not supported")
    if t.get("effect", "") not in ("", "NoSchedule", "PreferNoSchedule", "NoExecute"):
        errors.append("effect not supported")
    seconds = t.get("tolerationSeconds")
    if seconds is not None and not (isinstance(seconds, int) and -(2**63) <= seconds < 2**63):
        errors.append("tolerationSeconds is no int64")
    return errors


def _requirement_errors(r: dict[str, Any]) -> list[str]:  # ValidateNodeSelectorRequirement
    errors = []
    operator, values = r["operator"], r.get("values", [])
    if operator in ("In", "NotIn") and not values:
        errors.append("values must be specified")
    elif operator in ("Exists", "DoesNotExist") and values:
        errors.append("values may not be specified")
    elif operator in ("Gt", "Lt") and len(values) != 1:
        errors.append("must be specified single value")
    elif operator not in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"):
        errors.append("not a valid selector operator")
    if not _is_label_key(r["key"]):
        errors.append("key")
    errors += [f"value {v!r}" for v in values if not _is_label_value(v)]
    return errors


# --- hostile pools -----------------------------------------------------------------------------
ABSENT = object()
KEYS = ["", "a", "gpu\n", "k" * 63, "k" * 64, "Example.com/x", "p/q", "a/b/c", "nvidia.com/gpu"]
OPERATORS = [ABSENT, "Equal", "Exists", "exists", ""]
VALUES = [ABSENT, "", "x", "x\n", "-x", "v" * 63, "v" * 64, "true"]
EFFECTS = [ABSENT, "NoSchedule", "PreferNoSchedule", "NoExecute", "", "Bad"]
SECONDS = [ABSENT, 0, -1, 300, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**30, True, 1.5, "5"]
NUMERIC = ["5", "-5", "+5", "007", "-0", "9223372036854775807", "9223372036854775808", "5\n", "0" * 63 + "1"]
REQUIREMENT_VALUES = ["a", "", "a\n", "-a", "v" * 64, *NUMERIC]


def _pick(draw: st.DrawFn, pool: list[Any], into: dict[str, Any], name: str) -> None:
    value = draw(st.sampled_from(pool))
    if value is not ABSENT:
        into[name] = value


@st.composite
def hostile_tolerations(draw: st.DrawFn) -> dict[str, Any]:
    toleration: dict[str, Any] = {}
    _pick(draw, [ABSENT, *KEYS], toleration, "key")
    _pick(draw, OPERATORS, toleration, "operator")
    _pick(draw, VALUES, toleration, "value")
    _pick(draw, EFFECTS, toleration, "effect")
    _pick(draw, SECONDS, toleration, "tolerationSeconds")
    return toleration


@st.composite
def hostile_requirements(draw: st.DrawFn) -> dict[str, Any]:
    expr: dict[str, Any] = {
        "key": draw(st.sampled_from(KEYS)),
        "operator": draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "gt"])),
    }
    if draw(st.booleans()):
        expr["values"] = draw(st.lists(st.sampled_from(REQUIREMENT_VALUES), max_size=2))
    return expr


@st.composite
def hostile_policy_files(draw: st.DrawFn) -> str:
    placement: dict[str, Any] = {}
    if draw(st.booleans()):
        placement["tolerations"] = draw(st.lists(hostile_tolerations(), min_size=1, max_size=3))
    if draw(st.booleans()):
        placement["nodeSelector"] = draw(
            st.dictionaries(st.sampled_from(KEYS), st.sampled_from(REQUIREMENT_VALUES), max_size=2)
        )
    affinity: dict[str, Any] = {}
    if draw(st.booleans()):
        affinity["required"] = draw(st.lists(hostile_requirements(), min_size=1, max_size=3))
    if draw(st.booleans()):
        affinity["preferred"] = [
            {"weight": draw(st.sampled_from([0, 1, 100, 101, True])), "matchExpressions": exprs}
            for exprs in draw(st.lists(st.lists(hostile_requirements(), min_size=1, max_size=2), max_size=2))
        ]
    if affinity:
        placement["nodeAffinity"] = affinity
    return yaml.safe_dump({"version": 1, "policies": [{"name": "p", "placement": placement}]})


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(document=hostile_policy_files(), pod=pods())
def test_an_accepted_policy_emits_only_what_the_api_server_accepts(
    document: str, pod: dict[str, Any]
) -> None:
    try:
        (compiled,) = load_policies_text(document).policies
    except PolicyError:
        return  # refused at load: the point is what gets through
    for toleration in compiled.tolerations:
        assert _toleration_errors(toleration) == [], toleration
    for expr in [*compiled.required, *(t["preference"]["matchExpressions"][0] for t in compiled.preferred)]:
        assert _requirement_errors(expr) == [], expr
        if expr["operator"] in ("Gt", "Lt"):
            assert _go_parse_int(expr["values"][0]) is not None, expr
    for key, value in compiled.node_selector.items():
        assert _is_label_key(key) and _is_label_value(value), (key, value)
    for term in compiled.preferred:
        assert 1 <= term["weight"] <= 100 and type(term["weight"]) is int
    decision = mutate(admission_review(pod), policies=load_policies_text(document))
    orjson.dumps(decision.answer)  # no policy value may turn into a 500


@settings(max_examples=300, deadline=None)
@given(toleration=hostile_tolerations())
def test_a_toleration_loads_exactly_when_upstream_would_accept_it(toleration: dict[str, Any]) -> None:
    document = yaml.safe_dump(
        {"version": 1, "policies": [{"name": "p", "placement": {"tolerations": [toleration]}}]}
    )
    try:
        (compiled,) = load_policies_text(document).policies
    except PolicyError:
        accepted = False
    else:
        accepted = True
        assert _toleration_errors(compiled.tolerations[0]) == []
    # what we refuse beyond upstream (each listed in docs/upstream.md): an explicit empty operator
    # or effect, and values of the wrong YAML type that Go's JSON decoding would refuse as well
    stricter = (
        toleration.get("operator") == ""
        or toleration.get("effect") == ""
        or isinstance(toleration.get("tolerationSeconds"), bool | float | str)
    )
    assert accepted is (not _toleration_errors(toleration) and not stricter), toleration


@pytest.mark.parametrize("seconds", [2**63 - 1, -(2**63)])
def test_int64_extremes_load_and_encode(seconds: int) -> None:
    toleration = {"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}
    document = yaml.safe_dump(
        {"version": 1, "policies": [{"name": "p", "placement": {"tolerations": [toleration]}}]}
    )
    decision = mutate(admission_review(minimal_pod()), policies=load_policies_text(document))
    assert decision.review is not None and decision.review.pod["spec"]["tolerations"] == [toleration]
    assert orjson.loads(orjson.dumps(decision.answer)) == decision.answer
