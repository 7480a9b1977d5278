"""Hostile and broken requests: each gets a 4xx with a message (or a closed connection where HTTP
cannot answer), memory stays bounded, and the next request is served. Broken bodies go to the app
in this process (``api``); what is sent over the wire (sizes, slowness, headers, connections) goes
to the real server over TLS (``server``)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import BUNDLED_POLICIES, admission_review, fixture, minimal_pod
from tests.server_helpers import (
    Client,
    InProcessServer,
    RunningServer,
    in_process_server,
    open_tls,
    read_until_closed,
    rss_kib,
    running_server,
)

MAX_CONNECTIONS = 40
LIMITS = {
    "PLACEMENT_WEBHOOK_BODY_TIMEOUT": "1",
    "PLACEMENT_WEBHOOK_HEADER_TIMEOUT": "1",
    "PLACEMENT_WEBHOOK_KEEP_ALIVE_TIMEOUT": "3",
    "PLACEMENT_WEBHOOK_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
}
GOOD = admission_review(fixture("triton-gpu-0"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("hostile"), policies=BUNDLED_POLICIES, env=LIMITS) as running:
        yield running


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """The same app as ``server``'s, in this process."""
    options = {"body_timeout": 1, "header_timeout": 1, "max_connections": MAX_CONNECTIONS}  # as LIMITS
    with in_process_server(tmp_path_factory.mktemp("api"), policies=BUNDLED_POLICIES, **options) as app:
        yield app


def assert_still_serving(server: RunningServer) -> None:
    """A fresh connection gets the right answer: the GPU Pod is patched by gpu-servers."""
    with server.connect() as fresh:
        response = fresh.review(GOOD)["response"]
    assert response["auditAnnotations"] == {"policy": "gpu-servers", "outcome": "patched"}


def assert_one_line_4xx(status: int, text: bytes, expected_status: int, message: str) -> None:
    assert status == expected_status, (status, text)
    assert message in text.decode() and text.decode().count("\n") == 1, text


def post(client: Client, body: bytes) -> tuple[int, bytes]:
    return client.call("POST", "/mutate?timeout=10s", body)


# --- wrong types everywhere in the envelope --------------------------------------------------------

MODELED = [
    ("apiVersion",),
    ("kind",),
    ("request",),
    ("request", "uid"),
    ("request", "kind"),
    ("request", "kind", "kind"),
    ("request", "kind", "version"),
    ("request", "kind", "group"),
    ("request", "operation"),
    ("request", "namespace"),
    ("request", "name"),
    ("request", "subResource"),
    ("request", "dryRun"),
    ("request", "object"),
]
IGNORED = [("request", "userInfo"), ("request", "resource"), ("request", "oldObject"), ("request", "options")]
WRONG = [None, 7, 1.5, [], ["x"], {"a": "b"}]


def _replaced(path: tuple[str, ...], value: Any) -> bytes:
    body = json.loads(json.dumps(GOOD))
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize("path", MODELED, ids=".".join)
def test_a_wrong_type_in_a_field_we_read_is_a_400(api: InProcessServer, path: tuple[str, ...]) -> None:
    for value in WRONG:
        if path == ("request", "object") and isinstance(value, dict):
            continue  # any JSON object is a (possibly odd) Pod: see test_server's unusual Pods
        status, text = post(api, _replaced(path, value))
        assert status == 400 and text.decode().count("\n") == 1, (path, value, status, text)
    assert api.review(GOOD)["response"]["allowed"] is True


@pytest.mark.parametrize("path", IGNORED, ids=".".join)
def test_a_wrong_type_in_a_field_we_ignore_changes_nothing(
    api: InProcessServer, path: tuple[str, ...]
) -> None:
    expected = api.review(GOOD)
    for value in WRONG:
        status, text = post(api, _replaced(path, value))
        assert status == 200 and json.loads(text) == expected, (path, value)


# --- broken JSON -----------------------------------------------------------------------------------


