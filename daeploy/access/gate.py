"""The gate: the one place tokens are reviewed, for the ingress and for services alike.

- ``GET /ingress/<namespace>``: Traefik forwardAuth (or nginx auth-url) asks before forwarding a
  request for a service of ``<namespace>``; the original method and path come as headers
  (daeploy.access.forwarded). 200 lets it through; 400, 401, 403 or 503 go back to the caller.
- ``POST /review`` with ``{"namespace", "service", "action"}``: a service's own app asks about a
  request that reached it without the ingress (pod to pod).
- ``GET /healthz``.

A bare ASGI app, not FastAPI: it sits on the path of every request through the ingress, and a
cached verdict is answered without a thread or a framework. Cache misses ask the API server in
a worker thread. Every refusal is JSON that says what is missing, never the token.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
from starlette.types import Receive, Scope, Send

from daeploy.access.actions import Action, Request
from daeploy.access.bearer import token_audiences
from daeploy.access.decision import ALLOWED, UNAUTHENTICATED, Decision, decision_body
from daeploy.access.forwarded import NotARoute, original_request, target
from daeploy.access.kube import KubeApi
from daeploy.access.reviewer import Reviewer
from daeploy.contract import (
    GATE_AUDIENCES_ENV,
    GATE_CACHE_SECONDS_ENV,
    GATE_INGRESS_PATH,
    GATE_PORT_ENV,
    GATE_REVIEW_PATH,
    TOKEN_AUDIENCE,
)
from daeploy.identity import env_float, env_int
from daeploy.pod_api import pod_api

logger = logging.getLogger("daeploy.access.gate")

DEFAULT_CACHE_SECONDS = 5.0
DEFAULT_PORT = 8480
HEALTH_PATH = "/healthz"
MAX_REVIEW_BODY = 4096
_NAMESPACE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")

Headers = dict[str, list[str]]


def _headers(scope: Scope) -> Headers:
    headers: Headers = {}
    for raw_name, raw_value in scope.get("headers") or ():
        headers.setdefault(raw_name.decode("latin-1").lower(), []).append(
            raw_value.decode("latin-1")
        )
    return headers


def _body(status: int, content: Mapping[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = [(b"content-type", b"application/json")]
    if status == UNAUTHENTICATED:
        headers.append((b"www-authenticate", b'Bearer realm="daeploy"'))
    return status, headers, json.dumps(content).encode()


class Gate:
    """The ASGI app; ``reviewer`` decides, this turns requests into its questions."""

    def __init__(self, reviewer: Reviewer) -> None:
        self.reviewer = reviewer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        status, headers, body = await self._answer(scope, receive)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        path: str = scope["path"]
        if path == HEALTH_PATH:
            return _body(200, {"status": "ok"})
        headers = _headers(scope)
        if path.startswith(GATE_INGRESS_PATH + "/"):
            namespace = path[len(GATE_INGRESS_PATH) + 1 :]
            if not namespace or not set(namespace) <= _NAMESPACE_CHARS:
                return _body(404, {"status": 404, "reason": "no such namespace"})
            try:
                method, uri = original_request(headers)
                wanted = target(method, uri)
            except NotARoute as refused:
                return _body(400, {"allowed": False, "status": 400, "reason": str(refused)})
            request = Request(namespace, wanted.service, wanted.action)
        elif path == GATE_REVIEW_PATH and scope["method"] == "POST":
            try:
                request = _review_request(await _read(receive))
            except ValueError as refused:
                return _body(400, {"allowed": False, "status": 400, "reason": str(refused)})
        else:
            return _body(404, {"status": 404, "reason": "not found"})
        decision = await self.decide(headers.get("authorization"), request)
        return _body(decision.status, decision_body(decision, request))

    async def decide(self, authorization: list[str] | None, request: Request) -> Decision:
        known = self.reviewer.known(authorization, request)
        if known is not None:
            return known
        return await anyio.to_thread.run_sync(self.reviewer.review, authorization, request)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_REVIEW_BODY:
            raise ValueError(f"the review request is longer than {MAX_REVIEW_BODY} bytes")
        if not message.get("more_body"):
            return body


_ACTIONS = {"invoke": Action.INVOKE, "parameters": Action.PARAMETERS}


def _review_request(body: bytes) -> Request:
    try:
        asked = json.loads(body)
    except ValueError:
        raise ValueError("the review request is not JSON") from None
    if not isinstance(asked, dict):
        raise ValueError('send {"namespace": ..., "service": ..., "action": "invoke"}')
    namespace, service, action = (asked.get(k) for k in ("namespace", "service", "action"))
    if not isinstance(namespace, str) or not namespace or not set(namespace) <= _NAMESPACE_CHARS:
        raise ValueError("namespace: give the service's namespace")
    if not isinstance(service, str) or not service:
        raise ValueError("service: give the service name")
    if action not in _ACTIONS:
        raise ValueError(f"action: one of {', '.join(_ACTIONS)}")
    return Request(namespace, service, _ACTIONS[action])


def audiences_from_env(env: Mapping[str, str], api_audiences: list[str]) -> list[str]:
    """Ours (TOKEN_AUDIENCE and any the chart adds), then the API server's own."""
    extra = [a.strip() for a in env.get(GATE_AUDIENCES_ENV, "").split(",") if a.strip()]
    return list(dict.fromkeys([TOKEN_AUDIENCE, *extra, *api_audiences]))


def gate_in_pod(env: Mapping[str, str] | None = None) -> Gate:
    """The gate as its Deployment runs it: reviews as the pod's ServiceAccount."""
    env = os.environ if env is None else env
    api = pod_api()
    audiences = audiences_from_env(env, token_audiences(api.read_token()))
    ttl = env_float(GATE_CACHE_SECONDS_ENV, DEFAULT_CACHE_SECONDS, env=env, minimum=0)
    logger.info("accepting token audiences %s; decisions kept %ss", audiences, ttl)
    reviewer = Reviewer(
        KubeApi(api.url, api.read_token, api.verify), audiences, ttl, service_audiences=True
    )
    return Gate(reviewer)


def main() -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # httptools and uvloop: about half of h11's and asyncio's time per request (measured).
    port = env_int(GATE_PORT_ENV, DEFAULT_PORT, minimum=1, maximum=65535)
    uvicorn.run(
        gate_in_pod(),
        host="0.0.0.0",
        port=port,
        http="httptools",
        loop="uvloop",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()


__all__ = ["ALLOWED", "Gate", "decision_body", "gate_in_pod", "main"]
