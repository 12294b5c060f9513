"""Calling another service's entrypoint by name: where it is, how to reach it, what went wrong.

Where the callee is, first match wins:

1. ``DAEPLOY_SERVICE_URLS``: a JSON object from ``name`` (the main version) or
   ``name_version`` to a base URL, e.g. ``{"die_roller": "http://127.0.0.1:8001"}``; the call
   goes to ``{base}/{entrypoint}``. For local runs and explicit overrides.
2. Inside the cluster (``KUBERNETES_SERVICE_HOST`` and ``DAEPLOY_NAMESPACE`` set):
   ``http://{service_dns_name(name, namespace, version)}/{entrypoint}``, port 80. Without
   ``service_version`` the call follows the name's traffic table (``daeploy.traffic``) like
   the ingress does, so canary and shadow versions see calls between services too: a weighted
   split sends it to the picked version's own Service, and every shadow version gets a copy.
3. ``DAEPLOY_GATEWAY_URL``: a base URL such as the ingress; the call goes to
   ``{base}/services/{name}[_{version}]/{entrypoint}``.

Tuning, all in seconds unless said: ``DAEPLOY_CALL_TIMEOUT`` (answer wait, default 30),
``DAEPLOY_CALL_CONNECT_TIMEOUT`` (default 3), ``DAEPLOY_CALL_RETRIES`` (extra tries when the
connection is refused before anything was sent, default 2).

Connections are pooled (one module-level client per process, one async client per event loop)
so repeated calls reuse keep-alive connections. A request that may have reached the callee is
never retried: only ``httpx.ConnectError`` (nothing was sent) is.

Shadow copies are sent after the call is over, in the background (at most 4 at a time and
1,000 waiting, per process or event loop; more are dropped, as are an async caller's copies
still running when its loop ends): their answers and failures are only logged at DEBUG, so a
broken or slow shadow version can never fail or slow the caller.

A pool is renewed after ``DAEPLOY_CALL_CONNECTION_MAX_AGE`` seconds (default 5): a Service's
ClusterIP only steers new connections, so a connection kept alive forever would keep talking
to the old main version after a switch. The old pool is closed once its calls had time to end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import os
import queue
import random
import re
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from daeploy.contract import (
    CALL_CONNECT_TIMEOUT_ENV,
    CALL_CONNECTION_MAX_AGE_ENV,
    CALL_RETRIES_ENV,
    CALL_TIMEOUT_ENV,
    CALL_TOKEN_FILE_ENV,
    GATEWAY_URL_ENV,
    NAMESPACE_ENV,
    ROUTE_PREFIX,
    SERVICE_URLS_ENV,
)
from daeploy.identity import ConfigurationError, env_float, env_int
from daeploy.names import service_dns_name, validate_service_name, validate_version
from daeploy.traffic import TrafficTable, alookup, choose, lookup

logger = logging.getLogger("daeploy.calls")

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_RETRIES = 2
_RETRY_BACKOFF = 0.1
# Below uvicorn's default keep-alive (5 s), so the client drops an idle connection before the
# server closes it, instead of racing the server's close with a new request.
_KEEPALIVE_EXPIRY = 4.0
_DETAIL_LIMIT = 2000
_ENTRYPOINT_PATTERN = re.compile(r"[A-Za-z0-9_~.-]+(/[A-Za-z0-9_~.-]+)*")
_USER_AGENT = "daeploy-sdk/0.1.0"
SHADOW_WORKERS = 4
SHADOW_QUEUE_LIMIT = 1000
_random = random.Random()


class ServiceCallError(Exception):
    """A call to another service failed; ``detail`` carries the callee's own error detail.

    ``status_code`` is the callee's HTTP status (None when no answer came back);
    ``gateway_status`` is what an entrypoint that let this error through answers with.
    """

    gateway_status = 502

    def __init__(
        self,
        message: str,
        *,
        service: str,
        entrypoint: str,
        version: str | None = None,
        url: str | None = None,
        status_code: int | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message)
        self.service = service
        self.entrypoint = entrypoint
        self.version = version
        self.url = url
        self.status_code = status_code
        self.detail = detail


class ServiceUnreachableError(ServiceCallError):
    """No connection could be made (refused, unknown host, connect timeout, not configured)."""

    gateway_status = 503


class ServiceTimeoutError(ServiceCallError):
    """The callee took the request but did not answer within the timeout."""

    gateway_status = 504


@dataclass(frozen=True)
class CallSettings:
    timeout: httpx.Timeout
    retries: int


@dataclass(frozen=True)
class PreparedCall:
    service: str
    version: str | None
    entrypoint: str
    method: str
    url: str
    request_options: dict[str, Any]
    settings: CallSettings
    namespace: str | None = None
    """Set when the call goes to the name's Service in the cluster: its traffic table applies."""

    def error(self, cls: type[ServiceCallError], message: str, **extra: Any) -> ServiceCallError:
        return cls(
            message,
            service=self.service,
            version=self.version,
            entrypoint=self.entrypoint,
            url=self.url,
            **extra,
        )

    @property
    def label(self) -> str:
        who = self.service if self.version is None else f"{self.service} {self.version}"
        return f"{self.method} {who} /{self.entrypoint} ({self.url})"


