"""The kube-scheduler's placement filters and scores for one Pod and one Node, on plain dicts.

Each rule follows the upstream Go code it names, case by case (see ``tests/test_scheduling.py``):

- taints: ``k8s.io/api/core/v1`` ``Toleration.ToleratesTaint`` (empty effect or key match all,
  ``Exists`` any value, ``Equal`` or empty operator the same value, ``Lt``/``Gt`` integers as
  ``compareNumericValues``: both values in canonical decimal form, ``content.IsDecimalInteger``,
  and within int64; modelled with the alpha gate ``TaintTolerationComparisonOperators`` on);
  ``k8s.io/component-helpers/scheduling/corev1`` ``TolerationsTolerateTaint`` and
  ``FindMatchingUntoleratedTaint``; the ``TaintToleration`` plugin filters only on ``NoSchedule``
  and ``NoExecute`` taints and scores ``PreferNoSchedule`` ones (``countIntolerableTaintsPreferNoSchedule``
  over the tolerations with an empty or ``PreferNoSchedule`` effect). This is *not* the superset
  rule of ``webhook.kube.tolerations``, which compares two tolerations.
- node affinity: ``component-helpers/scheduling/corev1/nodeaffinity`` ``GetRequiredNodeAffinity``
  and ``RequiredNodeAffinity.Match`` (``nodeSelector`` AND the required terms);
  ``NewLazyErrorNodeSelector`` (empty terms are skipped, so no terms left matches nothing; terms
  are ORed); ``nodeSelectorTerm.match`` (expressions via ``labels.Requirement``, ``matchFields``
  only know ``metadata.name``, In/NotIn with one value; a term that does not parse matches
  nothing); ``PreferredSchedulingTerms.Score`` (sum of the weights of matching terms); the
  NodeAffinity plugin's ``PreScore`` fails the whole scheduling attempt when a preferred term with
  a non-zero weight does not parse (``NewPreferredSchedulingTerms``), unless only one node passes
  the filters (``schedulePod`` then skips scoring).
- the default profile's filter order decides which reason is "first": ``NodeUnschedulable``
  (cordoned unless the Pod tolerates ``node.kubernetes.io/unschedulable:NoSchedule``), ``NodeName``,
  ``TaintToleration``, ``NodeAffinity``. Resource fit is deliberately not a filter here: a node
  without the GPUs a Pod requests is reported by the caller as a placement mistake instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from webhook.engine.placement import describe_expression
from webhook.errors import shown
from webhook.kube.objects import RawObject, as_dict, as_list, is_nonzero_quantity, node_taints, string_labels
from webhook.kube.selectors import (
    NODE_OPERATORS,
    NUMERIC_OPERATORS,
    is_empty_term,
    label_value_error,
    parse_int64,
    qualified_name_error,
    requirement_matches,
)
from webhook.kube.tolerations import (  # re-exported: the scheduler's rules, kept in one place
    canonical_int64 as canonical_int64,
)
from webhook.kube.tolerations import describe_taint as describe_taint
from webhook.kube.tolerations import go_string as _text
from webhook.kube.tolerations import is_decimal_integer as is_decimal_integer
from webhook.kube.tolerations import tolerates_taint as tolerates_taint
from webhook.kube.tolerations import tolerations_tolerate as tolerations_tolerate
from webhook.simulation.admission_plugins import is_extended_resource

FILTER_EFFECTS = ("NoSchedule", "NoExecute")
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
NODE_NAME_FIELD = "metadata.name"


def find_untolerated_taint(
    taints: Iterable[Mapping[str, Any]], tolerations: list[Mapping[str, Any]], *, effects: Iterable[str]
) -> Mapping[str, Any] | None:
    """``FindMatchingUntoleratedTaint`` with an effect filter: the first taint the Pod does not tolerate."""
    wanted = set(effects)
    for taint in taints:
        if _text(taint.get("effect")) in wanted and not tolerations_tolerate(tolerations, taint):
            return taint
    return None


def pod_tolerations(pod: RawObject) -> list[Mapping[str, Any]]:
    return [t for t in as_list(as_dict(pod.get("spec")).get("tolerations")) if isinstance(t, dict)]


def node_name(node: RawObject) -> str:
    return _text(as_dict(node.get("metadata")).get("name"))


# --- node affinity ---------------------------------------------------------------------------------


def _values(expr: Mapping[str, Any]) -> list[str]:
    return [_text(v) for v in as_list(expr.get("values"))]


def _expression_error(expr: Mapping[str, Any]) -> str | None:
    """Why ``labels.NewRequirement`` would refuse this expression (the term then matches nothing)."""
    key, operator, values = _text(expr.get("key")), _text(expr.get("operator")), _values(expr)
    if operator not in NODE_OPERATORS:
        return f"operator {shown(operator)} is not one of {', '.join(NODE_OPERATORS)}"
    if qualified_name_error(key):
        return f"key {shown(key)} is not a valid label key"
    if operator in ("In", "NotIn") and not values:
        return f"{operator} needs values"
    if operator in ("Exists", "DoesNotExist") and values:
        return f"{operator} takes no values"
    if operator in NUMERIC_OPERATORS and (len(values) != 1 or parse_int64(values[0]) is None):
        return f"{operator} needs one integer"
    bad = next((v for v in values if label_value_error(v)), None)
    return f"value {shown(bad)} is not a valid label value" if bad is not None else None


def _field_error(expr: Mapping[str, Any]) -> str | None:
    """``nodeSelectorRequirementsAsFieldSelector``: only In/NotIn, with exactly one value."""
    if _text(expr.get("operator")) not in ("In", "NotIn"):
        return f"matchFields operator {shown(_text(expr.get('operator')))} is not In or NotIn"
    return None if len(_values(expr)) == 1 else "matchFields needs exactly one value"


def _label_state(labels: Mapping[str, str], key: str) -> str:
    return f"{key}={labels[key]}" if key in labels else f"no {key} label"


def _describe(expr: Mapping[str, Any]) -> str:
    text = {"key": _text(expr.get("key")), "operator": _text(expr.get("operator")), "values": _values(expr)}
    return describe_expression(text)


def _term_parse_error(term: Mapping[str, Any]) -> str | None:
    """``newNodeSelectorTerm``'s parse errors, the first one in words; None when the term parses."""
    for expr in (as_dict(e) for e in as_list(term.get("matchExpressions"))):
        error = _expression_error(expr)
        if error:
            return f"invalid requirement {_describe(expr)}: {error}"
    for expr in (as_dict(e) for e in as_list(term.get("matchFields"))):
        error = _field_error(expr)
        if error:
            return f"invalid requirement {_describe(expr)}: {error}"
    return None


