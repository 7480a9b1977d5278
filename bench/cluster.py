"""Pod creates through a real kube-apiserver, with and without us: what the cluster pays.

The chart installed from ``make image``'s image in the e2e control plane (``tests/e2e/imaged.py``:
its defaults, two replicas in network namespaces, called through the Service's EndpointSlice).
Each round creates ``BENCH_CLUSTER_PODS`` GPU server Pods (held from the scheduler by a gate, so
the round measures admission) with 16 concurrent clients, in one of three configurations, rounds
alternating so that drift on the machine spreads over all of them:

- ``none``: no webhook configuration and no admission policy binding of ours;
- ``mutate``: the MutatingWebhookConfiguration only;
- ``shipped``: everything the chart installs (mutating webhook, guard webhooks, native guard);
- ``native``: native mode, no webhook: the chart's policies compiled (``placement-webhook export``:
  the MutatingAdmissionPolicy, the conflict policies) and the native guard, with their bindings;
- ``map-floor``: one MutatingAdmissionPolicy adding one label to the same Pods, nothing else: what
  the API server spends on any MutatingAdmissionPolicy, the floor under ``native``.

Per configuration: creates per second (and the ratio to ``none``), CPU seconds per Pod of the API
server and of our replicas (``/proc``), the API server's own histogram of our webhooks' latency
(``apiserver_admission_webhook_admission_duration_seconds``, p50/p99), and each replica's RSS at
the end. Ratios from one run are the verdict, not absolute numbers.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.controlplane import ControlPlane, find_binaries  # noqa: E402
from tests.e2e.imaged import ImagedCluster, imaged_cluster  # noqa: E402
from tests.e2e.kube import create_namespace  # noqa: E402
from tests.e2e.load import server_pod  # noqa: E402
from webhook.native.placement_policy import compile_placement_policies  # noqa: E402
from webhook.policy.loading import load_policies_text  # noqa: E402

PODS = int(os.environ.get("BENCH_CLUSTER_PODS", "1000"))
ROUNDS = int(os.environ.get("BENCH_CLUSTER_ROUNDS", "3"))
CONCURRENCY = 16
MODES = ("none", "mutate", "shipped", "native", "map-floor")
ADMISSION = "/apis/admissionregistration.k8s.io/v1"
KINDS = {
    "mutatingwebhookconfigurations": ("mutate", "shipped"),
    "validatingwebhookconfigurations": ("shipped",),
    "validatingadmissionpolicybindings": ("shipped", "native"),  # the chart's: the native guard
}
DURATION_METRIC = "apiserver_admission_webhook_admission_duration_seconds"
OUT = ROOT / "bench" / "results"


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _client_seconds() -> float:
    """CPU seconds of this process (the 16 creating clients), which shares the machine too."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _apiserver_pid(plane: ControlPlane) -> int:
    return next(p.popen.pid for p in plane.processes if p.name == "kube-apiserver")


def _replica_pids(cluster: ImagedCluster) -> list[int]:
    return [
        c.process.popen.pid
        for c in cluster.kubelet.containers.values()
        if c.spec["name"] == "webhook" and c.process is not None and c.process.alive()
    ]


def _histogram(plane: ControlPlane) -> dict[str, dict[float, float]]:
    """Cumulative bucket counts of the API server's webhook latency, per webhook name."""
    buckets: dict[str, dict[float, float]] = defaultdict(dict)
    for line in plane.api.http.get("/metrics").text.splitlines():
        if not line.startswith(DURATION_METRIC + "_bucket{"):
            continue
        labels = dict(part.split("=", 1) for part in line[line.index("{") + 1 : line.index("}")].split(","))
        name, le = labels["name"].strip('"'), labels["le"].strip('"')
        bound = float("inf") if le == "+Inf" else float(le)
        buckets[name][bound] = buckets[name].get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def _quantile(counts: dict[float, float], q: float) -> float | None:
    bounds = sorted(counts)
    if not bounds or counts[bounds[-1]] == 0:
        return None
    target = q * counts[bounds[-1]]
    return next(b for b in bounds if counts[b] >= target)


