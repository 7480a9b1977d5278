"""``POST /validate``: the guard's answers, its metrics and log lines, and the same protocol rules as
``/mutate``; the app ``serve`` builds, called in this process (test_tls_contract.py checks that the
real HTTPS server answers alike)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import jsonpatch
import pytest

from tests.helpers import ROOT, admission_review, fixture
from tests.server_helpers import InProcessServer, in_process_server

RESERVED = ROOT / "examples" / "reserved-gpu-pool.yaml"
ACCESS = (
    "to run on the GPU pool, deploy a Seldon Server that requests nvidia.com/gpu, or ask the platform team"
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    with in_process_server(tmp_path_factory.mktemp("validate"), policies=RESERVED) as app:
        yield app


def validate(api: InProcessServer, review: dict[str, Any]) -> dict[str, Any]:
    status, body = api.call("POST", "/validate?timeout=10s", json.dumps(review).encode())
    assert status == 200, (status, body)
    return json.loads(body)["response"]  # type: ignore[no-any-return]


def web_pod(*tolerations: dict[str, Any], name: str = "web-1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"containers": [{"name": "web", "image": "nginx"}], "tolerations": list(tolerations)},
    }


def test_a_pod_tolerating_the_reserved_taint_is_denied(api: InProcessServer) -> None:
    response = validate(api, admission_review(web_pod({"operator": "Exists"}), namespace="team-a"))
    assert response == {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "allowed": False,
        "status": {
            "code": 403,
            "message": "placement-webhook: Pod team-a/web-1 tolerates the reserved taint seldon-gpu-srv:NoSchedule"
            " (toleration *), but no enforce policy places it there and no allow rule admits it; " + ACCESS,
        },
        "auditAnnotations": {"guard": "denied", "taints": "seldon-gpu-srv:NoSchedule"},
    }


def test_the_gpu_server_mutate_placed_is_allowed(api: InProcessServer) -> None:
    pod = fixture("triton-gpu-0")
    patch = json.loads(base64.b64decode(api.review(admission_review(pod))["response"]["patch"]))
    response = validate(api, admission_review(jsonpatch.apply_patch(pod, patch)))
    assert response == {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "allowed": True,
        "auditAnnotations": {"guard": "allowed", "taints": "seldon-gpu-srv:NoSchedule"},
    }


def test_an_update_adding_the_toleration_is_denied_an_unchanged_one_allowed(api: InProcessServer) -> None:
    old, new = web_pod(), web_pod({"key": "seldon-gpu-srv", "operator": "Exists"})
    added = validate(api, admission_review(new, operation="UPDATE", oldObject=old, namespace="team-a"))
    assert added["allowed"] is False
    assert added["status"]["message"].startswith(
        "placement-webhook: Pod team-a/web-1 is updated to tolerate the reserved taint"
    )
    same = validate(api, admission_review(new, operation="UPDATE", oldObject=new, namespace="team-a"))
    assert same["allowed"] is True


@pytest.mark.parametrize(
    ("method", "body", "status", "text"),
    [
        ("GET", b"", 405, b"method not allowed: use POST\n"),
        (
            "POST",
            b"not json",
            400,
            b"body is not valid JSON: invalid literal, expected 'null': line 1 column 1 (char 0)\n",
        ),
        (
            "POST",
            json.dumps(admission_review(web_pod(), operation="UPDATE")).encode(),
            400,
            b"request.oldObject: a Pod UPDATE must carry the old Pod object\n",
        ),
        (
            "POST",
            b'{"a": 1, "a": 2}',
            400,
            b'body repeats the key "a" in one object; its meaning is ambiguous\n',
        ),
        (
            "POST",
            b"x" * (3 * 1024 * 1024 + 1),
            413,
            b"request body of 3145729 bytes is over the 3145728 byte limit\n",
        ),
    ],
)
def test_the_same_protocol_rules_as_mutate(
    api: InProcessServer, method: str, body: bytes, status: int, text: bytes
) -> None:
    assert api.call(method, "/validate", body) == (status, text)


def test_metrics_and_log_lines_name_outcome_and_taint(api: InProcessServer) -> None:
    validate(
        api,
        admission_review(
            web_pod({"operator": "Exists"}, name="metrics-1"), uid="guard-log-uid", namespace="team-a"
        ),
    )
    validate(api, admission_review(web_pod(name="metrics-2"), namespace="team-a"))
    validate(api, admission_review(web_pod(), operation="DELETE"))
    metrics = api.call("GET", "/metrics")[1].decode()
    counts = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("placement_webhook_guard_decisions_total{")
    }
    assert (
        counts['placement_webhook_guard_decisions_total{outcome="denied",taint="seldon-gpu-srv:NoSchedule"}']
        >= 1
    )
    assert counts['placement_webhook_guard_decisions_total{outcome="untouched",taint=""}'] >= 1
    assert counts['placement_webhook_guard_decisions_total{outcome="skipped",taint=""}'] >= 1
    api.wait_for(lambda: any(line.get("uid") == "guard-log-uid" for line in api.logs()))
    (line,) = [entry for entry in api.logs() if entry.get("uid") == "guard-log-uid"]
    assert isinstance(line.pop("duration_ms"), float) and line.pop("time")
    assert line == {
        "level": "info",
        "logger": "placement_webhook.admission",
        "msg": "validation",
        "uid": "guard-log-uid",
        "namespace": "team-a",
        "pod": "metrics-1",
        "operation": "CREATE",
        "outcome": "denied",
        "taints": ["seldon-gpu-srv:NoSchedule"],
        "refused": ["seldon-gpu-srv:NoSchedule"],
        "decidedBy": {"seldon-gpu-srv:NoSchedule": "refused"},
        "dry_run": False,
    }
