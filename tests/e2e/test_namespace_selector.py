"""match.namespaceSelector in the real control plane: the server's namespace cache lists and
watches Namespaces with the chart's RBAC for its own ServiceAccount (a TokenRequest token, as the
Pod mounts it), Pods are placed by their namespace's labels and follow a relabel, the RBAC is
exactly enough, and with the API server unreachable the documented behaviour holds: a filled cache
answers (stale), a namespace it never saw gets no answer (502, so failurePolicy Fail refuses the
Pod), and a cache never filled keeps /readyz at 503."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.deploy import chart
from tests.e2e import install
from tests.e2e.conftest import Cluster
from tests.e2e.controlplane import Api, ApiError, wait_for, write_kubeconfig
from tests.e2e.helpers import POLICY_ANNOTATION
from tests.e2e.kube import create_namespace
from tests.e2e.relay import Relay
from webhook.cluster.client import load_api_client
from webhook.cluster.namespaces import NamespaceCache

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SA = "system:serviceaccount:placement-webhook:placement-webhook"
POLICIES = """\
version: 1
policies:
- name: nlp-team
  match:
    namespaceSelector: {matchLabels: {team: nlp}}
  placement:
    tolerations: [{key: seldon-gpu-srv, operator: Equal, value: "true", effect: NoSchedule}]
    nodeSelector: {pool: infer-srv}
- name: everyone-else
  placement:
    nodeSelector: {pool: general}
"""


@dataclass
class NamespaceWebhook:
    webhook: install.Webhook
    relay: Relay
    api: Api

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        """Create a Seldon-labelled server Pod in ``namespace``; the Pod as stored."""
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"seldon-server-name": "srv"}},
            "spec": {"containers": [{"name": "agent", "image": "registry.invalid/agent:1"}]},
        }
        return dict(self.api.create(f"/api/v1/namespaces/{namespace}/pods", pod))

    def placed_by(self, namespace: str) -> str | None:
        """The policy a dry-run Pod in ``namespace`` gets (nothing is stored)."""
        pod = {
            "metadata": {"name": "probe", "labels": {"seldon-server-name": "srv"}},
            "spec": {"containers": [{"name": "agent", "image": "registry.invalid/agent:1"}]},
        }
        created = self.api.create(f"/api/v1/namespaces/{namespace}/pods", pod, dryRun="All")
        return (created["metadata"].get("annotations") or {}).get(POLICY_ANNOTATION)

    def metrics(self) -> str:
        return self.webhook.get("/metrics").text


def namespace_rbac() -> list[dict[str, Any]]:
    """The chart's Namespace RBAC for the server, rendered with namespaceSelector.enabled."""
    objects = chart.template({"namespaceSelector": {"enabled": True}})
    return [o for o in objects if o["metadata"]["name"] == "placement-webhook-namespaces"]


