"""A tiny in-memory Kubernetes API server on 127.0.0.1, for CLI tests without a cluster.

It stands in for the external part (the API server, plus a one-line "operator" that writes a
status), so the real kubernetes client, the real HTTP and the real CLI code all run. It
implements only what the CLI calls: DaeployServices, ConfigMaps, Deployments, Pods (and their
logs), Events and Ingresses, with uid, generation, resourceVersion, merge patch, 404 and 409
as the real server has them.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from daeploy.contract import API_GROUP_VERSION, PLURAL, ROUTE_PREFIX

Obj = dict[str, Any]

ROUTES = [
    (
        re.compile(
            rf"^/apis/{re.escape(API_GROUP_VERSION)}/namespaces/([^/]+)/{PLURAL}(?:/([^/]+))?$"
        ),
        PLURAL,
    ),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/configmaps(?:/([^/]+))?$"), "configmaps"),
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments(?:/([^/]+))?$"), "deployments"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/]+))?$"), "pods"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/events(?:/([^/]+))?$"), "events"),
    (re.compile(r"^/apis/networking\.k8s\.io/v1/namespaces/([^/]+)/ingresses(?:/([^/]+))?$"),
     "ingresses"),
]  # fmt: skip
POD_LOG = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/log$")
ALL_INGRESSES = "/apis/networking.k8s.io/v1/ingresses"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def ready_operator(obj: Obj, cluster: FakeCluster) -> None:
    """The default stand-in operator: every version is Ready at once; main is decided by the
    operator's own rule (daeploy_operator.routing: the last claim, else the first deployed)."""
    name = obj["spec"]["name"]
    versions = [o for o in cluster.objects(PLURAL) if o["spec"]["name"] == name]
    claimants = [o for o in versions if o["spec"].get("main")]
    winner = max(claimants, key=lambda o: o["metadata"]["claim"], default=None)
    if winner is None and versions:
        winner = min(versions, key=lambda o: o["metadata"]["creationOrder"])
    for version in versions:
        is_main = version is winner
        version["status"] = {
            "observedGeneration": version["metadata"]["generation"],
            "mainMark": "*" if is_main else "",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Ready",
                    "message": "routed",
                    "lastTransitionTime": "2020-11-24T11:56:18Z",
                    "observedGeneration": version["metadata"]["generation"],
                }
            ],
            "url": f"http://ingress.example{ROUTE_PREFIX}/{name}/{version['spec']['version']}/",
        }


