"""Server-sent events: a pod's log as it is written, and notifications as they arrive.

Both run as the user (their token on every API call) and end when the browser goes away. A
comment line every few seconds keeps proxies from closing a quiet stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from daeploy_dashboard.settings import Settings
from daeploy_dashboard.userkube import Refused

HEARTBEAT_SECONDS = 10.0
POLL_SECONDS = 2.0
_DONE = object()


def sse(event: str, data: str) -> str:
    """One SSE message; ``data`` may span lines (each becomes a data: line)."""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n"


def line_html(line: str) -> str:
    return f'<div class="logline">{html.escape(line)}</div>'


def _verify(settings: Settings) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=settings.ca_file) if settings.ca_file else True


async def follow_log(
    settings: Settings, token: str, namespace: str, pod: str, container: str
) -> AsyncIterator[str]:
    """New lines of the pod's log (from now on), as they come. Raises Refused first if the
    API server says no."""
    url = f"{settings.api_url}/api/v1/namespaces/{namespace}/pods/{pod}/log"
    params = {"container": container, "follow": "true", "tailLines": "0"}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    timeout = httpx.Timeout(10.0, read=None)
    async with (
        httpx.AsyncClient(verify=_verify(settings), timeout=timeout, trust_env=False) as http,
        http.stream("GET", url, params=params, headers=headers) as response,
    ):
        if response.status_code != 200:
            body = (await response.aread()).decode("utf-8", "replace")
            raise Refused(response.status_code, _message(body))
        async for line in response.aiter_lines():
            yield line


def _message(body: str) -> str:
    try:
        found = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    return str(found.get("message") or body) if isinstance(found, dict) else body


async def with_heartbeat(source: AsyncIterator[str]) -> AsyncIterator[str | None]:
    """``source``'s items, and None whenever it stays quiet for HEARTBEAT_SECONDS."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1000)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put(item)
        except Exception as error:  # handed to the reader, which reports it
            await queue.put(error)
        await queue.put(_DONE)

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield None
                continue
            if item is _DONE:
                return
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def log_events(
    lines: AsyncIterator[str], search: str, disconnected: Callable[[], Awaitable[bool]]
) -> AsyncIterator[str]:
    """The log stream as SSE: matching lines as ``line`` events, refusals as ``problem``."""
    wanted = search.lower()
    yield ": open\n\n"
    try:
        async for line in with_heartbeat(lines):
            if await disconnected():
                return
            if line is None:
                yield ": keep-alive\n\n"
            elif wanted in line.lower():
                yield sse("line", line_html(line))
    except Refused as error:
        yield sse("problem", html.escape(f"{error.status}: {error.message}"))
    except httpx.HTTPError as error:
        yield sse("problem", html.escape(f"the API server stopped the log: {error}"))


async def changes(
    render: Callable[[], Awaitable[tuple[Any, str]]],
    disconnected: Callable[[], Awaitable[bool]],
    poll: float = POLL_SECONDS,
) -> AsyncIterator[str]:
    """Calls ``render`` every ``poll`` seconds; sends its HTML (``update`` events) only when
    its signature changed. A refusal is sent once as ``problem`` and ends the stream."""
    last: Any = None
    quiet = 0.0
    yield ": open\n\n"
    while not await disconnected():
        try:
            signature, fragment = await render()
        except Refused as error:
            yield sse("problem", html.escape(f"{error.status}: {error.message}"))
            return
        if signature != last:
            last = signature
            quiet = 0.0
            yield sse("update", fragment)
        elif quiet >= HEARTBEAT_SECONDS:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(poll)
        quiet += poll