@pytest.fixture(scope="module")
def served(cluster: Cluster) -> Iterator[NamespaceWebhook]:
    """Our server with the namespace policies, reaching the API server through the relay."""
    plane, session = cluster.plane, cluster.webhook
    rbac = namespace_rbac()
    assert [o["kind"] for o in rbac] == ["ClusterRole", "ClusterRoleBinding"]
    plane.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(rbac))
    relay = Relay(session.netns.host, ("127.0.0.1", plane.api_port))
    token = plane.kubectl(
        "create", "token", "placement-webhook", "-n", install.NS, "--duration=1h"
    ).stdout.strip()
    kubeconfig = write_kubeconfig(
        plane.run_dir / "server-namespaces.kubeconfig",
        f"https://{relay.address[0]}:{relay.address[1]}",
        plane.pki.ca,
        token=token,
    )
    config = json.loads(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["tls-server-name"] = "127.0.0.1"  # the API server's certificate
    kubeconfig.write_text(json.dumps(config))
    policies = plane.run_dir / "namespace-policies" / "policies.yaml"
    policies.parent.mkdir()
    policies.write_text(POLICIES)
    env = {"KUBECONFIG": str(kubeconfig), "PLACEMENT_WEBHOOK_NAMESPACE_LOOKUP_TIMEOUT": "1"}
    ours = install.Webhook(
        plane, session.netns, session.cert_dir, policies, env=env, log_name="webhook-namespaces"
    )
    for name, labels in (("team-nlp", {"team": "nlp"}), ("team-cv", {"team": "cv"})):
        create_namespace(plane.api, name, labels)
    session.stop()
    try:
        yield NamespaceWebhook(ours, relay, plane.api)
    finally:
        ours.stop()
        relay.close()
        plane.kubectl("delete", "-f", "-", stdin=yaml.safe_dump_all(rbac))
        for name in ("team-nlp", "team-cv", "team-new"):
            plane.api.delete(f"/api/v1/namespaces/{name}")
        session.start()


def test_not_ready_until_the_first_list_of_namespaces(served: NamespaceWebhook) -> None:
    served.relay.cut()  # the API server unreachable from the start: the cache is never filled
    served.webhook.start(wait_ready=False)

    def not_ready() -> dict[str, Any] | None:
        response = served.webhook.get("/readyz")
        return {"status": response.status_code, **response.json()}

    assert wait_for("/readyz to answer", not_ready, 30) == {
        "status": 503,
        "ready": False,
        "problems": ["namespace cache: first list of namespaces not complete"],
        "policies": 2,
        "reservations": 0,
        "generation": 1,
        "lastReloadError": None,
    }
    served.relay.restore()
    wait_for("/readyz 200 after the first list", lambda: served.webhook.get("/readyz").status_code == 200, 30)
    assert "placement_webhook_namespace_cache_size" in served.metrics()


def test_pods_are_placed_by_their_namespace_labels_and_follow_a_relabel(served: NamespaceWebhook) -> None:
    nlp, cv = served.pod("team-nlp", "srv-0"), served.pod("team-cv", "srv-0")
    assert (nlp["metadata"]["annotations"][POLICY_ANNOTATION], nlp["spec"]["nodeSelector"]) == (
        "nlp-team",
        {"pool": "infer-srv"},
    )
    assert nlp["spec"]["tolerations"][-1] == {
        "key": "seldon-gpu-srv",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    }
    assert (cv["metadata"]["annotations"][POLICY_ANNOTATION], cv["spec"]["nodeSelector"]) == (
        "everyone-else",
        {"pool": "general"},
    )
    # relabel while the server runs: the watch brings the change, the next Pod follows it
    served.api.merge("/api/v1/namespaces/team-cv", {"metadata": {"labels": {"team": "nlp"}}})
    wait_for("the relabel to reach the cache", lambda: served.placed_by("team-cv") == "nlp-team", 20)
    relabelled = served.pod("team-cv", "srv-1")
    assert (relabelled["metadata"]["annotations"][POLICY_ANNOTATION], relabelled["spec"]["nodeSelector"]) == (
        "nlp-team",
        {"pool": "infer-srv"},
    )
    served.api.merge("/api/v1/namespaces/team-cv", {"metadata": {"labels": {"team": None}}})  # label removed
    wait_for("the removal to reach the cache", lambda: served.placed_by("team-cv") == "everyone-else", 20)
    assert "placement_webhook_namespace_cache_size " in served.metrics()


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("list", "namespaces", True),
        ("watch", "namespaces", True),
        ("get", "namespaces/team-nlp", True),
        ("create", "namespaces", False),
        ("update", "namespaces/team-nlp", False),
        ("patch", "namespaces/team-nlp", False),
        ("delete", "namespaces/team-nlp", False),
        ("watch", "pods", False),
        ("list", "pods", False),
        ("watch", "secrets", False),
        ("get", "secrets", False),
        ("watch", "configmaps", False),
        # the guard's Node cache (guard.nodeName): read-only
        ("list", "nodes", True),
        ("watch", "nodes", True),
        ("get", "nodes/gpu-a100-1", True),
        ("patch", "nodes/gpu-a100-1", False),
        ("delete", "nodes/gpu-a100-1", False),
        # the native guard (guard.native): patch its two policies, by name; nothing else
        ("patch", "validatingadmissionpolicies/placement-webhook-guard", True),
        ("patch", "validatingadmissionpolicies/placement-webhook-guard-audit", True),
        ("delete", "validatingadmissionpolicies/placement-webhook-guard", False),
        ("patch", "validatingadmissionpolicies/other", False),
        ("create", "validatingadmissionpolicies", False),
        ("list", "validatingadmissionpolicies", False),
        ("patch", "validatingadmissionpolicybindings/placement-webhook-guard", False),
        ("create", "validatingadmissionpolicybindings", False),
        ("patch", "validatingwebhookconfigurations/placement-webhook", False),
    ],
)
def test_the_servers_rbac_is_exactly_enough(
    served: NamespaceWebhook, cluster: Cluster, verb: str, resource: str, allowed: bool
) -> None:
    result = cluster.plane.kubectl(
        "auth", "can-i", verb, resource, f"--as={SA}", "--all-namespaces", check=False
    )
    assert result.stdout.strip() == ("yes" if allowed else "no"), result.stderr