@functools.lru_cache(maxsize=8)
def _parse_url_map(raw: str) -> dict[str, str]:
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"{SERVICE_URLS_ENV} is not valid JSON ({error}); set it to an object such as "
            '{"die_roller": "http://127.0.0.1:8001"}'
        ) from None
    if not isinstance(mapping, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in mapping.items()
    ):
        raise ConfigurationError(
            f"{SERVICE_URLS_ENV} must be a JSON object of strings, such as "
            '{"die_roller": "http://127.0.0.1:8001", "die_roller_1.0.0": "http://..."}'
        )
    return {key: value.rstrip("/") for key, value in mapping.items()}


_cached_dns_name = functools.lru_cache(maxsize=256)(service_dns_name)


def cluster_base_url(service_name: str, namespace: str, service_version: str | None) -> str:
    """The Kubernetes Service of a name's main version (no version) or of one version.

    Every in-cluster address is made here, so one function decides where the cluster's calls go
    (and a test can point them at local servers).
    """
    return f"http://{_cached_dns_name(service_name, namespace, service_version)}"


def resolve_url(service_name: str, entrypoint_name: str, service_version: str | None = None) -> str:
    """The URL of one entrypoint of a service (main version if ``service_version`` is None)."""
    return _locate(service_name, entrypoint_name, service_version)[0]


def _locate(
    service_name: str, entrypoint_name: str, service_version: str | None
) -> tuple[str, str | None]:
    """The URL, and the namespace when it is an in-cluster Service."""
    env = os.environ
    namespace = env.get(NAMESPACE_ENV, "")
    url = _resolve(
        service_name,
        entrypoint_name,
        service_version,
        env.get(SERVICE_URLS_ENV, ""),
        env.get("KUBERNETES_SERVICE_HOST", ""),
        namespace,
        env.get(GATEWAY_URL_ENV, ""),
    )
    if url is not None:
        return url, None
    return (
        f"{cluster_base_url(service_name, namespace, service_version)}/{entrypoint_name}",
        namespace,
    )


@functools.lru_cache(maxsize=256)
def _resolve(
    service_name: str,
    entrypoint_name: str,
    service_version: str | None,
    raw_map: str,
    kubernetes_host: str,
    namespace: str,
    gateway: str,
) -> str | None:
    """Cached on everything it reads, so a repeated call skips the validation regexes.

    None means inside the cluster: ``cluster_base_url`` gives the address.
    """
    validate_service_name(service_name)
    if service_version is not None:
        validate_version(service_version)
    if not _ENTRYPOINT_PATTERN.fullmatch(entrypoint_name) or ".." in entrypoint_name.split("/"):
        raise ValueError(
            f"invalid entrypoint_name {entrypoint_name!r}: use the entrypoint function's name, "
            "such as 'roll_die'"
        )
    key = service_name if service_version is None else f"{service_name}_{service_version}"
    if raw_map.strip():
        base = _parse_url_map(raw_map.strip()).get(key)
        if base:
            return f"{base}/{entrypoint_name}"
    if kubernetes_host and namespace:
        return None
    gateway = gateway.strip().rstrip("/")
    if gateway:
        return f"{gateway}{ROUTE_PREFIX}/{key}/{entrypoint_name}"
    raise ServiceUnreachableError(
        f"cannot locate service {key!r}: outside a cluster set {SERVICE_URLS_ENV} "
        f'(e.g. \'{{"{key}": "http://127.0.0.1:8001"}}\') or {GATEWAY_URL_ENV} '
        "(e.g. http://localhost:8080)",
        service=service_name,
        version=service_version,
        entrypoint=entrypoint_name,
    )


