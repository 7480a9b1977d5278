"""The real server over verified TLS answers exactly what the app answers in this process.

Most server tests call the app ``serve`` builds, in this process (``in_process_server``: no socket,
no TLS, no uvicorn); the tests that need sockets or the process keep the real server. Here the same
requests go to both, the real one as the API server sends them (a fresh verified TLS connection
each), and the answers must be equal: status, headers (but ``date``, which uvicorn adds) and body,
byte for byte; and both expose the same metric series afterwards.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import jsonpatch
import pytest

from tests.helpers import ROOT, admission_review, fixture, minimal_pod, mutate
from tests.server_helpers import InProcessServer, RunningServer, in_process_server, running_server
from webhook.policy.loading import load_policies

pytestmark = pytest.mark.slow

#: gpu-servers (for /mutate) and a reservation of its taint (for /validate)
RESERVED = ROOT / "examples" / "reserved-gpu-pool.yaml"

Answer = tuple[int, list[tuple[str, str]], bytes]


def _placed_gpu_pod() -> dict[str, Any]:
    """The GPU server Pod as /mutate places it (the guard must allow it)."""
    pod = fixture("triton-gpu-0")
    answer = mutate(admission_review(pod), policies=load_policies(RESERVED)).answer
    patch = json.loads(base64.b64decode(answer["response"]["patch"]))
    return jsonpatch.apply_patch(pod, patch)  # type: ignore[no-any-return]


def _tolerating(*tolerations: dict[str, Any]) -> dict[str, Any]:
    pod = minimal_pod()
    pod["spec"]["tolerations"] = list(tolerations)
    return pod


def _body(review: dict[str, Any]) -> bytes:
    return json.dumps(review).encode()


def _odd_pod() -> dict[str, Any]:
    pod = fixture("triton-gpu-0")
    pod["spec"]["tolerations"] = "not-a-list"
    return pod


RESERVED_TOLERATION = {"key": "seldon-gpu-srv", "operator": "Exists"}
REQUESTS: list[tuple[str, str, str, bytes | None]] = [
    ("mutate patched", "POST", "/mutate?timeout=10s", _body(admission_review(fixture("triton-gpu-0")))),
    ("mutate dry run", "POST", "/mutate", _body(admission_review(fixture("triton-gpu-0"), dryRun=True))),
    ("mutate untouched", "POST", "/mutate", _body(admission_review(fixture("mlserver-0")))),
    ("mutate warned", "POST", "/mutate", _body(admission_review(_odd_pod()))),
    ("mutate update skipped", "POST", "/mutate",
     _body(admission_review(minimal_pod(), operation="UPDATE", oldObject=minimal_pod()))),
    ("mutate not json", "POST", "/mutate", b"not json"),
    ("mutate empty", "POST", "/mutate", b""),
    ("mutate not a review", "POST", "/mutate", b'{"kind": "Pod"}'),
    ("mutate repeated key", "POST", "/mutate", b'{"a": 1, "a": 2}'),
    ("mutate too deep", "POST", "/mutate", b'{"a":' * 255 + b"1" + b"}" * 255),
    ("mutate too large", "POST", "/mutate", b"x" * (3 * 1024 * 1024 + 1)),
    ("mutate by GET", "GET", "/mutate", None),
    ("validate denied", "POST", "/validate?timeout=10s",
     _body(admission_review(_tolerating(RESERVED_TOLERATION), namespace="team-a"))),
    ("validate allowed", "POST", "/validate", _body(admission_review(_placed_gpu_pod()))),
    ("validate update denied", "POST", "/validate",
     _body(admission_review(_tolerating(RESERVED_TOLERATION), operation="UPDATE", oldObject=minimal_pod()))),
    ("validate delete skipped", "POST", "/validate", _body(admission_review(minimal_pod(), operation="DELETE"))),
    ("validate update without old", "POST", "/validate", _body(admission_review(minimal_pod(), operation="UPDATE"))),
    ("validate by GET", "GET", "/validate", None),
    ("healthz", "GET", "/healthz", None),
    ("readyz", "GET", "/readyz", None),
    ("healthz by PUT", "PUT", "/healthz", b"{}"),
    ("unknown path", "POST", "/review", b"{}"),
]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("contract"), policies=RESERVED) as running:
        yield running


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    with in_process_server(tmp_path_factory.mktemp("contract-api"), policies=RESERVED) as app:
        yield app


def _headers(pairs: Any) -> list[tuple[str, str]]:
    """Lower-case names, no ``date``; Starlette's ``allow`` lists a set's methods, in an order that
    changes with each process's string hashing, so its methods are sorted."""
    headers = []
    for name, value in pairs:
        if name.lower() == "allow":
            value = ", ".join(sorted(value.split(", ")))
        if name.lower() != "date":
            headers.append((name.lower(), value))
    return sorted(headers)


def over_tls(server: RunningServer, method: str, path: str, body: bytes | None) -> Answer:
    with server.connect() as conn:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, _headers(response.getheaders()), response.read()


def in_process(api: InProcessServer, method: str, path: str, body: bytes | None) -> Answer:
    response = api.request(method, path, body)
    return response.status_code, _headers(response.headers.multi_items()), response.content


@pytest.mark.parametrize(("method", "path", "body"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS])
def test_the_real_server_answers_as_the_app_in_process(
    server: RunningServer, api: InProcessServer, method: str, path: str, body: bytes | None
) -> None:
    expected = in_process(api, method, path, body)
    assert over_tls(server, method, path, body) == expected
    assert expected[0] != 500


def test_both_expose_the_same_metric_series(server: RunningServer, api: InProcessServer) -> None:
    """After the same requests (this module's, on each worker), the same series: names and labels."""
    for _, method, path, body in REQUESTS[:4] + REQUESTS[12:16]:
        assert over_tls(server, method, path, body) == in_process(api, method, path, body)

    def series(text: bytes) -> set[str]:
        return {line.rsplit(" ", 1)[0] for line in text.decode().splitlines() if not line.startswith("#")}

    (status, headers, real), (our_status, our_headers, ours) = (
        over_tls(server, "GET", "/metrics", None),
        in_process(api, "GET", "/metrics", None),
    )
    assert status == our_status == 200
    content_type = [value for name, value in headers if name == "content-type"]
    assert content_type == [value for name, value in our_headers if name == "content-type"]
    assert series(real) == series(ours)
    assert 'placement_webhook_admissions_total{outcome="patched",policy="gpu-servers"}' in series(ours)