def test_its_token_lists_namespaces_and_nothing_else(served: NamespaceWebhook, cluster: Cluster) -> None:
    token = cluster.plane.kubectl("create", "token", "placement-webhook", "-n", install.NS).stdout.strip()
    as_server = Api(cluster.plane.server, cluster.plane.pki.ca, token=token)
    try:
        assert {"team-nlp", "team-cv"} <= {
            n["metadata"]["name"] for n in as_server.items("/api/v1/namespaces")
        }
        for path in (
            "/api/v1/pods",
            "/api/v1/secrets",
            "/api/v1/configmaps",
            f"/api/v1/namespaces/{install.NS}/secrets/placement-webhook-tls",
        ):
            with pytest.raises(ApiError) as refused:
                as_server.get(path)
            assert refused.value.code == 403, path
    finally:
        as_server.close()


def counter(metrics: str, line_start: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(line_start))


def test_with_the_api_server_unreachable(served: NamespaceWebhook) -> None:
    before = served.metrics()
    served.relay.cut()
    # the watch loses its connection and restarts (its reconnects hang in the partition)
    wait_for(
        "a watch restart",
        lambda: (
            counter(served.metrics(), "placement_webhook_namespace_watch_restarts_total")
            > counter(before, "placement_webhook_namespace_watch_restarts_total")
        ),
        20,
    )
    # 1. a filled cache keeps answering (possibly stale): still ready, Pods still placed
    assert served.webhook.get("/readyz").status_code == 200
    assert served.pod("team-nlp", "during-outage")["metadata"]["annotations"][POLICY_ANNOTATION] == "nlp-team"
    # 2. a namespace created during the outage: not in the cache, the direct GET times out (1 s),
    #    the labels are unknown, the webhook answers 502 and failurePolicy Fail refuses the Pod
    create_namespace(served.api, "team-new", {"team": "nlp"})
    started = time.monotonic()
    with pytest.raises(ApiError) as refused:
        served.pod("team-new", "srv-0")
    assert time.monotonic() - started < 5  # within the webhook's timeoutSeconds
    message = str(refused.value)
    assert refused.value.code == 500 and 'failed calling webhook "pods.placement-webhook.io"' in message, (
        message
    )
    assert (
        "an error on the server (\"labels of namespace 'team-new' are unknown and policy nlp-team matches"
        ' on namespaceSelector; not deciding") has prevented the request from succeeding'
    ) in message, message
    metrics = served.metrics()
    assert counter(metrics, 'placement_webhook_namespace_cache_misses_total{result="error"}') >= 1
    assert counter(metrics, "placement_webhook_undecided_total") >= 1
    # 3. the API server reachable again: the watch resumes, the new namespace arrives, Pods are placed
    served.relay.restore()
    wait_for("the new namespace in the cache", lambda: served.placed_by("team-new") == "nlp-team", 40)
    assert served.pod("team-new", "srv-0")["spec"]["nodeSelector"] == {"pool": "infer-srv"}


def test_review_cluster_reads_the_labels_from_the_api_server(
    served: NamespaceWebhook, cluster: Cluster
) -> None:
    policies = served.webhook.policies
    pod = cluster.plane.run_dir / "bare-pod.yaml"
    pod.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "srv-0", "labels": {"seldon-server-name": "srv"}},
                "spec": {"containers": [{"name": "agent", "image": "a:1"}]},
            }
        )
    )
    env = {"KUBECONFIG": str(cluster.plane.admin_kubeconfig)}
    result = install.cli(
        "review", str(pod), "-n", "team-nlp", "--cluster", "--policies", str(policies), env=env
    )
    assert result.returncode == 0, result.stderr
    assert (
        "  namespace labels: kubernetes.io/metadata.name=team-nlp, team=nlp\n  match:  nlp-team\n"
        in result.stdout
    )
    result = install.cli(
        "review", str(pod), "-n", "no-such-namespace", "--cluster", "--policies", str(policies), env=env
    )
    assert result.returncode == 2
    assert "labels of namespace 'no-such-namespace' are unknown" in result.stderr


