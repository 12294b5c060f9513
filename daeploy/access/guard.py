"""The service's own check: a request that did not come through the ingress is checked too.

Pod to pod, nothing stands between a caller and the service's port but this middleware. It asks
the gate (``POST /review``) about the caller's token and remembers the answer as briefly as the
gate does, so a warm call costs a hash and a dict lookup. Requests through the ingress were
checked by the gate already and hit the same cache here.

A caller that keeps calling never waits for the gate once its answer is known: in the last fifth
of an answer's TTL the next request asks the gate again in the background and is served the
answer held, which is still within its TTL (a revoked right is refused no later than before).

Open without a token: ``/~health/*`` (the kubelet has none) and, for a service with
``spec.public``, everything but parameter writes. When the operator set no gate URL, access
control is off and this middleware is not installed (see daeploy._service).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from daeploy.access.actions import Action, Request
from daeploy.access.bearer import bearer_token
from daeploy.access.cache import Key, TtlCache, known_decision
from daeploy.access.decision import UNAUTHENTICATED, UNAVAILABLE, Decision, decision_body
from daeploy.access.forwarded import action_for
from daeploy.contract import GATE_REVIEW_PATH, HEALTH_PREFIX

logger = logging.getLogger("daeploy.access")

DEFAULT_TTL = 5.0
GATE_TIMEOUT = 5.0
GATE_UNREACHABLE = "access could not be checked right now: try again"


@dataclass(frozen=True)
class GuardSettings:
    gate_url: str
    namespace: str
    service: str
    public: bool


class AccessGuard:
    """ASGI middleware; ``settings`` is called once, on the first request (the environment is
    read after the app was built)."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Callable[[], GuardSettings | None],
        ttl: float = DEFAULT_TTL,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.app = app
        self._settings_factory = settings
        self._settings: GuardSettings | None = None
        self._loaded = False
        self.cache: TtlCache[Decision] = TtlCache(ttl)
        self.refresh_margin = ttl / 5
        self._refreshing: set[Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _load(self) -> GuardSettings | None:
        if not self._loaded:
            self._settings = self._settings_factory()
            self._loaded = True
        return self._settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self._load() if scope["type"] in ("http", "websocket") else None
        if settings is None:
            await self.app(scope, receive, send)
            return
        root_path: str = scope.get("root_path", "")
        path: str = scope["path"]
        route_path = path[len(root_path) :] if path.startswith(root_path) else path
        if route_path.startswith(HEALTH_PREFIX):
            await self.app(scope, receive, send)
            return
        action = action_for(scope.get("method", "GET"), route_path)
        if settings.public and action is Action.INVOKE:
            await self.app(scope, receive, send)
            return
        request = Request(settings.namespace, settings.service, action)
        authorization = [
            v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"authorization"
        ]
        decision = await self.decide(settings, authorization, request)
        if decision.allowed:
            await self.app(scope, receive, send)
            return
        await _refuse(scope, receive, send, decision, request)

    async def decide(
        self, settings: GuardSettings, authorization: list[str], request: Request
    ) -> Decision:
        known, key = known_decision(self.cache, authorization, request)
        if known is not None:
            if (
                key is not None
                and key not in self._refreshing
                and self.cache.expires_within(key, self.refresh_margin)
            ):
                self._refreshing.add(key)
                task = asyncio.get_running_loop().create_task(
                    self._refresh(settings, bearer_token(authorization), request, key)
                )
                self._tasks.add(task)  # held until done: the loop keeps only weak references
                task.add_done_callback(self._tasks.discard)
            return known
        assert key is not None  # known_decision gives one or the other
        decision = await self._ask_gate(settings, bearer_token(authorization), request)
        if decision.cacheable:
            self.cache.put(key, decision)
        return decision

    async def _refresh(
        self, settings: GuardSettings, token: str, request: Request, key: Key
    ) -> None:
        try:
            decision = await self._ask_gate(settings, token, request)
            if decision.cacheable:
                self.cache.put(key, decision)
        finally:
            self._refreshing.discard(key)

    async def _ask_gate(self, settings: GuardSettings, token: str, request: Request) -> Decision:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=settings.gate_url.rstrip("/"),
                timeout=GATE_TIMEOUT,
                trust_env=False,
                transport=self._transport,
            )
        try:
            response = await self._client.post(
                GATE_REVIEW_PATH,
                json={
                    "namespace": request.namespace,
                    "service": request.service,
                    "action": request.action.name.lower(),
                },
                headers={"authorization": f"Bearer {token}"},
            )
            answer = response.json()
            return Decision(
                int(answer["status"]), str(answer.get("reason", "")), answer.get("user")
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            logger.warning("the gate at %s did not answer: %s", settings.gate_url, error)
            return Decision(UNAVAILABLE, GATE_UNREACHABLE)


DRAIN_BYTES = 1 << 20
"""A refused request's body is read (up to this much) before the answer goes out."""


async def _drain(receive: Receive) -> None:
    """Read what the caller is still sending: a server that answers and then closes with
    unread bytes in its socket makes the kernel reset the connection, which can cut the
    answer short on its way to the ingress (seen as an incomplete chunked read)."""
    taken = 0
    while taken <= DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        taken += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _refuse(
    scope: Scope, receive: Receive, send: Send, decision: Decision, request: Request
) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await _drain(receive)
    body = json.dumps(decision_body(decision, request)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if decision.status == UNAUTHENTICATED:
        headers.append((b"www-authenticate", b'Bearer realm="daeploy"'))
    await send({"type": "http.response.start", "status": decision.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