@functools.lru_cache(maxsize=8)
def _settings(raw_timeout: str, raw_connect: str, raw_retries: str) -> CallSettings:
    del raw_timeout, raw_connect, raw_retries  # the cache key; values are read below
    read = env_float(CALL_TIMEOUT_ENV, DEFAULT_TIMEOUT, minimum=0.001)
    connect = env_float(CALL_CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT, minimum=0.001)
    retries = env_int(CALL_RETRIES_ENV, DEFAULT_RETRIES, minimum=0, maximum=10)
    return CallSettings(httpx.Timeout(read, connect=connect), retries)


def current_settings(timeout: float | None = None) -> CallSettings:
    env = os.environ
    settings = _settings(
        env.get(CALL_TIMEOUT_ENV, ""),
        env.get(CALL_CONNECT_TIMEOUT_ENV, ""),
        env.get(CALL_RETRIES_ENV, ""),
    )
    if timeout is None:
        return settings
    if timeout <= 0:
        raise ValueError(f"timeout={timeout!r}: give a positive number of seconds")
    connect = min(timeout, settings.timeout.connect or timeout)
    return CallSettings(httpx.Timeout(timeout, connect=connect), settings.retries)


def call_token() -> str | None:
    """The calling pod's own token for other services (audience ``daeploy.io``), if it has one.

    Read on every call: the kubelet rotates the projected file, and reading it costs less than
    the call.
    """
    path = os.environ.get(CALL_TOKEN_FILE_ENV, "").strip()
    if not path:
        return None
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def prepare_call(
    service_name: str,
    entrypoint_name: str,
    arguments: dict[str, Any] | None,
    service_version: str | None,
    entrypoint_method: str,
    timeout: float | None,
    headers: dict[str, str] | None = None,
) -> PreparedCall:
    method = entrypoint_method.upper()
    if arguments is not None and not isinstance(arguments, dict):
        raise TypeError(
            f"arguments must be a dict of argument name to value, got {type(arguments).__name__}"
        )
    options: dict[str, Any] = {}
    if arguments is not None:
        options["params" if method in ("GET", "DELETE", "HEAD") else "json"] = arguments
    sent_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if "authorization" not in sent_headers:
        token = call_token()
        if token:
            sent_headers["authorization"] = f"Bearer {token}"
    if sent_headers:
        options["headers"] = sent_headers
    url, namespace = _locate(service_name, entrypoint_name, service_version)
    return PreparedCall(
        service=service_name,
        version=service_version,
        entrypoint=entrypoint_name,
        method=method,
        url=url,
        request_options=options,
        settings=current_settings(timeout),
        namespace=namespace if service_version is None else None,
    )


def route(call: PreparedCall, table: TrafficTable) -> tuple[PreparedCall, tuple[PreparedCall, ...]]:
    """The call as the traffic table sends it, and the copies its shadow versions get.

    Without a split the call stays on the name's Service, which already reaches the main version.
    """
    if call.namespace is None:
        return call, ()
    if table.splits:
        version = choose(table, _random)
        if version is not None:
            call = _to_version(call, version)
    return call, tuple(_to_version(call, version) for version in table.shadows)


def _to_version(call: PreparedCall, version: str) -> PreparedCall:
    assert call.namespace is not None
    base = cluster_base_url(call.service, call.namespace, version)
    return dataclasses.replace(call, version=version, url=f"{base}/{call.entrypoint}")


def interpret(call: PreparedCall, response: httpx.Response) -> Any:
    """The callee's JSON answer, or a ServiceCallError with its ``detail``."""
    if response.status_code >= 400:
        detail: Any
        try:
            body = response.json()
            detail = body.get("detail", body) if isinstance(body, dict) else body
        except ValueError:
            detail = response.text[:_DETAIL_LIMIT]
        raise call.error(
            ServiceCallError,
            f"{call.label} answered {response.status_code}: {_short(detail)}",
            status_code=response.status_code,
            detail=detail,
        )
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def transport_error(call: PreparedCall, error: httpx.TransportError) -> ServiceCallError:
    reason = str(error) or type(error).__name__
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return call.error(ServiceUnreachableError, f"cannot connect to {call.label}: {reason}")
    if isinstance(error, httpx.TimeoutException):
        seconds = call.settings.timeout.read
        return call.error(
            ServiceTimeoutError, f"{call.label} did not answer within {seconds} s: {reason}"
        )
    return call.error(ServiceCallError, f"{call.label} failed: {reason}")


def _short(detail: Any) -> str:
    text = detail if isinstance(detail, str) else json.dumps(detail, default=str)
    return text if len(text) <= 300 else text[:297] + "..."