class FakeCluster:
    """State plus the HTTP server; ``operator`` reacts to every DaeployService write."""

    def __init__(self) -> None:
        self.store: dict[str, dict[tuple[str, str], Obj]] = {kind: {} for _, kind in ROUTES}
        self.namespaces = {"default", "demo"}
        self.crd_installed = True
        self.operator: Callable[[Obj, FakeCluster], None] = ready_operator
        self.logs: dict[str, str] = {}
        self.requests: list[tuple[str, str, Any]] = []
        # (code, reason, message) every request gets, as a server refusing everything would.
        self.refusal: tuple[int, str, str] | None = None
        self.lock = threading.Lock()
        self._counter = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def write_kubeconfig(self, path: Path, namespace: str = "demo") -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": "t"}}],
                    "contexts": [
                        {
                            "name": "fake-ctx",
                            "context": {
                                "cluster": "fake",
                                "user": "tester",
                                "namespace": namespace,
                            },
                        }
                    ],
                    "current-context": "fake-ctx",
                }
            )
        )
        return path

    def objects(self, kind: str, namespace: str = "demo") -> list[Obj]:
        return [obj for (ns, _), obj in sorted(self.store[kind].items()) if ns == namespace]

    def get(self, kind: str, name: str, namespace: str = "demo") -> Obj | None:
        return self.store[kind].get((namespace, name))

    def add(self, kind: str, obj: Obj, namespace: str = "demo") -> Obj:
        """Put an object in place as if someone else had created it."""
        with self.lock:
            return self._create(kind, namespace, copy.deepcopy(obj))

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _create(self, kind: str, namespace: str, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        meta.update(
            namespace=namespace,
            uid=str(uuid.uuid4()),
            resourceVersion=str(self._next()),
            generation=1,
            creationTimestamp=now(),
            claim=self._counter,
            creationOrder=self._counter,
        )
        self.store[kind][(namespace, meta["name"])] = obj
        return obj

    def start(self) -> FakeCluster:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # Request handling --------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, body: Any) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append((method, parts.path, body))
            if self.refusal is not None:
                code, reason, message = self.refusal
                return code, _status(code, reason, message, "", "")
            match = POD_LOG.match(parts.path)
            if match:
                return self._log(match.group(2), query)
            if parts.path == ALL_INGRESSES:
                return 200, {"kind": "List", "items": list(self.store["ingresses"].values())}
            for pattern, kind in ROUTES:
                match = pattern.match(parts.path)
                if match:
                    return self._resource(method, kind, match.group(1), match.group(2), body, query)
        return 404, "404 page not found"

    def _log(self, pod: str, query: dict[str, str]) -> tuple[int, Any]:
        text = self.logs.get(pod)
        if text is None:
            return 404, _status(404, "NotFound", f'pods "{pod}" not found', pod, "pods")
        lines = text.splitlines(keepends=True)
        if "tailLines" in query:
            lines = lines[len(lines) - int(query["tailLines"]) :] if int(query["tailLines"]) else []
        return 200, "".join(lines)

    def _resource(
        self, method: str, kind: str, ns: str, name: str | None, body: Any, query: dict[str, str]
    ) -> tuple[int, Any]:
        if kind == PLURAL and not self.crd_installed:
            return 404, "404 page not found"
        items = self.store[kind]
        if name is None and method == "GET":
            found = [obj for (n, _), obj in sorted(items.items()) if n == ns]
            found = [o for o in found if _selected(o, query)]
            return 200, {"kind": "List", "metadata": {}, "items": found}
        if method == "POST":
            if ns not in self.namespaces:
                return 404, _status(
                    404, "NotFound", f'namespaces "{ns}" not found', ns, "namespaces"
                )
            if (ns, body["metadata"]["name"]) in items:
                return 409, _status(
                    409, "AlreadyExists", "already exists", body["metadata"]["name"], kind
                )
            obj = self._create(kind, ns, body)
            self._react(kind, obj)
            return 201, obj
        current = items.get((ns, name or ""))
        if current is None:
            return 404, _status(404, "NotFound", f'{kind} "{name}" not found', name or "", kind)
        if method == "GET":
            return 200, current
        if method == "DELETE":
            del items[(ns, name)]
            uid = current["metadata"]["uid"]
            for key, owned in list(self.store["configmaps"].items()):
                refs = owned["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs):
                    del self.store["configmaps"][key]
            return 200, _status(200, "", "deleted", name or "", kind) | {"status": "Success"}
        if method == "PUT":
            if body["metadata"].get("resourceVersion") not in (
                None,
                current["metadata"]["resourceVersion"],
            ):
                return 409, _status(
                    409, "Conflict", "the object has been modified", name or "", kind
                )
            updated = copy.deepcopy(body)
            updated["status"] = current.get("status")
        elif method == "PATCH":
            updated = merge_patch(current, body)
        else:
            return 405, _status(405, "MethodNotAllowed", method, name or "", kind)
        meta = updated["metadata"]
        for key in ("uid", "creationTimestamp", "namespace", "creationOrder"):
            meta[key] = current["metadata"][key]
        meta["generation"] = current["metadata"]["generation"] + (
            updated.get("spec") != current.get("spec")
        )
        meta["resourceVersion"] = str(self._next())
        became_main = updated.get("spec", {}).get("main") and not current.get("spec", {}).get(
            "main"
        )
        meta["claim"] = self._counter if became_main else current["metadata"]["claim"]
        items[(ns, name)] = updated
        self._react(kind, updated)
        return 200, updated

    def _react(self, kind: str, obj: Obj) -> None:
        if kind == PLURAL:
            self.operator(obj, self)


def _selected(obj: Obj, query: dict[str, str]) -> bool:
    """Equality label and field selectors, the only kinds the CLI sends."""
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, query.get("labelSelector", "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    for term in filter(None, query.get("fieldSelector", "").split(",")):
        key, _, value = term.partition("=")
        current: Any = obj
        for part in key.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if current != value:
            return False
    return True


def _status(code: int, reason: str, message: str, name: str, kind: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"name": name, "kind": kind},
        "code": code,
    }


def _handler_for(cluster: FakeCluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            code, payload = cluster.handle(self.command, self.path, body)
            if isinstance(payload, str):
                data, content_type = payload.encode(), "text/plain; charset=utf-8"
            else:
                data, content_type = json.dumps(payload).encode(), "application/json"
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running() -> Iterator[FakeCluster]:
    cluster = FakeCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()