def _term_failure(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> str | None:
    """``nodeSelectorTerm.match``: None when the term matches, else the first requirement that fails."""
    expressions = [as_dict(e) for e in as_list(term.get("matchExpressions"))]
    fields = [as_dict(e) for e in as_list(term.get("matchFields"))]
    parse_error = _term_parse_error(term)
    if parse_error:
        return parse_error
    for expr in expressions:
        key = _text(expr.get("key"))
        if not requirement_matches(_text(expr.get("operator")), _values(expr), labels.get(key)):
            return f"{_describe(expr)} ({_label_state(labels, key)})"
    if not name:  # fields are only compared when the node has a name
        return None
    for expr in fields:
        have = name if _text(expr.get("key")) == NODE_NAME_FIELD else ""
        if (have == _values(expr)[0]) != (_text(expr.get("operator")) == "In"):
            return _describe(expr)
    return None


def _node_affinity(pod: RawObject) -> dict[str, Any]:
    return as_dict(as_dict(as_dict(pod.get("spec")).get("affinity")).get("nodeAffinity"))


def affinity_failure(pod: RawObject, node: RawObject) -> str | None:
    """``RequiredNodeAffinity.Match``: None when nodeSelector and required terms admit the node."""
    labels, name = string_labels(node), node_name(node)
    for key, value in as_dict(as_dict(pod.get("spec")).get("nodeSelector")).items():
        if labels.get(key) != _text(value):
            return f"nodeSelector {key}={_text(value)} ({_label_state(labels, key)})"
    required = _node_affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        return None
    terms = [as_dict(t) for t in as_list(required.get("nodeSelectorTerms")) if not is_empty_term(t)]
    if not terms:
        return "affinity: no non-empty nodeSelectorTerm (an empty term matches no node)"
    failures = []
    for term in terms:
        failure = _term_failure(term, labels, name)
        if failure is None:
            return None
        failures.append(failure)
    return "affinity: " + (failures[0] if len(failures) == 1 else "no term matches: " + " | ".join(failures))


def _scored_terms(pod: RawObject) -> list[tuple[int, int, dict[str, Any]]]:
    """(index, weight, preference) of the preferred terms ``NewPreferredSchedulingTerms`` parses:
    a zero weight or an empty preference is skipped before parsing."""
    terms = []
    preferred = as_list(_node_affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution"))
    for index, term in enumerate(preferred):
        weight, preference = as_dict(term).get("weight"), as_dict(as_dict(term).get("preference"))
        if isinstance(weight, bool) or not isinstance(weight, int):
            continue
        if weight and not is_empty_term(preference):
            terms.append((index, weight, preference))
    return terms


def preferred_terms_error(pod: RawObject) -> str | None:
    """Why ``NewPreferredSchedulingTerms`` refuses the Pod's preferred terms (the first error), or None.

    The NodeAffinity plugin's ``PreScore`` then fails, which fails the scheduling attempt for the
    whole Pod (whenever more than one node passes the filters; with one, scoring is skipped).
    """
    for index, _, preference in _scored_terms(pod):
        error = _term_parse_error(preference)
        if error:
            return f"preferred term {index}: {error}"
    return None


def preferred_score(pod: RawObject, node: RawObject) -> int:
    """``PreferredSchedulingTerms.Score``: the summed weights of the preferred terms the node meets.

    Nothing is scored (0) when a term does not parse: the scheduler computes no score at all then.
    """
    if preferred_terms_error(pod) is not None:
        return 0
    labels, name = string_labels(node), node_name(node)
    return sum(w for _, w, term in _scored_terms(pod) if _term_failure(term, labels, name) is None)


# --- one node, and a whole cluster -----------------------------------------------------------------


@dataclass(frozen=True)
class NodeFit:
    """Whether a Pod passes the placement filters on one node: the first reason it does not, or scores."""

    node: str
    reason: str | None = None
    score: int = 0
    avoided: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        return self.reason is None


def filter_reason(pod: RawObject, node: RawObject) -> str | None:
    """The first placement filter of the default profile that rejects ``node``, in words; None if none."""
    tolerations = pod_tolerations(pod)
    if as_dict(node.get("spec")).get("unschedulable") is True and not tolerations_tolerate(
        tolerations, UNSCHEDULABLE_TAINT
    ):
        return "unschedulable (cordoned)"
    wanted_name = _text(as_dict(pod.get("spec")).get("nodeName"))
    if wanted_name and wanted_name != node_name(node):
        return f"spec.nodeName is {wanted_name}"
    taint = find_untolerated_taint(node_taints(node), tolerations, effects=FILTER_EFFECTS)
    if taint is not None:
        return f"untolerated taint {describe_taint(taint)}"
    return affinity_failure(pod, node)


def fit_node(pod: RawObject, node: RawObject) -> NodeFit:
    """Filter, then the two placement scores: preferred affinity and PreferNoSchedule taints to avoid."""
    reason = filter_reason(pod, node)
    if reason is not None:
        return NodeFit(node_name(node), reason)
    soft = [t for t in pod_tolerations(pod) if _text(t.get("effect")) in ("", "PreferNoSchedule")]
    avoided = tuple(
        describe_taint(t)
        for t in node_taints(node)
        if _text(t.get("effect")) == "PreferNoSchedule" and not tolerations_tolerate(soft, t)
    )
    return NodeFit(node_name(node), None, preferred_score(pod, node), avoided)


def fit_nodes(pod: RawObject, nodes: Iterable[RawObject]) -> list[NodeFit]:
    return [fit_node(pod, node) for node in nodes]


def _placement_fields_key(pod: RawObject) -> bytes | None:
    """What ``fit_node`` reads of a Pod (tolerations, nodeName, nodeSelector, node affinity), as
    bytes; None when it cannot be serialised (then nothing is remembered)."""
    spec = as_dict(pod.get("spec"))
    fields = [spec.get("tolerations"), spec.get("nodeName"), spec.get("nodeSelector"), _node_affinity(pod)]
    try:
        return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None


class NodeFitMemo:
    """``fit_nodes`` over one list of nodes, remembered by the Pod's placement fields: the Pods of
    one server share a template, so a cluster's worth of Pods costs one pass over the nodes per
    server, not per Pod. A property test holds it equal to ``fit_nodes``."""

    def __init__(self, nodes: Sequence[RawObject]) -> None:
        self.nodes = nodes
        self._fits: dict[bytes, list[NodeFit]] = {}

    def fit(self, pod: RawObject) -> list[NodeFit]:
        key = _placement_fields_key(pod)
        if key is None:
            return fit_nodes(pod, self.nodes)
        fits = self._fits.get(key)
        if fits is None:
            fits = self._fits[key] = fit_nodes(pod, self.nodes)
        return list(fits)  # NodeFit is frozen: the list is the only thing a caller could change


# --- what a node offers ----------------------------------------------------------------------------


def node_resources(node: RawObject) -> dict[str, Any] | None:
    """``status.allocatable``, else ``status.capacity``; None when the node states neither."""
    status = as_dict(node.get("status"))
    return as_dict(status.get("allocatable")) or as_dict(status.get("capacity")) or None


def missing_resources(node: RawObject, names: Iterable[str]) -> list[str] | None:
    """The named resources the node does not offer (absent or zero); None when its resources are unknown."""
    offered = node_resources(node)
    if offered is None:
        return None
    return [name for name in names if not is_nonzero_quantity(offered.get(name))]


def offered_extended(node: RawObject) -> dict[str, str]:
    """The extended resources (GPUs, MIG slices...) a node offers, e.g. ``{"nvidia.com/gpu": "8"}``."""
    offered = node_resources(node) or {}
    return {k: _text(v) for k, v in offered.items() if is_extended_resource(k) and is_nonzero_quantity(v)}