_client_lock = threading.Lock()
_client: httpx.Client | None = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)
_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=32, keepalive_expiry=_KEEPALIVE_EXPIRY
)


_client_born = 0.0
_async_born: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float] = (
    weakref.WeakKeyDictionary()
)


def _max_age() -> float:
    return env_float(CALL_CONNECTION_MAX_AGE_ENV, 5.0, minimum=0.1)


def _retire_after() -> float:
    """How long a replaced pool stays open: long enough for any call still using it."""
    timeout = current_settings().timeout
    return (timeout.read or DEFAULT_TIMEOUT) + (timeout.connect or 0) + 1.0


def sync_client() -> httpx.Client:
    global _client, _client_born
    now = time.monotonic()
    if _client is None or now - _client_born > _max_age():
        with _client_lock:
            if _client is None or now - _client_born > _max_age():
                old = _client
                _client = httpx.Client(limits=_LIMITS, headers={"user-agent": _USER_AGENT})
                _client_born = now
                if old is not None:
                    timer = threading.Timer(_retire_after(), old.close)
                    timer.daemon = True
                    timer.start()
    return _client


def async_client() -> httpx.AsyncClient:
    """One client per event loop: an AsyncClient's pool must not cross loops."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    now = time.monotonic()
    if client is None or now - _async_born.get(loop, 0.0) > _max_age():
        old = client
        client = httpx.AsyncClient(limits=_LIMITS, headers={"user-agent": _USER_AGENT})
        _async_clients[loop] = client
        _async_born[loop] = now
        if old is not None:
            loop.call_later(_retire_after(), lambda: loop.create_task(old.aclose()))
    return client


async def close_async_client() -> None:
    """Close this loop's client (the service's lifespan calls it at shutdown)."""
    client = _async_clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def close_sync_client() -> None:
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
            _client = None


class ShadowPool:
    """Daemon threads that send shadow copies; a full queue drops copies so callers never wait."""

    def __init__(self, workers: int = SHADOW_WORKERS, limit: int = SHADOW_QUEUE_LIMIT) -> None:
        self._queue: queue.Queue[PreparedCall] = queue.Queue(maxsize=limit)
        self._workers = workers
        self._started = 0
        self._lock = threading.Lock()

    def submit(self, copy: PreparedCall) -> bool:
        """False when the copy was dropped."""
        if self._started < self._workers:
            self._start()
        try:
            self._queue.put_nowait(copy)
        except queue.Full:
            logger.debug(
                "shadow copy dropped, %d waiting already: %s", self._queue.qsize(), copy.label
            )
            return False
        return True

    def _start(self) -> None:
        with self._lock:
            while self._started < self._workers:
                self._started += 1
                threading.Thread(
                    target=self._work, name=f"daeploy-shadow-{self._started}", daemon=True
                ).start()

    def _work(self) -> None:
        while True:
            copy = self._queue.get()
            try:
                _send_copy(copy)
            except Exception as error:  # the worker must outlive any copy
                logger.debug("shadow copy %s failed: %r", copy.label, error)


def _send_copy(copy: PreparedCall) -> None:
    try:
        response = sync_client().request(
            copy.method, copy.url, timeout=copy.settings.timeout, **copy.request_options
        )
    except httpx.HTTPError as error:
        logger.debug("shadow copy %s failed: %s", copy.label, str(error) or type(error).__name__)
        return
    if response.status_code >= 400:
        logger.debug("shadow copy %s answered %d", copy.label, response.status_code)


_shadow_pool = ShadowPool()


def _mirror(copies: tuple[PreparedCall, ...]) -> None:
    """Hand the copies over; nothing here may replace the caller's answer or error."""
    try:
        for copy in copies:
            _shadow_pool.submit(copy)
    except Exception as error:  # e.g. no thread can start while the interpreter exits
        logger.debug("shadow copies not sent: %r", error)


@dataclass
class _LoopShadows:
    """A loop's copies in flight: the tasks are kept here so they are not garbage collected."""

    semaphore: asyncio.Semaphore
    tasks: set[asyncio.Task[None]]


_loop_shadows: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopShadows] = (
    weakref.WeakKeyDictionary()
)


def _mirror_async(copies: tuple[PreparedCall, ...]) -> None:
    try:
        _start_copies(copies)
    except Exception as error:  # e.g. the loop is closing; the caller's outcome stands
        logger.debug("shadow copies not sent: %r", error)


