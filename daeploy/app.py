"""The ASGI side: one FastAPI app that answers wherever the ingress sends it.

The ingress forwards ``/services/<name>/...`` and ``/services/<name>_<version>/...`` without
rewriting the path, so no ingress controller needs a rewrite rule. ``PrefixMiddleware`` moves a
known prefix into ``root_path`` (the ASGI way to say "mounted here"): routing ignores it, and
FastAPI's docs page asks for ``<root_path>/openapi.json``, so ``/services/<name>/docs`` works.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from daeploy.calls import ServiceCallError
from daeploy.contract import LIVE_PATH, READY_PATH


class PrefixMiddleware:
    """Serve the app at ``/`` and under each prefix, by extending ``root_path``.

    ``prefixes`` is called per request (it is cheap and cached by the caller), so the identity
    may be read after the app was built. Longer prefixes must come first.
    """

    def __init__(self, app: ASGIApp, prefixes: Callable[[], Sequence[str]]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            root_path: str = scope.get("root_path", "")
            path: str = scope["path"]
            # ASGI: ``path`` includes ``root_path``; look for our prefix right after it.
            route_path = path[len(root_path) :] if path.startswith(root_path) else path
            for prefix in self.prefixes():
                if route_path == prefix or route_path.startswith(prefix + "/"):
                    scope = dict(scope, root_path=root_path + prefix)
                    break
        await self.app(scope, receive, send)


class Health:
    """Liveness and readiness: ready between lifespan start and the start of shutdown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = False
        self._stopping = False

    def started(self) -> None:
        with self._lock:
            self._started = True

    def stopping(self) -> None:
        with self._lock:
            self._stopping = True

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._started and not self._stopping


def add_health_routes(app: FastAPI, health: Health) -> None:
    @app.get(LIVE_PATH, include_in_schema=False)
    def live() -> dict[str, str]:
        return {"status": "alive"}

    @app.get(READY_PATH, include_in_schema=False)
    def ready() -> JSONResponse:
        if health.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready"}, status_code=503)


def add_index_route(app: FastAPI, identity: Callable[[], Any]) -> None:
    """``GET /`` (so ``/services/<name>/`` too) says what this is and where its docs are."""

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> dict[str, Any]:
        me = identity()
        root = request.scope.get("root_path", "").rstrip("/")
        return {
            "service": me.name,
            "version": me.version,
            "docs": f"{root}/docs",
            "openapi": f"{root}/openapi.json",
        }


def service_call_error_response(error: ServiceCallError) -> JSONResponse:
    """A failed call to another service answers 502/503/504 with the callee's detail."""
    content: dict[str, Any] = {
        "detail": str(error),
        "service": error.service,
        "version": error.version,
        "entrypoint": error.entrypoint,
        "callee_status_code": error.status_code,
        "callee_detail": error.detail,
    }
    return JSONResponse(content, status_code=error.gateway_status)


def add_error_handlers(app: FastAPI) -> None:
    async def handle(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ServiceCallError)
        return service_call_error_response(error)

    app.add_exception_handler(ServiceCallError, handle)
