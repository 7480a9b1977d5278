"""What every compiled admission policy reads of a Pod, as CEL variables, and a policy's ``match``.

The guard (``guard_policy``) and the placement policies (``placement_policy``) declare the same
``SHARED`` variables, so ``policy_matches`` decides in either exactly what ``compile_match`` decides
for the webhook: the agent container's env (last literal value wins), the Pod's and its
Namespace's labels (``namespaceObject``: no cache, no RBAC), the containers' resources.
"""

from __future__ import annotations

from webhook.kube.objects import AGENT_CONTAINER, CAPABILITIES_ENV, SERVER_NAME_LABEL, SERVER_TYPE_ENV
from webhook.native.cel import label_selector, literal, literal_list, matches_any_glob
from webhook.policy.compiled import CompiledPolicy

#: a zero quantity, as ``is_nonzero_quantity`` reads one: only zeros, any sign, suffix or exponent
ZERO_QUANTITY = r"^\s*[+-]?(0+\.?0*|\.0+)([eE][+-]?[0-9]+|[kKMGTPE]i?|[mnu])?\s*$"

SHARED = {
    "tolerations": "has(object.spec.tolerations) ? object.spec.tolerations : []",
    "oldTolerations": (
        "request.operation == 'UPDATE' && oldObject != null && has(oldObject.spec.tolerations)"
        " ? oldObject.spec.tolerations : []"
    ),
    "labels": "has(object.metadata.labels) ? object.metadata.labels : {}",
    "namespaceLabels": (
        "namespaceObject != null && has(namespaceObject.metadata.labels)"
        " ? namespaceObject.metadata.labels : {}"
    ),
    "containers": (
        "(has(object.spec.initContainers) ? object.spec.initContainers : [])"
        " + (has(object.spec.containers) ? object.spec.containers : [])"
    ),
    "agentEnv": (
        f"variables.containers.exists(c, c.name == {literal(AGENT_CONTAINER)})"
        f" && has(variables.containers.filter(c, c.name == {literal(AGENT_CONTAINER)})[0].env)"
        f" ? variables.containers.filter(c, c.name == {literal(AGENT_CONTAINER)})[0].env : []"
    ),
}


def _last_literal(env_name: str) -> str:
    """The agent's last entry for ``env_name`` as a one-element list when it has a literal value,
    else empty (``valueFrom`` cannot be known at admission): ``_env_value``."""
    entries = f"variables.agentEnv.filter(e, e.name == {literal(env_name)})"
    last = f"{entries}[size({entries}) - 1]"
    return f"size({entries}) > 0 && has({last}.value) ? [{last}.value] : []"


SHARED |= {
    "serverType": _last_literal(SERVER_TYPE_ENV),
    "capabilitiesValue": _last_literal(CAPABILITIES_ENV),
    "capabilities": (
        "size(variables.capabilitiesValue) == 0 ? []"
        " : variables.capabilitiesValue[0].split(',').map(c, c.trim()).filter(c, c != '')"
    ),
    "serverName": (
        f"{literal(SERVER_NAME_LABEL)} in variables.labels"
        f" ? variables.labels[{literal(SERVER_NAME_LABEL)}] : ''"
    ),
}


def _requests(patterns: list[str]) -> str:
    """Some container requests or limits a resource matching ``patterns`` in a non-zero quantity."""
    zero = literal(ZERO_QUANTITY)
    per_kind = [
        f"(has(c.resources.{kind}) && c.resources.{kind}.exists(k, {matches_any_glob('k', patterns)}"
        f" && !string(c.resources.{kind}[k]).matches({zero})))"
        for kind in ("requests", "limits")
    ]
    return f"variables.containers.exists(c, has(c.resources) && ({' || '.join(per_kind)}))"


def policy_matches(policy: CompiledPolicy) -> str:
    """``policy.match`` in CEL: every criterion of ``compile_match``, ANDed."""
    match, tests = policy.policy.match, []
    if match.namespaces:
        tests.append(matches_any_glob("request.namespace", match.namespaces))
    if match.needs_seldon_server:
        tests.append(f"{literal(SERVER_NAME_LABEL)} in variables.labels")
    if match.servers:
        tests.append(matches_any_glob("variables.serverName", match.servers))
    if match.server_types is not None:
        tests.append(f"variables.serverType.exists(v, v in {literal_list(match.server_types)})")
    if match.capabilities is not None:
        tests.append(f"{literal_list(match.capabilities)}.all(w, w in variables.capabilities)")
    if match.resources:
        tests.append(_requests(match.resources))
    if match.pod_selector is not None:
        tests.append(label_selector("variables.labels", match.pod_selector.model_dump(by_alias=True)))
    if match.namespace_selector is not None:
        selector = match.namespace_selector.model_dump(by_alias=True)
        tests.append(label_selector("variables.namespaceLabels", selector))
    return " && ".join(tests) if tests else "true"