class Switch:
    """Our admission objects, removed and put back between rounds: the chart's webhook
    configurations and guard bindings, the native placement's bindings, the one-op policy's."""

    def __init__(self, cluster: ImagedCluster) -> None:
        self.cluster = cluster
        extra = native_placement(cluster) + one_op_policy()
        for policy in (o for o in extra if not o["kind"].endswith("Binding")):  # bound in their rounds only
            cluster.api.create(f"{ADMISSION}/{policy['kind'].lower()[:-1]}ies", policy)
        self.saved: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
            (kind, o, modes)
            for kind, modes in KINDS.items()
            for o in cluster.objects
            if o["kind"].lower() + "s" == kind
        ]
        for o in extra:
            if o["kind"].endswith("Binding"):
                modes = ("map-floor",) if o["metadata"]["name"] == ONE_OP else ("native",)
                self.saved.append((o["kind"].lower() + "s", o, modes))
        # the caBundle the certs Job patched in, read before a round removes the configurations
        hooks = cluster.api.get(f"{ADMISSION}/mutatingwebhookconfigurations/placement-webhook")
        self.ca_bundle = str(hooks["webhooks"][0]["clientConfig"]["caBundle"])

    def to(self, mode: str) -> None:
        api = self.cluster.api
        for kind, obj, modes in self.saved:
            path = f"{ADMISSION}/{kind}/{obj['metadata']['name']}"
            present = api.maybe(path) is not None
            if mode in modes and not present:
                body = json.loads(json.dumps(obj))
                if kind.endswith("webhookconfigurations"):  # the caBundle the certs Job patched in
                    for hook in body["webhooks"]:
                        hook["clientConfig"]["caBundle"] = self.ca_bundle
                api.create(f"{ADMISSION}/{kind}", body)
            elif mode not in modes and present:
                api.delete(path)
        time.sleep(3)  # the API server's admission informers follow the change


ONE_OP = "bench-one-op"


def one_op_policy() -> list[dict[str, Any]]:
    """A MutatingAdmissionPolicy adding one label to the same Pods: what the API server spends on
    any such policy, whatever its CEL (the floor under native mode's cost)."""
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
    patch = "[JSONPatch{op: 'add', path: '/metadata/labels/bench', value: 'one-op'}]"
    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy", "metadata": {"name": ONE_OP},
         "spec": {"failurePolicy": "Fail", "reinvocationPolicy": "Never", "matchConstraints": {"resourceRules": [rule]},
                  "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": patch}}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding", "metadata": {"name": ONE_OP},
         "spec": {"policyName": ONE_OP, "matchResources": {"objectSelector": {"matchExpressions": [
             {"key": "seldon-server-name", "operator": "Exists"}]}}}},
    ]  # fmt: skip


def native_placement(cluster: ImagedCluster) -> list[dict[str, Any]]:
    """The chart's policy file compiled for native mode, bound like the chart's mode native binds it."""
    config = next(
        o for o in cluster.objects if o["kind"] == "ConfigMap" and "policies.yaml" in o.get("data", {})
    )
    policies = load_policies_text(config["data"]["policies.yaml"])
    return compile_placement_policies(
        policies, excluded_namespaces=["kube-system", "placement-webhook"], name="bench-native"
    )


def create_round(cluster: ImagedCluster, namespace: str) -> float:
    create_namespace(cluster.api, namespace)
    path = f"/api/v1/namespaces/{namespace}/pods"
    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda i: cluster.api.create(path, server_pod(i)), range(PODS)))
    return time.monotonic() - started


