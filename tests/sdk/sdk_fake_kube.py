"""A stand-in for the Kubernetes API's core/v1 events endpoints, on 127.0.0.1.

It follows the API server's rules that ``notify`` depends on: create answers 409 AlreadyExists
for a taken name; a JSON merge patch answers the whole object, 404 for a missing one, and 409
Conflict when the patch carries a resourceVersion that is no longer current. Every request needs
the bearer token.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_EVENTS = re.compile(r"^/api/v1/namespaces/([a-z0-9-]+)/events(?:/([^/]+))?$")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class FakeEventsAPI:
    def __init__(self, token: str = "secret-token") -> None:
        self.token = token
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.hang = False
        self.lock = threading.Lock()
        self._versions = itertools.count(100)
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                api.handle(self, "POST")

            def do_PATCH(self) -> None:
                api.handle(self, "PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def put(self, event: dict[str, Any]) -> None:
        """Store an Event as if an earlier process had created it."""
        with self.lock:
            event = merge_patch(event, {"metadata": {"resourceVersion": str(next(self._versions))}})
            meta = event["metadata"]
            self.events[(meta["namespace"], meta["name"])] = event

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("content-length") or 0)
        body = json.loads(request.rfile.read(length) or b"null")
        with self.lock:
            self.requests.append((method, request.path))
        if self.hang:
            time.sleep(30)
            return
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self.answer(request, 401, status("Unauthorized", 401, "no valid token"))
        match = _EVENTS.match(request.path)
        if not match:
            return self.answer(request, 404, status("NotFound", 404, "no such path"))
        namespace, name = match.groups()
        with self.lock:
            if method == "POST" and name is None:
                code, answer = self.create(namespace, body)
            elif method == "PATCH" and name is not None:
                if request.headers.get("content-type") != "application/merge-patch+json":
                    code, answer = 415, status("UnsupportedMediaType", 415, "use merge patch")
                else:
                    code, answer = self.patch(namespace, name, body)
            else:
                code, answer = 405, status("MethodNotAllowed", 405, method)
        self.answer(request, code, answer)

    def create(self, namespace: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = event["metadata"]["name"]
        if event["metadata"].get("namespace", namespace) != namespace:
            return 400, status("BadRequest", 400, "namespace does not match the path")
        if (namespace, name) in self.events:
            return 409, status("AlreadyExists", 409, f'events "{name}" already exists')
        stored = merge_patch(
            event, {"metadata": {"resourceVersion": str(next(self._versions)), "uid": name}}
        )
        self.events[(namespace, name)] = stored
        return 201, stored

    def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> tuple[int, Any]:
        current = self.events.get((namespace, name))
        if current is None:
            return 404, status("NotFound", 404, f'events "{name}" not found')
        wanted = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            return 409, status("Conflict", 409, "the object has been modified")
        updated = merge_patch(current, patch)
        updated["metadata"]["resourceVersion"] = str(next(self._versions))
        self.events[(namespace, name)] = updated
        return 200, updated

    @staticmethod
    def answer(request: BaseHTTPRequestHandler, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        request.send_response(code)
        request.send_header("content-type", "application/json")
        request.send_header("content-length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def status(reason: str, code: int, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "status": "Failure",
        "reason": reason,
        "code": code,
        "message": message,
    }
