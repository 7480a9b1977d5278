"""Label key/value validation and requirement semantics, pinned to apimachinery's behaviour.

Each table names the upstream test it ports (read through the search tool, written out here case
by case); the cases marked "ours" are additions for Python-specific pitfalls (``$`` before a
trailing newline, ``int()`` accepting more than ``strconv.ParseInt``) and for exact boundaries.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.kube.selectors import (
    INT64_MAX,
    INT64_MIN,
    Requirement,
    dns_label_error,
    dns_subdomain_error,
    is_empty_term,
    label_selector_matches,
    label_selector_mismatch,
    label_value_error,
    parse_int64,
    qualified_name_error,
    requirement_matches,
    requirements_satisfiable,
)

NAME_PART = (
    "name part must be at most 63 characters of alphanumerics, '-', '_' or '.',"
    " starting and ending with an alphanumeric"
)
PREFIX = "prefix must be a lowercase DNS subdomain of at most 253 characters"
SLASHES = "must be a qualified name: an optional DNS subdomain prefix and '/', then a name"
LABEL_VALUE = "must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
DNS_LABEL = "must be a lowercase RFC 1123 label: a-z, 0-9 and '-', at most 63 characters"
DNS_SUBDOMAIN = "must be a lowercase RFC 1123 subdomain: a-z, 0-9, '-' and '.', at most 253 characters"


# apimachinery pkg/util/validation/validation_test.go TestIsQualifiedName (= pkg/api/validate/content
# kube_test.go TestIsLabelKey): successCases
@pytest.mark.parametrize(
    "key",
    [
        "simple",
        "now-with-dashes",
        "1-starts-with-num",
        "1234",
        "simple/simple",
        "now-with-dashes/simple",
        "now-with-dashes/now-with-dashes",
        "now.with.dots/simple",
        "now-with.dashes-and.dots/simple",
        "1-num.2-num/3-num",
        "1234/5678",
        "1.2.3.4/5678",
        "Uppercase_Is_OK_123",
        "example.com/Uppercase_Is_OK_123",
        "requests.storage-foo",
        "a" * 63,
        "a" * 253 + "/" + "b" * 63,
        # ours
        "nvidia.com/gpu.product",
        "a_b.c-d",
        "x",
    ],
)
def test_qualified_name_upstream_success(key: str) -> None:
    assert qualified_name_error(key) is None


# TestIsQualifiedName errorCases, with the message we give; then ours (trailing newline, boundaries)
@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("nospecialchars%^=@", NAME_PART),
        ("cantendwithadash-", NAME_PART),
        ("-cantstartwithadash-", NAME_PART),
        ("only/one/slash", SLASHES),
        ("Example.com/abc", PREFIX),
        ("example_com/abc", PREFIX),
        ("example.com/", NAME_PART),
        ("/simple", PREFIX),
        ("a" * 64, NAME_PART),
        ("a" * 254 + "/abc", PREFIX),
        # ours
        ("", NAME_PART),
        ("gpu\n", NAME_PART),  # Python's $ would match before the newline
        ("\n", NAME_PART),
        ("example.com\n/gpu", PREFIX),
        ("a" * 253 + "/" + "b" * 64, NAME_PART),
        ("pool~x", NAME_PART),
        ("sub." * 70 + "com/x", PREFIX),
    ],
)
def test_qualified_name_upstream_errors(key: str, message: str) -> None:
    assert qualified_name_error(key) == message


# pkg/api/validate/content kube_test.go TestIsLabelValue (= util/validation TestIsValidLabelValue)
@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("simple", True),
        ("now-with-dashes", True),
        ("1-starts-with-num", True),
        ("end-with-num-1", True),
        ("1234", True),
        ("a" * 63, True),
        ("", True),
        ("nospecialchars%^=@", False),
        ("Tama-nui-te-rā.is.Māori.sun", False),
        ("\\backslashes\\are\\bad", False),
        ("-starts-with-dash", False),
        ("ends-with-dash-", False),
        (".starts.with.dot", False),
        ("ends.with.dot.", False),
        ("a" * 64, False),
        # ours
        ("gpu\n", False),
        ("\n", False),
        ("true\n", False),
        ("007", True),
        ("-5", False),
        ("+5", False),
        ("A100-SXM4-40GB", True),
        ("a b", False),
    ],
)
def test_label_value_upstream(value: str, valid: bool) -> None:
    assert label_value_error(value) == (None if valid else LABEL_VALUE)


# pkg/api/validate/content dns_test.go TestIsDNS1123Label (same table in util/validation)
@pytest.mark.parametrize(
    "name",
    ["a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a", "1-a", "1--a--b--2", "a" * 63],
)
def test_dns_label_upstream_good(name: str) -> None:
    assert dns_label_error(name) is None


@pytest.mark.parametrize(
    "name",
    [
        *["", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1"],
        *["_", "a_", "_a", "a_b", "1_", "_1", "1_2", ".", "a.", ".a", "a.b", "1.", ".1", "1.2"],
        *[" ", "a ", " a", "a b", "1 ", " 1", "1 2", "a" * 64],
        *["gpu-servers\n", "a\n"],  # ours
    ],
)
def test_dns_label_upstream_bad(name: str) -> None:
    assert dns_label_error(name) == DNS_LABEL


# pkg/api/validate/content dns_test.go TestIsDNS1123Subdomain
@pytest.mark.parametrize(
    "name",
    [
        *["a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a", "1-a", "1--a--b--2"],
        *["a.a", "ab.a", "abc.a", "a1.a", "a-1.a", "a--1--2--b.a"],
        *["a.1", "ab.1", "abc.1", "a1.1", "a-1.1", "a--1--2--b.1"],
        *["0.a", "01.a", "012.a", "1a.a", "1-a.a", "1--a--b--2"],
        *["0.1", "01.1", "012.1", "1a.1", "1-a.1", "1--a--b--2.1"],
        *["a.b.c.d.e", "aa.bb.cc.dd.ee", "1.2.3.4.5", "11.22.33.44.55", "a" * 253],
    ],
)
def test_dns_subdomain_upstream_good(name: str) -> None:
    assert dns_subdomain_error(name) is None


@pytest.mark.parametrize(
    "name",
    [
        *["", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1"],
        *["_", "a_", "_a", "a_b", "1_", "_1", "1_2", ".", "a.", ".a", "a..b", "1.", ".1", "1..2"],
        *[" ", "a ", " a", "a b", "1 ", " 1", "1 2", "A.a", "aB.a", "ab.A", "A1.a", "a1.A"],
        *["A.1", "aB.1", "A1.1", "1A.1", "0.A", "01.A", "012.A", "1A.a", "1a.A"],
        *["A.B.C.D.E", "AA.BB.CC.DD.EE", "a.B.c.d.e", "aa.bB.cc.dd.ee"],
        *["a@b", "a,b", "a_b", "a;b", "a:b", "a%b", "a?b", "a$b", "a" * 254],
        *["example.com\n", "a.b\n"],  # ours
    ],
)
def test_dns_subdomain_upstream_bad(name: str) -> None:
    assert dns_subdomain_error(name) == DNS_SUBDOMAIN


# Go strconv atoi_test.go parseInt64Tests (base 10), then ours: what Python's int() takes and Go refuses
@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("", None),
        ("0", 0),
        ("-0", 0),
        ("+0", 0),
        ("1", 1),
        ("-1", -1),
        ("+1", 1),
        ("12345", 12345),
        ("-12345", -12345),
        ("012345", 12345),
        ("-012345", -12345),
        ("98765432100", 98765432100),
        ("-98765432100", -98765432100),
        ("9223372036854775807", INT64_MAX),
        ("-9223372036854775807", -INT64_MAX),
        ("9223372036854775808", None),
        ("-9223372036854775808", INT64_MIN),
        ("-9223372036854775809", None),
        ("-1_2_3_4_5", None),
        ("-_12345", None),
        ("_12345", None),
        ("1__2345", None),
        ("12345_", None),
        ("123%45", None),
        # ours
        ("+", None),
        ("-", None),
        ("--5", None),
        ("+-5", None),
        (" 5", None),
        ("5 ", None),
        ("5\n", None),
        ("\t5", None),
        ("5_0", None),
        ("٥", None),  # ARABIC-INDIC DIGIT FIVE
        ("５", None),  # FULLWIDTH DIGIT FIVE
        ("0x10", None),
        ("1e3", None),
        ("1.5", None),
        ("0" * 62 + "7", 7),
        ("0" * 5000 + "7", 7),  # Go reads any number of leading zeros
        ("9" * 5000, None),  # over Python's 4300-digit int() limit: out of range, not a crash
        ("10" + "0" * 18, None),  # 20 digits
    ],
)
def test_parse_int64_like_go(text: str, number: int | None) -> None:
    assert parse_int64(text) == number


# apimachinery pkg/labels selector.go Requirement.Matches; cases from selector_test.go
# TestSelectorMatches and TestRequirementSelectorMatching (operators a NodeSelectorRequirement has)
@pytest.mark.parametrize(
    ("operator", "values", "label", "matches"),
    [
        ("In", ["y"], "y", True),  # x=y
        ("In", ["y"], "z", False),
        ("In", ["z"], None, False),  # x=z on {}
        ("NotIn", ["y"], "z", True),  # x!=y
        ("NotIn", [""], None, True),  # x notin () on {y: ""}
        ("In", [""], None, False),  # x in () on {y: baz}
        ("Exists", [], "z", True),  # x
        ("Exists", [], "", True),  # y on {y: ""}
        ("Exists", [], None, False),
        ("DoesNotExist", [], None, True),  # !x
        ("DoesNotExist", [], "z", False),
        ("DoesNotExist", [], "", False),  # !y on {y: ""}
        ("Gt", ["1"], "2", True),  # x>1
        ("Gt", ["1"], "0", False),
        ("Gt", ["1"], "v2", False),  # z>1 on {z: v2}
        ("Lt", ["1"], "0", True),  # x<1
        ("Lt", ["1"], "2", False),
        # ours: set membership, absence, ParseInt on both sides, malformed requirements
        ("In", ["a", "b"], "b", True),
        ("NotIn", ["a"], "a", False),
        ("NotIn", ["a", "b"], "b", False),
        ("Gt", ["3"], "3", False),
        ("Gt", ["3"], None, False),
        ("Lt", ["3"], None, False),
        ("Lt", ["3"], "3", False),
        ("Gt", ["6"], "07", True),  # ParseInt("07") = 7
        ("Lt", ["8"], "07", True),
        ("Gt", ["6"], "+7", True),  # ParseInt takes a sign (a node cannot carry it, but Go reads it)
        ("Lt", ["0"], "-1", True),
        ("Gt", ["-1"], "-0", True),
        ("Gt", ["007"], "8", True),
        ("Gt", ["+7"], "8", True),
        ("Gt", ["3"], "4\n", False),  # not an integer for Go
        ("Gt", ["3"], " 4", False),
        ("Gt", ["3"], "4_0", False),
        ("Gt", ["3\n"], "4", False),
        ("Gt", ["3"], "9223372036854775808", False),  # out of int64: ParseInt fails
        ("Lt", ["9223372036854775807"], "9223372036854775806", True),
        ("Gt", ["-9223372036854775808"], "0", True),
        ("Gt", ["9223372036854775807"], "9223372036854775807", False),
        ("Gt", ["1", "2"], "5", False),  # exactly one value, or nothing matches
        ("Lt", ["9", "8"], "1", False),
        ("Gt", [], "5", False),
        ("Gt", ["x"], "5", False),
        ("Bogus", ["3"], "3", False),  # unknown operators match nothing
        ("in", ["a"], "a", False),  # operators are case-sensitive
        ("", [], "a", False),
        ("Equals", ["a"], "a", False),  # label selector operators that nodes do not have
    ],
)
def test_requirement_matches(operator: str, values: list[str], label: str | None, matches: bool) -> None:
    assert requirement_matches(operator, values, label) is matches


def _expr(key: str, operator: str, *values: str) -> dict[str, object]:
    return {"key": key, "operator": operator, "values": list(values)}


# apimachinery pkg/labels selector_test.go TestRequirementSelectorMatching, written as metav1
# LabelSelectors (LabelSelectorAsSelector), plus matchLabels and the empty selector
@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        (
            {"matchExpressions": [_expr("x", "In", "foo"), _expr("y", "NotIn", "alpha")]},
            {"x": "foo", "y": "baz"},
            True,
        ),
        (
            {"matchExpressions": [_expr("x", "In", "foo"), _expr("y", "In", "alpha")]},
            {"x": "foo", "y": "baz"},
            False,
        ),
        ({"matchExpressions": [_expr("x", "NotIn", ""), _expr("y", "Exists")]}, {"y": ""}, True),
        ({"matchExpressions": [_expr("x", "DoesNotExist"), _expr("y", "Exists")]}, {"y": ""}, True),
        ({"matchExpressions": [_expr("x", "NotIn", ""), _expr("y", "DoesNotExist")]}, {"y": ""}, False),
        ({"matchExpressions": [_expr("x", "In", "")]}, {"y": "baz"}, False),
        # ours
        ({}, {"x": "y"}, True),  # an empty selector selects everything
        ({"matchLabels": {}, "matchExpressions": []}, {}, True),
        ({"matchLabels": {"foo": "bar", "baz": "blah"}}, {"foo": "bar", "baz": "blah"}, True),
        ({"matchLabels": {"foo": "blah"}}, {"foo": "bar", "baz": "blah"}, False),
        ({"matchLabels": {"foo": "bar", "foobar": "bar"}}, {"foo": "bar"}, False),
        ({"matchLabels": {"x": ""}}, {}, False),  # matchLabels x: "" needs the label present
        ({"matchLabels": {"x": ""}}, {"x": ""}, True),
        (
            {"matchLabels": {"team": "nlp"}, "matchExpressions": [_expr("tier", "In", "critical")]},
            {"team": "nlp"},
            False,
        ),
    ],
)
def test_label_selector_matches_upstream(
    selector: dict[str, object], labels: dict[str, str], matches: bool
) -> None:
    assert label_selector_matches(selector, labels) is matches


def _sevens(count: int) -> tuple[str, ...]:
    """The first ``count`` spellings of 7 as a label value: 7, 07, 007, ... (at most 63 characters)."""
    return tuple("7".rjust(width, "0") for width in range(1, count + 1))


@pytest.mark.parametrize(
    ("requirements", "satisfiable"),
    [
        ([("In", ("a", "b")), ("In", ("b", "c"))], True),
        ([("In", ("a",)), ("In", ("b",))], False),  # disjoint In sets
        ([("In", ("a", "b")), ("NotIn", ("a", "b"))], False),  # NotIn covers the In set
        ([("In", ("a", "b")), ("NotIn", ("a",))], True),
        ([("Exists", ()), ("DoesNotExist", ())], False),
        ([("In", ("a",)), ("DoesNotExist", ())], False),
        ([("NotIn", ("a",)), ("DoesNotExist", ())], True),  # absent
        ([("DoesNotExist", ())], True),
        ([("Exists", ())], True),
        ([], True),
        ([("Gt", ("5",)), ("Lt", ("6",))], False),  # empty integer range
        ([("Gt", ("5",)), ("Lt", ("7",))], True),
        ([("Gt", ("5",)), ("Lt", ("7",)), ("NotIn", ("6",))], True),  # "06" reads as 6
        ([("Gt", ("6",)), ("Lt", ("8",)), ("NotIn", ("7",))], True),  # "07": issue 17 item 10
        ([("Gt", ("6",)), ("Lt", ("8",)), ("NotIn", _sevens(62))], True),  # 63 characters still fit
        ([("Gt", ("6",)), ("Lt", ("8",)), ("NotIn", _sevens(63))], False),  # every spelling excluded
        ([("Gt", ("6",)), ("Lt", ("9",)), ("NotIn", (*_sevens(63), "8"))], True),  # "08"
        ([("Gt", ("5",)), ("In", ("4", "9"))], True),
        ([("Gt", ("5",)), ("In", ("4", "x"))], False),
        ([("Gt", ("6",)), ("In", ("07",))], True),
        ([("Gt", ("6",)), ("In", ("+7",))], False),  # "+7" is no label value: no node has it
        ([("In", ("a\n",))], False),
        ([("In", ("-0",)), ("Lt", ("1",))], False),
        ([("Lt", ("0",))], False),  # label values cannot be negative numbers
        ([("Lt", ("1",))], True),  # "0"
        ([("Lt", ("1",)), ("NotIn", ("0",))], True),  # "00"
        ([("Gt", ("-5",)), ("Lt", ("1",))], True),
        ([("Gt", ("1",)), ("DoesNotExist", ())], False),
        ([("Gt", ("9223372036854775806",))], True),
        ([("Gt", ("9223372036854775806",)), ("NotIn", ("9223372036854775807",))], True),  # "0922..."
        ([("Gt", ("9223372036854775807",))], False),  # int64 maximum: nothing is greater
        ([("Lt", ("-9223372036854775808",))], False),
        ([("Gt", ("1", "2"))], False),  # malformed Gt matches nothing
        ([("Gt", ("x",))], False),
        ([("Gt", ())], False),
        ([("Gt", ("x",)), ("NotIn", ("a",))], False),  # absence fails Gt, and no value parses as x
        ([("Bogus", ())], False),
        ([("NotIn", tuple(f"v{i}" for i in range(5)))], True),
        ([("Exists", ()), ("NotIn", ("a",))], True),
        ([("Exists", ()), ("NotIn", ("", "v0", "v1"))], True),
        ([("In", ("",)), ("Exists", ())], True),  # the empty value is a value
    ],
)
def test_requirements_satisfiable(requirements: list[Requirement], satisfiable: bool) -> None:
    assert requirements_satisfiable(requirements) is satisfiable


# A brute-force oracle: every requirement below is drawn from a small pool, and the candidate set
# holds every label value that could be a witness for them (all short spellings of small numbers,
# padded big ones, fresh strings), so "some candidate satisfies all" is the truth.
_NUMBERS = [
    "-1",
    "0",
    "1",
    "2",
    "5",
    "6",
    "7",
    "8",
    "07",
    "+7",
    "-0",
    "9223372036854775806",
    "9223372036854775807",
]
_STRINGS = ["", "a", "b", "v0", "007", "08", "9223372036854775807", "09223372036854775807", "x y"]
_ORACLE = (
    [None, *_STRINGS, *_NUMBERS]
    + [str(n).rjust(width, "0") for n in range(0, 12) for width in range(1, 5)]
    + ["9223372036854775807".rjust(w, "0") for w in (20, 21, 22)]
    + ["c", "v1", "v2", "zz"]
)
_ORACLE = [v for v in _ORACLE if v is None or label_value_error(v) is None]

_requirement = st.one_of(
    st.tuples(
        st.sampled_from(["In", "NotIn"]),
        st.lists(st.sampled_from(_STRINGS + _NUMBERS), min_size=1, max_size=4).map(tuple),
    ),
    st.tuples(st.sampled_from(["Exists", "DoesNotExist"]), st.just(())),
    st.tuples(
        st.sampled_from(["Gt", "Lt"]),
        st.lists(st.sampled_from([*_NUMBERS, "x"]), min_size=1, max_size=2).map(tuple),
    ),
)


@settings(max_examples=1500, deadline=None)
@given(requirements=st.lists(_requirement, max_size=5))
def test_satisfiable_agrees_with_a_brute_force_witness_search(requirements: list[Requirement]) -> None:
    witnessed = any(all(requirement_matches(op, vals, v) for op, vals in requirements) for v in _ORACLE)
    assert requirements_satisfiable(requirements) is witnessed


# component-helpers scheduling/corev1/nodeaffinity nodeaffinity_test.go: the expression-level cases
# of TestPodMatchesNodeSelectorAndAffinityTerms and TestNodeSelectorRequirementsAsSelector (whole
# terms, matchFields and nodeSelector are matched in webhook.simulation and tested there)
@pytest.mark.parametrize(
    ("operator", "values", "label", "matches"),
    [
        ("In", ["bar", "value2"], "bar", True),  # "...using In operator that matches the existing node"
        ("Gt", ["0204"], "0206", True),  # "...using Gt operator": two digits major, two minor
        ("NotIn", ["DDR", "DDR2"], "DDR3", True),  # "...using NotIn operator"
        ("Exists", [], "anything", True),  # "...using Exists operator"
        ("In", ["invalid value: ___@#$%^"], "bar", False),  # "...an invalid value in Affinity term"
        ("In", ["baz", "bar"], "bar", True),  # NodeSelectorRequirementsAsSelector: foo in (baz,bar)
        ("Gt", ["1"], "2", True),  # foo>1
        ("Lt", ["7"], "6", True),  # bar<7
        ("Exists", ["bar", "baz"], "bar", True),  # NewRequirement refuses it: webhook.simulation checks first
        ("invalid", ["5"], "5", False),  # operator not supported: the term never matches
    ],
)
def test_node_affinity_expressions_upstream(
    operator: str, values: list[str], label: str, matches: bool
) -> None:
    assert requirement_matches(operator, values, label) is matches


# nodeaffinity.go isEmptyNodeSelectorTerm: a term without expressions and fields selects no node;
# TestPodMatchesNodeSelectorAndAffinityTerms "Pod with empty MatchExpressions is not a valid value
# will match no objects"
@pytest.mark.parametrize(
    ("term", "empty"),
    [
        ({}, True),
        ({"matchExpressions": []}, True),
        ({"matchExpressions": [], "matchFields": []}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, False),
        ({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}, False),
        ({"matchExpressions": "not-a-list"}, True),  # ours: malformed shapes count as empty
        (None, True),
        ("term", True),
    ],
)
def test_is_empty_term_upstream(term: object, empty: bool) -> None:
    assert is_empty_term(term) is empty


# --- exact limits and messages, Gt/Lt windows at the int64 bounds (ours) -----------------------
# a subdomain of exactly 253 characters: 3 labels of 63 and one of 61, joined by dots
SUBDOMAIN_253 = ".".join(["a" * 63] * 3 + ["b" * 61])


def test_the_subdomain_fixture_is_253_characters() -> None:
    assert len(SUBDOMAIN_253) == 253


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("a" * 63, None),
        ("a" * 64, NAME_PART),
        (f"{SUBDOMAIN_253}/gpu", None),
        (f"{SUBDOMAIN_253}b/gpu", PREFIX),
        ("/gpu", PREFIX),
        ("Example.com/gpu", PREFIX),
        ("a/b/c", SLASHES),
        ("example.com/", NAME_PART),
        ("", NAME_PART),
        ("-a", NAME_PART),
    ],
)
def test_qualified_name_messages_and_limits(key: str, error: str | None) -> None:
    assert qualified_name_error(key) == error


@pytest.mark.parametrize(
    ("value", "error"),
    [("", None), ("a" * 63, None), ("a" * 64, LABEL_VALUE), ("0" * 63, None), ("a b", LABEL_VALUE)],
)
def test_label_value_messages_and_limits(value: str, error: str | None) -> None:
    assert label_value_error(value) == error


@pytest.mark.parametrize(
    ("value", "error"),
    [("a" * 63, None), ("a" * 64, DNS_LABEL), ("A", DNS_LABEL), ("", DNS_LABEL)],
)
def test_dns_label_messages_and_limits(value: str, error: str | None) -> None:
    assert dns_label_error(value) == error


@pytest.mark.parametrize(
    ("value", "error"),
    [(SUBDOMAIN_253, None), (SUBDOMAIN_253 + "b", DNS_SUBDOMAIN), ("a..b", DNS_SUBDOMAIN)],
)
def test_dns_subdomain_messages_and_limits(value: str, error: str | None) -> None:
    assert dns_subdomain_error(value) == error


@pytest.mark.parametrize(
    ("operator", "values", "label", "matches"),
    [
        ("Gt", ["1", "2"], "5", False),  # Gt/Lt need exactly one value
        ("Lt", ["9", "10"], "5", False),
        ("Gt", [], "5", False),
        ("Gt", ["x"], "5", False),
        ("Gt", ["4"], "x", False),
        ("Gt", ["4"], None, False),
        ("Gt", ["4"], "5", True),
        ("Gt", ["5"], "5", False),
        ("Lt", ["5"], "4", True),
        ("Lt", ["5"], "5", False),
        ("Unknown", ["5"], "5", False),  # an unknown operator matches nothing
        ("in", ["5"], "5", False),
    ],
)
def test_requirement_matches_edges(
    operator: str, values: list[str], label: str | None, matches: bool
) -> None:
    assert requirement_matches(operator, values, label) is matches


@pytest.mark.parametrize(
    ("requirements", "satisfiable"),
    [
        # a requirement that is not Gt/Lt before the numeric ones does not end the window early
        ([("NotIn", ("x",)), ("Gt", ("5",))], True),
        ([("Exists", ()), ("Gt", ("5",)), ("Lt", ("7",))], True),
        ([("Exists", ()), ("Gt", ("5",)), ("Lt", ("6",))], False),
        ([("DoesNotExist", ()), ("Gt", ("5",))], False),
        ([("Gt", ("5", "6"))], False),
        ([("Lt", ())], False),
        ([("Gt", ("9223372036854775806",))], True),
        ([("Gt", ("9223372036854775807",))], False),
        ([("Lt", ("0",))], False),
        ([("Lt", ("1",))], True),
        ([("Gt", ("-9223372036854775808",)), ("Lt", ("1",))], True),
        ([("Unknown", ("a",))], False),
        ([("NotIn", ("v0", "v1"))], True),
    ],
)
def test_requirements_satisfiable_edges(requirements: list[Requirement], satisfiable: bool) -> None:
    assert requirements_satisfiable(requirements) is satisfiable


@pytest.mark.parametrize(
    ("selector", "labels"),
    [
        ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["nlp"]}]}, {"team": "nlp"}),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, {"team": "cv"}),
        (
            {
                "matchLabels": {"team": "nlp"},
                "matchExpressions": [{"key": "env", "operator": "DoesNotExist"}],
            },
            {"team": "nlp"},
        ),
        ({}, {}),
    ],
)
def test_label_selector_mismatch_is_none_when_every_requirement_holds(
    selector: dict[str, object], labels: dict[str, str]
) -> None:
    assert label_selector_mismatch(selector, labels) is None
    assert label_selector_matches(selector, labels)