def _start_copies(copies: tuple[PreparedCall, ...]) -> None:
    loop = asyncio.get_running_loop()
    state = _loop_shadows.get(loop)
    if state is None:
        state = _LoopShadows(asyncio.Semaphore(SHADOW_WORKERS), set())
        _loop_shadows[loop] = state
    for copy in copies:
        if len(state.tasks) >= SHADOW_QUEUE_LIMIT:
            logger.debug(
                "shadow copy dropped, %d waiting already: %s", len(state.tasks), copy.label
            )
            continue
        task = loop.create_task(_asend_copy(copy, state.semaphore))
        state.tasks.add(task)
        task.add_done_callback(functools.partial(_forget_task, loop, state))


def _forget_task(
    loop: asyncio.AbstractEventLoop, state: _LoopShadows, task: asyncio.Task[None]
) -> None:
    """Drop the loop's state with its last copy, so nothing keeps a finished loop alive."""
    state.tasks.discard(task)
    if not state.tasks and _loop_shadows.get(loop) is state:
        del _loop_shadows[loop]


async def _asend_copy(copy: PreparedCall, semaphore: asyncio.Semaphore) -> None:
    async with semaphore:
        try:
            response = await async_client().request(
                copy.method, copy.url, timeout=copy.settings.timeout, **copy.request_options
            )
        except Exception as error:
            logger.debug("shadow copy %s failed: %s", copy.label, str(error) or repr(error))
            return
    if response.status_code >= 400:
        logger.debug("shadow copy %s answered %d", copy.label, response.status_code)


def _send(call: PreparedCall) -> Any:
    client = sync_client()
    for attempt in range(call.settings.retries + 1):
        try:
            response = client.request(
                call.method, call.url, timeout=call.settings.timeout, **call.request_options
            )
        except httpx.ConnectError as error:
            if attempt == call.settings.retries:
                raise transport_error(call, error) from error
            time.sleep(_RETRY_BACKOFF * 2**attempt)
        except httpx.TransportError as error:
            raise transport_error(call, error) from error
        else:
            return interpret(call, response)
    raise AssertionError("unreachable")  # pragma: no cover


async def _asend(call: PreparedCall) -> Any:
    client = async_client()
    for attempt in range(call.settings.retries + 1):
        try:
            response = await client.request(
                call.method, call.url, timeout=call.settings.timeout, **call.request_options
            )
        except httpx.ConnectError as error:
            if attempt == call.settings.retries:
                raise transport_error(call, error) from error
            await asyncio.sleep(_RETRY_BACKOFF * 2**attempt)
        except httpx.TransportError as error:
            raise transport_error(call, error) from error
        else:
            return interpret(call, response)
    raise AssertionError("unreachable")  # pragma: no cover


def call_service(
    service_name: str,
    entrypoint_name: str,
    arguments: dict[str, Any] | None = None,
    service_version: str | None = None,
    entrypoint_method: str = "POST",
    timeout: float | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """Call ``entrypoint_name`` of ``service_name`` and return its JSON answer.

    ``arguments`` become the JSON body (query parameters for GET). Without
    ``service_version`` the main version answers (in the cluster: the versions the name's
    traffic table picks). In a pod with access control on, the call carries the pod's own token
    (``Authorization: Bearer``) unless ``headers`` has one.
    Raises ``ServiceCallError`` (callee answered an error), ``ServiceUnreachableError`` or
    ``ServiceTimeoutError``.
    """
    call = prepare_call(
        service_name,
        entrypoint_name,
        arguments,
        service_version,
        entrypoint_method,
        timeout,
        headers,
    )
    copies: tuple[PreparedCall, ...] = ()
    if call.namespace is not None:
        call, copies = route(call, lookup(call.namespace, call.service))
    try:
        return _send(call)
    finally:
        if copies:
            _mirror(copies)


async def async_call_service(
    service_name: str,
    entrypoint_name: str,
    arguments: dict[str, Any] | None = None,
    service_version: str | None = None,
    entrypoint_method: str = "POST",
    timeout: float | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """``call_service`` for async entrypoints: same arguments, answers and errors."""
    call = prepare_call(
        service_name,
        entrypoint_name,
        arguments,
        service_version,
        entrypoint_method,
        timeout,
        headers,
    )
    copies: tuple[PreparedCall, ...] = ()
    if call.namespace is not None:
        call, copies = route(call, await alookup(call.namespace, call.service))
    try:
        return await _asend(call)
    finally:
        if copies:
            _mirror_async(copies)