def main() -> int:
    binaries = find_binaries()
    if binaries is None:
        print("no control plane: run `make control-plane` (and `make image`)", file=sys.stderr)
        return 1
    rows: dict[str, dict[str, list[float]]] = {m: defaultdict(list) for m in MODES}
    latency: dict[str, dict[str, list[float]]] = {m: defaultdict(list) for m in MODES}
    with imaged_cluster(binaries, {}) as cluster:
        switch = Switch(cluster)
        apiserver = _apiserver_pid(cluster.plane)
        for round_ in range(ROUNDS):
            for mode in MODES if round_ % 2 == 0 else reversed(MODES):
                switch.to(mode)
                replicas = _replica_pids(cluster)
                before = (_ticks(apiserver), sum(_ticks(p) for p in replicas), _histogram(cluster.plane))
                client_before = _client_seconds()
                seconds = create_round(cluster, f"bench-{mode}-{round_}")
                ticks = os.sysconf("SC_CLK_TCK")
                rows[mode]["creates_per_second"].append(PODS / seconds)
                rows[mode]["apiserver_ms_per_pod"].append(
                    (_ticks(apiserver) - before[0]) / ticks / PODS * 1000
                )
                rows[mode]["webhook_ms_per_pod"].append(
                    (sum(_ticks(p) for p in replicas) - before[1]) / ticks / PODS * 1000
                )
                rows[mode]["client_ms_per_pod"].append((_client_seconds() - client_before) / PODS * 1000)
                after = _histogram(cluster.plane)
                for name, counts in after.items():
                    delta = {b: c - before[2].get(name, {}).get(b, 0.0) for b, c in counts.items()}
                    for q in (0.5, 0.99):
                        value = _quantile(delta, q)
                        if value is not None:
                            latency[mode][f"{name} p{int(q * 100)}"].append(value * 1000)
                print(f"round {round_ + 1} {mode:<8} {PODS / seconds:6.1f} creates/s", flush=True)
        rss = [_rss_mb(p) for p in _replica_pids(cluster)]
    summary = summarise(rows, latency, rss)
    OUT.mkdir(exist_ok=True)
    (OUT / "cluster.json").write_text(json.dumps(summary, indent=2))
    print_summary(summary)
    return 0


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def summarise(rows: Any, latency: Any, rss: list[float]) -> dict[str, Any]:
    base = _median(rows["none"]["creates_per_second"])

    def cpu(mode: str, *parts: str) -> float:
        return sum(_median(rows[mode][f"{part}_ms_per_pod"]) for part in parts)

    everything = ("apiserver", "webhook", "client")
    return {
        "pods_per_round": PODS,
        "rounds": ROUNDS,
        "concurrency": CONCURRENCY,
        "load_average_after": os.getloadavg(),
        "modes": {
            mode: {
                **{k: round(_median(v), 2) for k, v in rows[mode].items()},
                "ratio_to_none": round(_median(rows[mode]["creates_per_second"]) / base, 3),
                # with the machine's CPUs saturated, creates/s go as 1 / (CPU per Pod of everything
                # on it): the ratio that predicts, and the ratio were our replicas' CPU zero
                "cpu_predicted_ratio": round(cpu("none", *everything) / cpu(mode, *everything), 3),
                "ratio_if_webhook_free": round(
                    cpu("none", *everything) / cpu(mode, "apiserver", "client"), 3
                ),
                "apiserver_view_ms": {k: round(_median(v), 2) for k, v in sorted(latency[mode].items())},
            }
            for mode in MODES
        },
        "replica_rss_mb": [round(r, 1) for r in rss],
    }


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\nPod creates through kube-apiserver ({summary['pods_per_round']} per round, "
          f"{summary['rounds']} rounds, {summary['concurrency']} concurrent; medians):")  # fmt: skip
    print(f"{'':<10}{'creates/s':>10}{'× none':>8}{'API server ms/Pod':>19}{'webhook ms/Pod':>16}"
          f"{'client ms/Pod':>15}{'× if webhook free':>19}")  # fmt: skip
    for mode, row in summary["modes"].items():
        print(f"{mode:<10}{row['creates_per_second']:>10.1f}{row['ratio_to_none']:>8.2f}"
              f"{row['apiserver_ms_per_pod']:>19.2f}{row['webhook_ms_per_pod']:>16.2f}"
              f"{row['client_ms_per_pod']:>15.2f}{row['ratio_if_webhook_free']:>19.2f}")  # fmt: skip
        for name, value in row["apiserver_view_ms"].items():
            print(f"{'':<9}API server's view of {name}: {value:g} ms")
    print(f"replica RSS after the bench: {summary['replica_rss_mb']} MB")


if __name__ == "__main__":
    sys.exit(main())
