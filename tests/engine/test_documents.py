"""Reading AdmissionReviews for the offline commands, and ``review`` answering exactly as the server.

``review`` is in webhook/cli/review.py; its answers are pinned here against ``decide``, the
function the server calls, for requests the webhook does not mutate (issue 17).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers import BUNDLED_POLICIES, admission_review, bundled_policies, fixture, mutate
from webhook.cli.files import read_subjects
from webhook.cli.main import main

UID = "705ab4f5-6393-11e8-b7cc-42010a800002"

NOT_POD_CREATE = [
    pytest.param({"operation": "UPDATE", "oldObject": "pod"}, "operation UPDATE", id="update"),
    pytest.param(
        {"operation": "DELETE", "object": None, "oldObject": "pod"}, "operation DELETE", id="delete"
    ),
    pytest.param({"operation": "CONNECT", "subResource": "exec"}, "operation CONNECT", id="connect"),
    pytest.param(
        {"kind": {"group": "apps", "version": "v1", "kind": "Deployment"}},
        "kind apps/v1 Deployment",
        id="another kind",
    ),
    pytest.param({"subResource": "ephemeralcontainers"}, "subresource ephemeralcontainers", id="subresource"),
    pytest.param(
        {"kind": {"group": "", "version": "v1", "kind": "Binding"}, "subResource": "binding"},
        "kind v1 Binding",
        id="binding",
    ),
]


def review_file(tmp_path: Path, request: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    pod = fixture("triton-gpu-0")
    overrides = {k: (pod if v == "pod" else v) for k, v in request.items()}
    body = admission_review(pod, **overrides)
    path = tmp_path / "review.json"
    path.write_text(json.dumps(body))
    return path, body


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main([*argv, "--policies", str(BUNDLED_POLICIES)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(("request_override", "why"), NOT_POD_CREATE)
def test_review_answers_a_request_that_is_not_a_pod_create_as_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], request_override: dict[str, Any], why: str
) -> None:
    path, body = review_file(tmp_path, request_override)
    server = mutate(body, policies=bundled_policies()).answer
    assert server["response"] == {"uid": UID, "allowed": True}

    code, out = run(capsys, "review", str(path), "-o", "review")
    assert code == 0 and out == orjson.dumps(server, option=orjson.OPT_INDENT_2).decode() + "\n"
    assert run(capsys, "review", str(path), "-o", "patch") == (0, "[]\n")
    assert json.loads(run(capsys, "review", str(path), "-o", "request")[1]) == body

    code, out = run(capsys, "review", str(path))
    kind = body["request"]["kind"]["kind"]
    policies_line, *lines = out.splitlines()
    assert policies_line.startswith("policies: ") and policies_line.endswith(", 3 policies")
    assert code == 0 and lines == [
        f"{kind} seldon-mesh/triton-gpu-0",
        f"  outcome: skipped (not a Pod CREATE: {why}; the webhook only mutates Pod CREATE)",
    ]


def test_review_of_a_pod_create_review_is_the_servers_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, body = review_file(tmp_path, {"uid": "abc", "userInfo": {"username": "someone"}})
    server = mutate(body, policies=bundled_policies()).answer
    code, out = run(capsys, "review", str(path), "-o", "review")
    assert code == 0 and out == orjson.dumps(server, option=orjson.OPT_INDENT_2).decode() + "\n"
    assert server["response"]["uid"] == "abc" and server["response"]["patchType"] == "JSONPatch"
    assert json.loads(run(capsys, "review", str(path), "-o", "request")[1]) == body


def test_a_delete_review_is_read_with_its_old_object(tmp_path: Path) -> None:
    path, body = review_file(tmp_path, {"operation": "DELETE", "object": None, "oldObject": "pod"})
    (subject,) = read_subjects(str(path))
    assert subject.pod == fixture("triton-gpu-0") and subject.namespace == "seldon-mesh"
    assert subject.admission_review() == body
