"""A local HTTPS server speaking just enough of the Kubernetes API for ``certs --install``.

GET/POST/PUT on core/v1 Secrets and GET/PATCH (JSON Patch only) on admissionregistration/v1
MutatingWebhookConfigurations, with bearer-token auth, resourceVersion conflicts and Status bodies
as the real API server sends them. The real ``kubernetes`` client talks to it through a kubeconfig.
"""

from __future__ import annotations

import base64
import copy
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

from webhook.cluster.certs import build_ca, build_serving_certificate

TOKEN = "fake-token"
SECRETS = "/api/v1/namespaces/{namespace}/secrets"
WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeApiServer:
    """Objects live in ``objects`` keyed by their URL path; ``calls`` records (method, path)."""

    def __init__(self, tmp_path: Path) -> None:
        self.ca = build_ca(common_name="fake apiserver CA")
        serving = build_serving_certificate(self.ca, ["127.0.0.1"])
        (tmp_path / "api.crt").write_bytes(serving.cert_pem)
        (tmp_path / "api.key").write_bytes(serving.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp_path / "api.crt", tmp_path / "api.key")
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self._version = 0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}"

    def write_kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "fake",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca.cert_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "job", "user": {"token": TOKEN}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "job"}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def store(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._version += 1
            stored = copy.deepcopy(obj)
            stored.setdefault("metadata", {})["resourceVersion"] = str(self._version)
            self.objects[path] = stored
            return stored

    def secret(self, name: str, *, namespace: str) -> dict[str, Any] | None:
        return self.objects.get(f"{SECRETS.format(namespace=namespace)}/{name}")

    def webhook_configuration(self, name: str) -> dict[str, Any] | None:
        return self.objects.get(f"{WEBHOOKS}/{name}")

    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] != "GET"]

    # --- verbs: each returns (status code, body) ------------------------------------------------

    def handle(self, method: str, path: str, body: Any, content_type: str) -> tuple[int, dict[str, Any]]:
        self.calls.append((method, path))
        if method == "GET":
            found = self.objects.get(path)
            return (200, found) if found else (404, _status(404, "NotFound", f"{path} not found"))
        if method == "POST":
            key = f"{path}/{body['metadata']['name']}"
            if key in self.objects:
                return 409, _status(409, "AlreadyExists", f"{key} already exists")
            return 201, self.store(key, body)
        current = self.objects.get(path)
        if current is None:
            return 404, _status(404, "NotFound", f"{path} not found")
        if method == "PUT":
            if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                return 409, _status(409, "Conflict", "the object has been modified")
            return 200, self.store(path, body)
        if content_type != "application/json-patch+json":
            return 415, _status(415, "UnsupportedMediaType", f"unsupported patch type {content_type}")
        try:
            return 200, self.store(path, jsonpatch.apply_patch(current, body))
        except jsonpatch.JsonPatchTestFailed as exc:
            return 409, _status(409, "Conflict", str(exc))


def _handler_for(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                code, answer = 401, _status(401, "Unauthorized", "Unauthorized")
            else:
                path = self.path.split("?")[0]
                code, answer = server.handle(self.command, path, body, self.headers.get("Content-Type", ""))
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = _serve  # noqa: N815 (http.server names)

    return Handler