def in_process_cache(cluster: Cluster, **options: Any) -> NamespaceCache:
    return NamespaceCache(load_api_client(str(cluster.plane.admin_kubeconfig)), **options)


def test_watches_end_and_resume_and_the_periodic_relist_drops_what_no_event_removed(
    served: NamespaceWebhook, cluster: Cluster
) -> None:
    """Watches of 1 s that the API server ends, each resumed; a relist every 4 s replaces the
    state, so an entry no event will ever remove (here: planted) does not outlive it."""
    cache = in_process_cache(cluster, relist_interval=4, watch_seconds=1)
    cache.start()
    try:
        wait_for("the first list", lambda: cache.ready, 20)
        cache.state.remember({"metadata": {"name": "planted", "labels": {}}})
        create_namespace(served.api, "team-late", {"team": "late"})
        wait_for("the watch to bring the new namespace", lambda: cache.labels("team-late") is not None, 20)
        wait_for("a periodic relist", lambda: cache.labels("planted") is None, 30)
        assert cache.stats.restarts == 0  # watches the server ended on time are no failures
        assert cache.labels("team-late") == {"team": "late", "kubernetes.io/metadata.name": "team-late"}
    finally:
        cache.stop()
        served.api.delete("/api/v1/namespaces/team-late")


def test_a_reload_without_namespace_permission_is_refused_and_the_replica_stays_ready(
    served: NamespaceWebhook, cluster: Cluster
) -> None:
    """A server whose ServiceAccount may not list Namespaces (the chart without
    namespaceSelector.enabled) is given a valid file that newly uses namespaceSelector: the reload
    is refused with the 403 and the chart value, the last good file keeps serving, /readyz stays
    200 (before, it turned 503 on every replica and failurePolicy Fail refused every Pod)."""
    plane, session = cluster.plane, cluster.webhook
    token = plane.kubectl("create", "token", "default", "-n", install.NS, "--duration=1h").stdout.strip()
    kubeconfig = write_kubeconfig(
        plane.run_dir / "server-no-rbac.kubeconfig",
        f"https://{served.relay.address[0]}:{served.relay.address[1]}",
        plane.pki.ca,
        token=token,
    )
    config = json.loads(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["tls-server-name"] = "127.0.0.1"
    kubeconfig.write_text(json.dumps(config))
    policies = plane.run_dir / "no-rbac-policies" / "policies.yaml"
    policies.parent.mkdir()
    policies.write_text(
        "version: 1\npolicies:\n- name: everyone\n  placement: {nodeSelector: {pool: general}}\n"
    )
    webhook = install.Webhook(
        plane, session.netns, session.cert_dir, policies, env={"KUBECONFIG": str(kubeconfig)},
        log_name="webhook-no-rbac", port=9444,
    )  # fmt: skip
    webhook.start()
    try:
        policies.write_text(POLICIES)

        def refused() -> dict[str, Any] | None:
            response = webhook.get("/readyz")
            body = {"status": response.status_code, **response.json()}
            # on a loaded machine the first wait can end before the LIST's 403 arrives ("not
            # complete after 10 s", also a refusal); the retried check then names the 403
            return body if "403 Forbidden" in (body.get("lastReloadError") or "") else None

        body = wait_for("the reload to be refused for the 403", refused, 60)
        assert (body["status"], body["ready"], body["generation"], body["policies"]) == (200, True, 1, 1)
        assert "valid, but cannot be served" in body["lastReloadError"]
        assert "403 Forbidden" in body["lastReloadError"]
        assert "namespaceSelector.enabled=true" in body["lastReloadError"]
        metrics = webhook.get("/metrics").text
        assert counter(metrics, 'placement_webhook_policy_reloads_total{result="failure"}') == 1
    finally:
        webhook.stop()
