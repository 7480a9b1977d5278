"""The policy file: every validation rule names file line, policy and field; the schema; loading."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.helpers import BUNDLED_POLICIES, ROOT, bundled_policies
from webhook.errors import PolicyError
from webhook.policy.loading import (
    MAX_POLICY_FILE_BYTES,
    default_policies_path,
    load_policies,
    load_policies_text,
)
from webhook.policy.model import policy_file_schema


def problems_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_policies_text(textwrap.dedent(text).lstrip(), source="policies.yaml")
    return raised.value.problems


def one(placement: str, *, extra: str = "", match: str = "{}") -> list[str]:
    return problems_of(f"""
        version: 1
        policies:
        - name: ok
          placement: {{tolerations: [{{key: a, operator: Exists}}]}}
        - name: gpu-servers
          match: {match}
          placement: {placement}
          {extra}
        """)


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        (
            "{tolerations: [{key: a, operator: Equl}]}",
            "placement.tolerations[0].operator: must be Equal or Exists",
        ),
        (
            "{tolerations: [{operator: Equal, value: x}]}",
            "tolerations[0].operator: must be Exists when key is empty",
        ),
        (
            "{tolerations: [{key: a, operator: Exists, value: x}]}",
            "tolerations[0].value: must be empty when operator is Exists",
        ),
        ("{tolerations: [{key: a, value: 'a b'}]}", "tolerations[0].value: must be at most 63 characters"),
        (
            "{tolerations: [{key: a, operator: Exists, effect: NoSchedule, tolerationSeconds: 5}]}",
            "tolerations[0].tolerationSeconds: may only be set when effect is NoExecute",
        ),
        (
            "{tolerations: [{key: a, operator: Exists, effect: NoSchedul}]}",
            "tolerations[0].effect: must be NoSchedule, PreferNoSchedule or NoExecute",
        ),
        ("{tolerations: [{key: 'bad key', operator: Exists}]}", 'tolerations[0].key: "bad key": name part'),
        (
            "{tolerations: [{key: a, value: true}]}",
            "tolerations[0].value: must be a string (quote YAML values",
        ),
        (
            "{nodeAffinity: {required: [{key: pool, operator: In}]}}",
            "nodeAffinity.required[0].values: must be non-empty when operator is In",
        ),
        (
            "{nodeAffinity: {required: [{key: pool, operator: NotIn, values: []}]}}",
            "required[0].values: must be non-empty when operator is NotIn",
        ),
        (
            "{nodeAffinity: {required: [{key: pool, operator: Exists, values: [a]}]}}",
            "required[0].values: must be empty when operator is Exists",
        ),
        (
            "{nodeAffinity: {required: [{key: pool, operator: DoesNotExist, values: [a]}]}}",
            "required[0].values: must be empty when operator is DoesNotExist",
        ),
        (
            "{nodeAffinity: {required: [{key: gpus, operator: Gt, values: ['1', '2']}]}}",
            "required[0].values: must be exactly one integer when operator is Gt",
        ),
        (
            "{nodeAffinity: {required: [{key: gpus, operator: Lt, values: [many]}]}}",
            "required[0].values: must be exactly one integer when operator is Lt",
        ),
        (
            "{nodeAffinity: {required: [{key: gpus, operator: Near, values: ['1']}]}}",
            "required[0].operator: must be In, NotIn, Exists, DoesNotExist, Gt or Lt",
        ),
        (
            "{nodeAffinity: {preferred: [{weight: 0, matchExpressions: [{key: a, operator: Exists}]}]}}",
            "preferred[0].weight: must be at least 1",
        ),
        (
            "{nodeAffinity: {preferred: [{weight: 101, matchExpressions: [{key: a, operator: Exists}]}]}}",
            "preferred[0].weight: must be at most 100",
        ),
        ("{nodeSelector: {'Pool/x': a}}", 'placement.nodeSelector: key "Pool/x": prefix must be a lowercase'),
        ("{nodeSelector: {pool: 'a b'}}", 'placement.nodeSelector.pool: "a b": must be at most 63'),
        ("{}", "placement: must set tolerations, nodeSelector or nodeAffinity"),
        (
            "{nodeSelector: {pool: a}, nodeAffinity: {required: [{key: pool, operator: In, values: [b]}]}}",
            "placement: no node label value can satisfy every rule on pool",
        ),
        ("{tolerations: [], nodeSelctor: {a: b}}", "placement.nodeSelctor: unknown field"),
    ],
)
def test_each_rule_names_line_policy_and_field(placement: str, message: str) -> None:
    problems = one(placement)
    assert len(problems) == 1, problems
    assert problems[0].startswith("policies.yaml:7: policies[1] (gpu-servers).placement"), problems[0]
    assert message in problems[0]


@pytest.mark.parametrize(
    ("match", "message"),
    [
        ("{namespaces: []}", "match.namespaces: must not be empty"),
        ("{servers: ['']}", "match.servers[0]: must be a non-empty string"),
        (
            "{podSelector: {matchExpressions: [{key: tier, operator: In}]}}",
            "podSelector.matchExpressions[0].values: must be non-empty when operator is In",
        ),
        (
            "{podSelector: {matchExpressions: [{key: tier, operator: Gt, values: ['1']}]}}",
            "matchExpressions[0].operator: must be In, NotIn, Exists or DoesNotExist",
        ),
        ("{podSelector: {matchLabels: {team: 'a b'}}}", 'matchLabels.team: "a b": must be at most 63'),
        ("{serverType: [mlserver]}", "match.serverType: unknown field"),
    ],
)
def test_match_rules(match: str, message: str) -> None:
    problems = one("{tolerations: [{key: a, operator: Exists}]}", match=match)
    assert len(problems) == 1 and message in problems[0], problems
    assert problems[0].startswith("policies.yaml:6: policies[1] (gpu-servers).match")


@pytest.mark.parametrize(
    ("match", "message"),
    [
        ("5", "policies[0] (p).match: must be a mapping"),  # model_type
        (
            "{podSelector: {matchLabels: 5}}",
            "policies[0] (p).match.podSelector.matchLabels: must be a mapping",
        ),
        (
            "{podSelector: {matchExpressions: 5}}",
            "policies[0] (p).match.podSelector.matchExpressions: must be a list",
        ),
    ],
)
def test_type_errors_read_as_json_types(match: str, message: str) -> None:
    text = f"version: 1\npolicies:\n- name: p\n  match: {match}\n  placement: {{}}\n"
    assert problems_of(text) == [f"policies.yaml:4: {message}"]


def test_policy_level_rules() -> None:
    problems = one(
        "{tolerations: [{key: a, operator: Exists}]}", extra="onConflict: ignore\n          mode: dry"
    )
    assert problems == [
        "policies.yaml:8: policies[1] (gpu-servers).onConflict: must be warn or deny",
        "policies.yaml:9: policies[1] (gpu-servers).mode: must be enforce or audit",
    ]


def test_names_must_be_unique_dns_labels_and_all_errors_are_listed() -> None:
    problems = problems_of("""
        version: 1
        policies:
        - name: gpu
          placement: {tolerations: [{key: a, operator: Exists}]}
        - name: gpu
          placement: {tolerations: [{key: a, operator: Bad}]}
        - name: GPU_2
          placement: {tolerations: [{key: a, operator: Exists}]}
        - placement: {tolerations: [{key: a, operator: Exists}]}
        """)
    assert problems == [
        "policies.yaml:5: policies[1] (gpu).name: duplicate of policies[0]",
        "policies.yaml:6: policies[1] (gpu).placement.tolerations[0].operator: must be Equal or Exists",
        "policies.yaml:7: policies[2] (GPU_2).name: must be a lowercase RFC 1123 label: a-z, 0-9 and '-',"
        " at most 63 characters",
        "policies.yaml:9: policies[3].name: required field is missing",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 2\npolicies: []\n", "policies.yaml:1: version: must be 1"),
        ("policies: []\n", "policies.yaml:1: version: required field is missing"),
        ("version: 1\npolicies: {}\n", "policies.yaml:2: policies: must be a list"),
        # the end of a 2-line file is its line 2, not a line 3 that does not exist
        ("version: 1\npolicies: [\n", "policies.yaml:2: not valid YAML"),
        ("version: 1\npolicies: [", "policies.yaml:2: not valid YAML"),
        ("version: 1\nversion: 1\npolicies: []\n", 'policies.yaml:2: duplicate key "version"'),
        ("- 1\n", "policies.yaml:1: document: must be a mapping"),
        (
            "version: 1\n---\nversion: 1\n",
            "policies.yaml:3: a second YAML document with content; a policy file is one document"
            " (empty ones are ignored)",
        ),
        ("", "policies.yaml: empty (no YAML document with content); a policy file needs at least version: 1"),
        ("---\n# nothing\n---\n", "policies.yaml: empty (no YAML document with content)"),
        (
            "version: 1\npolicies: []\nx: !!python/object:os.system {}\n",
            "policies.yaml:3: unsupported YAML value",
        ),
    ],
)
def test_file_level_problems(text: str, message: str) -> None:
    problems = problems_of(text)
    assert any(p.startswith(message) for p in problems), problems


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\npolicies: []\n---\n",  # a trailing --- (kubectl ignores empty documents)
        "---\nversion: 1\npolicies: []\n---\n# retired policies below\n---\n",
    ],
)
def test_empty_documents_are_ignored(text: str) -> None:
    assert len(load_policies_text(text)) == 0


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    problems = problems_of("\n".join(lines) + "\n")
    assert problems == ["policies.yaml: YAML aliases would add over 200000 nodes when expanded"]


def test_oversized_and_unreadable_files(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_POLICY_FILE_BYTES + 1))
    with pytest.raises(PolicyError, match="byte limit"):
        load_policies(big)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policies(tmp_path / "missing.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policies(binary)


def test_defaults_and_compiled_form() -> None:
    policy_set = load_policies_text(
        textwrap.dedent("""
        version: 1
        policies:
        - name: p
          placement:
            tolerations: [{key: seldon-gpu-srv, value: "true", effect: NoSchedule}]
            nodeAffinity:
              preferred: [{weight: 5, matchExpressions: [{key: a, operator: Exists}]}]
        """)
    )
    (compiled,) = policy_set.policies
    assert compiled.policy.on_conflict == "warn" and compiled.policy.mode == "enforce"
    assert compiled.tolerations == (
        {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
    )
    assert compiled.preferred == (
        {"weight": 5, "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}},
    )
    assert compiled.criteria == ()  # an empty match holds for every Pod


def test_bundled_policies_are_the_documented_example() -> None:
    policy_set = bundled_policies()
    names = [p.name for p in policy_set.policies]
    assert names == ["llm-on-a100", "mig-servers", "gpu-servers"]
    gpu = policy_set.policies[-1]
    assert gpu.tolerations == (
        {"key": "seldon-gpu-srv", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
    )
    assert gpu.required == ({"key": "pool", "operator": "In", "values": ["infer-srv"]},)
    llm = policy_set.policies[0]
    assert any(e["key"] == "nvidia.com/gpu.product" for e in llm.required)


def test_packaged_default_is_the_top_level_file() -> None:
    packaged = ROOT / "webhook" / "defaults" / "policies.yaml"
    assert packaged.read_text() == BUNDLED_POLICIES.read_text()


def test_committed_schema_is_current() -> None:
    committed = json.loads((ROOT / "policies.schema.json").read_text())
    assert committed == policy_file_schema(), "run: placement-webhook schema > policies.schema.json"


def test_schema_forbids_unknown_keys_and_knows_the_enums() -> None:
    schema = policy_file_schema()
    assert schema["additionalProperties"] is False
    toleration = schema["$defs"]["Toleration"]
    assert toleration["additionalProperties"] is False
    assert toleration["properties"]["operator"]["enum"] == ["Equal", "Exists"]
    assert "tolerationSeconds" in toleration["properties"]


def test_a_key_with_a_line_break_is_quoted_and_the_error_stays_one_line() -> None:
    problems = one('{tolerations: [{key: a, operator: Exists, "o\\nEqual": x}]}')
    assert problems == [
        'policies.yaml:7: policies[1] (gpu-servers).placement.tolerations[0]."o\\nEqual": unknown field'
        " (check the spelling; see `placement-webhook schema`)"
    ]


def test_every_problem_is_reported_at_once_each_at_its_own_line() -> None:
    """Cross-field rules (an empty placement, an empty allow rule) are checked on every entry that
    validates even when others have field errors; every bad key and value of a map or list is
    named, each at its own line (not only the first, at the map's line)."""
    problems = problems_of("""\
version: 1
policies:
- name: empty
  placement: {}
- name: broken
  match:
    namespaces: [team-a, "", ""]
  placement:
    nodeSelector:
      good: x
      "bad key!": y
      other: "bad value!"
    tolerations: [{key: k, operator: Sometimes}]
reservations:
- taint: {key: seldon-gpu-srv}
  allow: [{}]
""")
    assert problems == [
        "policies.yaml:4: policies[0] (empty).placement: must set tolerations, nodeSelector or nodeAffinity",
        "policies.yaml:7: policies[1] (broken).match.namespaces[1]: must be a non-empty string",
        "policies.yaml:7: policies[1] (broken).match.namespaces[2]: must be a non-empty string",
        'policies.yaml:11: policies[1] (broken).placement.nodeSelector: key "bad key!": name part must be at'
        " most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        'policies.yaml:12: policies[1] (broken).placement.nodeSelector.other: "bad value!": must be at most'
        " 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        "policies.yaml:13: policies[1] (broken).placement.tolerations[0].operator: must be Equal or Exists",
        "policies.yaml:16: reservations[0] (seldon-gpu-srv).allow[0]: must set namespaces, podSelector or"
        " daemonSets (an empty rule would allow every Pod)",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version: 1\npolices: []\n", "policies.yaml:2: polices: unknown field; did you mean policies?"),
        (
            "version: 1\npolicies:\n- name: p\n  placment: {nodeSelector: {a: b}}\n",
            "policies.yaml:4: policies[0] (p).placment: unknown field; did you mean placement?",
        ),
        (
            "version: 1\npolicies:\n- name: p\n  placement: {nodeSelector: {a: b}, tolerations: [{key: a, valeu: b}]}\n",
            "policies.yaml:4: policies[0] (p).placement.tolerations[0].valeu: unknown field; did you mean value?",
        ),
        (
            "version: 1\nreservations:\n- taint: {key: a, efect: NoSchedule}\n",
            "policies.yaml:3: reservations[0] (a).taint.efect: unknown field; did you mean effect?",
        ),
        (
            "version: 1\npolicies:\n- name: p\n  zzz: 1\n  placement: {nodeSelector: {a: b}}\n",
            "policies.yaml:4: policies[0] (p).zzz: unknown field (check the spelling;",
        ),
    ],
)
def test_an_unknown_field_names_the_closest_allowed_one(text: str, problem: str) -> None:
    assert any(p.startswith(problem) for p in problems_of(text)), problems_of(text)


def test_the_default_policy_file_is_the_local_one_else_the_bundled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bundled = default_policies_path()
    assert (bundled.name, bundled.parent.name, bundled.is_absolute(), bundled.is_file()) == (
        "policies.yaml",
        "defaults",
        True,
        True,
    )
    (tmp_path / "policies.yaml").mkdir()  # a directory is no policy file
    assert default_policies_path() == bundled
    (tmp_path / "policies.yaml").rmdir()
    (tmp_path / "policies.yaml").write_text("version: 1\npolicies: []\n")
    assert default_policies_path() == Path("policies.yaml")
