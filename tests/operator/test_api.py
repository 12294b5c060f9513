"""The API door over real HTTP: server-side apply requests, reads, errors.

A small HTTP server on 127.0.0.1 plays the API server and records what it receives.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from daeploy.contract import API_GROUP_VERSION, FIELD_MANAGER, KIND, PLURAL
from daeploy_operator.api import ApiError, ApiServer


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApiServer:
    """Answers from ``routes[(method, path)] = (status, body)``; 404 otherwise."""

    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)


@pytest.fixture
def fake() -> Iterator[tuple[FakeApiServer, str]]:
    state = FakeApiServer()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            state.requests.append(
                Recorded(
                    self.command,
                    url.path,
                    parse_qs(url.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
            )
            status, body = state.routes.get(
                (self.command, url.path), (404, {"kind": "Status", "message": "not found"})
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_DELETE = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _api(url: str) -> ApiServer:
    configuration = client.Configuration()
    configuration.host = url
    configuration.api_key = {"authorization": "Bearer t0ken"}
    return ApiServer(client.ApiClient(configuration))


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "die-roller-v1", "namespace": "demo"},
    "spec": {"replicas": 1},
}


def test_apply_is_a_forced_server_side_apply_by_one_field_manager(fake: Any) -> None:
    state, url = fake
    path = "/apis/apps/v1/namespaces/demo/deployments/die-roller-v1"
    state.routes[("PATCH", path)] = (200, {**DEPLOYMENT, "status": {}})
    result = _api(url).apply(DEPLOYMENT)
    [request] = state.requests
    assert (request.method, request.path) == ("PATCH", path)
    assert request.query == {"fieldManager": [FIELD_MANAGER], "force": ["true"]}
    assert request.headers["content-type"] == "application/apply-patch+yaml"
    assert request.headers["authorization"] == "Bearer t0ken"
    assert request.body == DEPLOYMENT
    assert result["metadata"]["name"] == "die-roller-v1"


def test_apply_status_sends_only_identity_and_status(fake: Any) -> None:
    state, url = fake
    path = f"/apis/{API_GROUP_VERSION}/namespaces/demo/{PLURAL}/x/status"
    state.routes[("PATCH", path)] = (200, {})
    reference = {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": {"name": "x", "namespace": "demo", "uid": "u"},
    }
    _api(url).apply_status(reference, {"phase": "running"})
    [request] = state.requests
    assert request.path == path
    assert request.body == {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": {"name": "x", "namespace": "demo"},
        "status": {"phase": "running"},
    }


def test_reads(fake: Any) -> None:
    state, url = fake
    state.routes[("GET", "/api/v1/namespaces/demo/services")] = (
        200,
        {"items": [{"metadata": {"name": "die-roller"}}]},
    )
    state.routes[("GET", "/api/v1/namespaces/demo")] = (200, {"metadata": {"name": "demo"}})
    api = _api(url)
    [service] = api.list("v1", "Service", "demo", {"b": "2", "a": "1"})
    assert service == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "die-roller"}}
    assert state.requests[0].query == {"labelSelector": ["a=1,b=2"]}
    assert api.get("v1", "Namespace", None, "demo") == {"metadata": {"name": "demo"}}
    assert api.get("v1", "Service", "demo", "missing") is None
    assert api.delete("networking.k8s.io/v1", "Ingress", "demo", "gone") is False
    assert state.requests[-1].path == "/apis/networking.k8s.io/v1/namespaces/demo/ingresses/gone"


def test_create_posts_to_the_collection(fake: Any) -> None:
    state, url = fake
    state.routes[("POST", "/api/v1/namespaces/demo/events")] = (201, {"metadata": {"name": "e1"}})
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "x.", "namespace": "demo"},
    }
    assert _api(url).create(event) == {"metadata": {"name": "e1"}}
    [request] = state.requests
    assert request.headers["content-type"] == "application/json"
    assert request.body == event


def test_list_across_namespaces(fake: Any) -> None:
    state, url = fake
    state.routes[("GET", "/apis/networking.k8s.io/v1/ingresses")] = (200, {"items": []})
    assert _api(url).list("networking.k8s.io/v1", "Ingress", None) == []


def test_refusals_carry_the_api_servers_message(fake: Any) -> None:
    state, url = fake
    path = "/apis/apps/v1/namespaces/demo/deployments/die-roller-v1"
    state.routes[("PATCH", path)] = (422, {"kind": "Status", "message": "spec.replicas: Invalid"})
    with pytest.raises(ApiError, match=r"spec\.replicas: Invalid") as caught:
        _api(url).apply(DEPLOYMENT)
    assert caught.value.status == 422


def test_unreachable_api_server_is_an_api_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    configuration.retries = False
    api = ApiServer(client.ApiClient(configuration))
    with pytest.raises(ApiError) as caught:
        api.get("v1", "Service", "demo", "x")
    assert caught.value.status == 0
