"""From Model to node: which Seldon Servers can load each ``Model``, and where their Pods land.

Follows the Seldon Core 2 scheduler (SeldonIO/seldon-core ``scheduler/pkg/scheduler``):

- ``filters/sharing.go`` (``SharingServerFilter``): a Model with ``spec.server`` (its *requested
  server*) is only considered for the Server of that name; one without it for every shared Server.
- ``filters/serverrequirements.go`` and ``filters/replicarequirements.go``: a Server can load the
  Model only if *every* entry of ``spec.requirements``, trimmed, equals one of the Server's
  capabilities exactly (case-sensitive string equality, no pattern); otherwise the Model ends
  ``ScheduleFailed`` (``scheduler.go``, ``scheduleToServer``).
- Each namespace with a ``SeldonRuntime`` runs its own scheduler, which knows only the Servers of
  that namespace: a Model is matched against the Servers of its own namespace.

Approximations: every Server counts as shared and as having replicas; memory, replica counts and
the models already loaded (the scheduler's other filters and sorters) are not modelled.

The accelerator check is ours, not Seldon's: the platform team maps a requirement to the extended
resource it stands for (``--accelerator gpu=nvidia.com/gpu``); a Model with that requirement that
can load on a Server whose Pods may land on a node not offering the resource is a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from webhook.kube.objects import RawObject
from webhook.simulation.scheduling import missing_resources, node_name
from webhook.simulation.seldon import Manifests, SeldonModel, SeldonServer
from webhook.simulation.simulate import Simulation


@dataclass(frozen=True)
class Candidate:
    """One Server of the Model's namespace: why it cannot load the Model, else where its Pods land."""

    server: str
    missing: tuple[str, ...]  # requirements it lacks
    reason: str | None  # None when it can load the Model
    nodes: tuple[str, ...] | None  # nodes its Pods fit after the policies; None when they are denied

    @property
    def loads(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class ModelCheck:
    model: SeldonModel
    candidates: list[Candidate]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def missing_requirements(model: SeldonModel, capabilities: frozenset[str]) -> tuple[str, ...]:
    """The Model's requirements the Server lacks: exact string equality (``serverrequirements.go``)."""
    return tuple(r for r in model.requirements if r not in capabilities)


def _candidate(model: SeldonModel, server: SeldonServer, simulation: Simulation | None) -> Candidate:
    missing = missing_requirements(model, server.capabilities)
    if model.server is not None and model.server != server.name:
        reason: str | None = f"not spec.server ({model.server})"
    elif missing:
        reason = f"lacks {', '.join(missing)}"
    else:
        reason = None
    after = simulation.after if simulation is not None else None
    nodes = None if after is None else tuple(f.node for f in after if f.fits)
    return Candidate(server.name, missing, reason, nodes)


def _accelerator_checks(
    model: SeldonModel,
    candidates: list[Candidate],
    *,
    accelerators: dict[str, str],
    nodes: dict[str, RawObject],
) -> tuple[list[str], list[str]]:
    problems, notes = [], []
    for requirement in (r for r in model.requirements if r in accelerators):
        resource = accelerators[requirement]
        for candidate in (c for c in candidates if c.loads and c.nodes):
            checked = {n: missing_resources(nodes[n], [resource]) for n in candidate.nodes or ()}
            lacking = [n for n, missing in checked.items() if missing]
            unknown = [n for n, missing in checked.items() if missing is None]
            if lacking:
                problems.append(
                    f"requires {requirement} ({resource}) but can load on Server {candidate.server}, "
                    f"whose Pods may land on {', '.join(lacking)},"
                    f" which {'offers' if len(lacking) == 1 else 'offer'} no {resource}"
                )
            if unknown:
                notes.append(
                    f"cannot check {resource} on {', '.join(unknown)} (Server {candidate.server}): "
                    "no status.allocatable"
                )
    return problems, notes


def check_model(
    model: SeldonModel,
    servers: list[SeldonServer],
    *,
    simulations: dict[int, Simulation],
    nodes: dict[str, RawObject],
    accelerators: dict[str, str],
) -> ModelCheck:
    """The Servers of the Model's namespace, which of them load it, and the problems."""
    local = [s for s in servers if s.namespace == model.namespace]
    candidates = [_candidate(model, s, simulations.get(id(s.subject))) for s in local]
    problems: list[str] = []
    pinned = next((c for c in candidates if c.server == model.server), None)
    if model.server is not None and pinned is None:
        problems.append(
            f"pinned to Server {model.server} (spec.server), which is not among the inputs "
            f"in namespace {model.namespace}"
        )
    elif pinned is not None and pinned.missing:
        problems.append(
            f"pinned to Server {model.server} (spec.server), which lacks {', '.join(pinned.missing)}"
        )
    elif not any(c.loads for c in candidates):
        problems.append(f"no Server in namespace {model.namespace} can load it (Seldon: ScheduleFailed)")
    more, notes = _accelerator_checks(model, candidates, accelerators=accelerators, nodes=nodes)
    return ModelCheck(model, candidates, problems + more, notes)


def check_models(
    manifests: Manifests,
    simulations: list[Simulation],
    *,
    nodes: list[RawObject],
    accelerators: dict[str, str],
) -> tuple[list[ModelCheck], list[str]]:
    """(one check per Model, notes on Servers no Model loads on or whose own capabilities none needs).

    ``simulations`` are those of ``manifests.subjects``, in order."""
    by_subject = {id(s.subject): s for s in simulations}
    by_name = {node_name(n): n for n in nodes}
    checks = [
        check_model(m, manifests.servers, simulations=by_subject, nodes=by_name, accelerators=accelerators)
        for m in manifests.models
    ]
    notes: list[str] = []
    for server in manifests.servers if manifests.models else []:
        mine = [c for c in checks if c.model.namespace == server.namespace]
        if not any(cand.loads for c in mine for cand in c.candidates if cand.server == server.name):
            notes.append(f"Server {server.namespace}/{server.name}: no Model among the inputs loads on it")
        required = {r for c in mine for r in c.model.requirements}
        unused = [c for c in server.own if c not in required]
        if unused:
            notes.append(
                f"Server {server.namespace}/{server.name}: no Model requires its capability "
                f"{', '.join(unused)}"
            )
    return checks, notes


# --- rendering -------------------------------------------------------------------------------------


def _nodes_cell(candidate: Candidate) -> str:
    if candidate.reason is not None:
        return candidate.reason
    if candidate.nodes is None:
        return "its Pods are denied"
    return ", ".join(candidate.nodes) or "its Pods fit no node"


def render_model(check: ModelCheck) -> list[str]:
    """The readable report of one Model: a row per Server of its namespace."""
    model = check.model
    lines = [f"Model {model.namespace}/{model.name} from {model.source}"]
    lines.append(
        f"  requirements: {', '.join(model.requirements) or 'none'}"
        + (f"; spec.server: {model.server}" if model.server else "")
    )
    rows = [["SERVER", "LOADS", "NODES AFTER THE POLICIES"]] + [
        [c.server, "yes" if c.loads else "no", _nodes_cell(c)] for c in check.candidates
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    lines += [f"  {r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2]}".rstrip() for r in rows]
    lines += [f"  problem: {p}" for p in check.problems]
    lines += [f"  note: {n}" for n in check.notes]
    return lines


def model_json(check: ModelCheck) -> dict[str, Any]:
    """The same facts for scripts; field names are stable."""
    model = check.model
    return {
        "model": f"{model.namespace}/{model.name}",
        "source": model.source,
        "requirements": list(model.requirements),
        "server": model.server,
        "servers": [
            {
                "server": c.server,
                "loads": c.loads,
                "missing": list(c.missing),
                "reason": c.reason,
                "nodes": None if c.nodes is None else list(c.nodes),
            }
            for c in check.candidates
        ],
        "problems": check.problems,
        "notes": check.notes,
    }