def test_truncated_json_is_a_400(api: InProcessServer) -> None:
    body = json.dumps(GOOD).encode()
    for cut in range(1, len(body), max(1, len(body) // 40)):
        assert_one_line_4xx(*post(api, body[:cut]), 400, "body is not valid JSON")


@pytest.mark.parametrize(
    "body",
    [
        b'{"apiVersion": "\xff\xfe", "kind": "AdmissionReview"}',  # invalid UTF-8
        b'{"apiVersion": "admission.k8s.io/v1", "kind": "\\ud800"}',  # a lone surrogate
        b'\xef\xbb\xbf{"kind": "AdmissionReview"}',  # a byte order mark
        b'{"kind": "AdmissionReview"} {"kind": "AdmissionReview"}',  # two documents
        b'{"request": {"uid": 1e99999}}',  # a number out of range
    ],
)
def test_invalid_encodings_are_a_400(api: InProcessServer, body: bytes) -> None:
    assert_one_line_4xx(*post(api, body), 400, "body is not valid JSON")


@pytest.mark.parametrize(
    ("before", "after", "key"),
    [
        ('"kind":"AdmissionReview"', '"kind":"AdmissionReview","kind":"AdmissionReview"', "kind"),
        ('"uid":"705ab4f5', '"uid":"other","uid":"705ab4f5', "uid"),
        ('"object":{', '"object":null,"object":{', "object"),
        ('"seldon-server-name":', '"seldon-server-name":"x","seldon-server-name":', "seldon-server-name"),
    ],
)
def test_duplicate_keys_anywhere_are_a_400(api: InProcessServer, before: str, after: str, key: str) -> None:
    body = json.dumps(GOOD, separators=(",", ":"))
    assert before in body
    assert_one_line_4xx(*post(api, body.replace(before, after, 1).encode()), 400, f'repeats the key "{key}"')


def test_unusual_but_unique_json_is_served(api: InProcessServer) -> None:
    expected = api.review(GOOD)
    pretty = json.dumps(GOOD, indent=3, separators=(" , ", " : "))
    assert json.loads(post(api, pretty.encode())[1]) == expected
    escaped = json.dumps(GOOD, ensure_ascii=True).replace(":", "\\u003a").replace("\\u003a ", ": ")
    assert escaped.count("\\u003a") > 0  # colons inside strings, escaped: the exact path
    assert json.loads(post(api, escaped.encode())[1]) == expected


def _with_nesting(depth: int) -> bytes:
    """A review whose Pod carries ``depth`` nested objects under metadata (irrelevant to placement)."""
    pod = minimal_pod()
    pod["metadata"]["deep"] = "PLACEHOLDER"
    deep = '{"x":' * depth + "{}" + "}" * depth
    return json.dumps(admission_review(pod)).replace('"PLACEHOLDER"', deep).encode()


def test_deep_nesting(api: InProcessServer) -> None:
    assert post(api, _with_nesting(200))[0] == 200  # legal and irrelevant to placement
    assert_one_line_4xx(*post(api, _with_nesting(300)), 400, "body is nested deeper than 254 levels")
    assert_one_line_4xx(*post(api, _with_nesting(1100)), 400, "not valid JSON")  # past orjson's 1024
    assert_still_serving_conn(api)


def assert_still_serving_conn(client: Client) -> None:
    assert client.review(GOOD)["response"]["auditAnnotations"]["policy"] == "gpu-servers"


# --- sizes and slowness ------------------------------------------------------------------------------


def trickle(tls: ssl.SSLSocket, data: bytes, *, pause: float) -> None:
    """Send one byte at a time until done or the server closes the connection."""
    for byte in data:
        try:
            tls.sendall(bytes([byte]))
        except OSError:
            return
        time.sleep(pause)


@pytest.mark.slow
def test_a_declared_50_mb_body_is_refused_before_it_is_sent(server: RunningServer) -> None:
    tls = open_tls(server)
    tls.sendall(
        b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 52428800\r\n\r\n"
    )
    reply = read_until_closed(tls)  # the server closes after answering: no 10 s keep-alive wait
    assert reply.startswith(b"HTTP/1.1 413") and reply.endswith(b"is over the 3145728 byte limit\n"), reply
    assert_still_serving(server)


@pytest.mark.slow
def test_a_streamed_50_mb_body_is_cut_off_early(server: RunningServer) -> None:
    tls = open_tls(server)
    tls.sendall(
        b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    sent, chunk = 0, b"10000\r\n" + b"x" * 65536 + b"\r\n"
    try:
        while sent < 50 * 1024 * 1024:
            tls.sendall(chunk)
            sent += 65536
    except (ConnectionError, TimeoutError, OSError):
        pass  # the server answered 413 and cut the connection: the rest is refused
    reply = read_until_closed(tls)  # closed by the server: a timeout here would fail the test
    assert reply == b"" or reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert_still_serving(server)


@pytest.mark.slow
def test_a_body_trickled_past_the_timeout_gets_408(server: RunningServer) -> None:
    body = json.dumps(GOOD).encode()
    tls = open_tls(server)
    tls.sendall(f"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode())
    started = time.monotonic()
    trickle(tls, body[:12], pause=0.2)  # steady progress, but too slow for the 1 s limit
    reply = read_until_closed(tls)
    assert reply.startswith(b"HTTP/1.1 408") and b"not received within 1 s" in reply, reply
    assert time.monotonic() - started < 9  # answered by the body timeout, not the client's patience
    assert_still_serving(server)


@pytest.mark.slow
def test_a_huge_header_gets_431(server: RunningServer) -> None:
    for head in (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(8000)) + b"\r\n",
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ):
        tls = open_tls(server)
        tls.sendall(head)
        reply = read_until_closed(tls)
        assert reply.startswith(b"HTTP/1.1 431") and b"over the 65536 byte limit" in reply, reply[:200]
    assert_still_serving(server)


@pytest.mark.slow
def test_slowloris_headers_get_408_and_the_connection_closed(server: RunningServer) -> None:
    tls = open_tls(server)
    started = time.monotonic()
    trickle(tls, b"POST /mutate HTTP/1.1\r\nHost: x\r\n", pause=0.1)
    reply = read_until_closed(tls)
    assert reply.startswith(b"HTTP/1.1 408") and reply.endswith(b"request headers not received within 1 s\n")
    assert time.monotonic() - started < 9
    assert_still_serving(server)


@pytest.mark.slow
def test_a_new_connection_idles_until_the_keep_alive_timeout_and_is_closed_without_an_answer(
    server: RunningServer,
) -> None:
    """kube-apiserver dials connections it may use only later (kept idle up to 90 s): the head's
    deadline starts with the first byte, and an idle new connection is closed silently (no
    unsolicited 408) after the keep-alive timeout, as between requests."""
    silent = open_tls(server)
    started = time.monotonic()
    assert read_until_closed(silent) == b""  # never sent a byte: no answer at all
    assert 2.5 < time.monotonic() - started < 9  # the keep-alive timeout (3 s), not the header one (1 s)
    late = open_tls(server)
    time.sleep(2)  # idle past the header timeout, then a whole request: answered
    late.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert read_until_closed(late).startswith(b"HTTP/1.1 200")
    assert_still_serving(server)


@pytest.mark.slow
def test_too_many_connections_get_503_until_the_idle_ones_are_cut(server: RunningServer) -> None:
    idle = [open_tls(server) for _ in range(MAX_CONNECTIONS)]
    with server.connect() as extra:
        status, text = extra.call("GET", "/healthz")
    assert (status, text) == (503, b"Service Unavailable")
    for tls in idle:  # the keep-alive timeout frees every slot, without an answer
        assert read_until_closed(tls) == b""
    server.wait_for(lambda: _healthz_status(server) == 200)
    assert_still_serving(server)


def _healthz_status(server: RunningServer) -> int:
    with server.connect() as conn:
        return conn.call("GET", "/healthz")[0]


@pytest.mark.slow
def test_memory_stays_bounded_under_a_barrage(server: RunningServer) -> None:
    """Repeat the costly attacks concurrently; the server's RSS must not grow by their size."""
    assert_still_serving(server)
    before = rss_kib(server.process)
    threads = [threading.Thread(target=_attack, args=(server,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_still_serving(server)
    grown = rss_kib(server.process) - before
    assert grown < 40 * 1024, f"RSS grew by {grown} KiB after ~120 MB of hostile input"


def _attack(server: RunningServer) -> None:
    for _ in range(2):
        tls = open_tls(server)
        tls.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        read_until_closed(tls)
        tls = open_tls(server)
        tls.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(150):  # up to ~10 MB each
                tls.sendall(b"10000\r\n" + b"x" * 65536 + b"\r\n")
        except OSError:
            pass
        read_until_closed(tls)
