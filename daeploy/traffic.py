"""A service name's traffic table, read from its Kubernetes Service the way the ingress uses it.

The operator writes the table on the per-name Service (annotation ``daeploy.io/traffic``): which
versions share ``/services/<name>`` by weight and which get a copy of every request. The ingress
follows it; ``call_service`` inside the cluster must too, or a canary or shadow version would only
see outside traffic. The table is fetched from the API server with the pod's own ServiceAccount
token and reused for ``DAEPLOY_CALL_TRAFFIC_SECONDS`` (default 2) per (namespace, name): a call
must not wait for the API server, so a stale table keeps serving while one refresh runs in the
background. Whatever goes wrong (no permission, no Service, bad JSON) gives the empty table: every
call goes to the per-name Service, as before traffic tables existed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from daeploy.contract import CALL_TRAFFIC_SECONDS_ENV, TRAFFIC_ANNOTATION
from daeploy.identity import env_float
from daeploy.names import InvalidNameError, service_object_name, validate_version
from daeploy.pod_api import PodApi, api_client, pod_api

logger = logging.getLogger("daeploy.traffic")

DEFAULT_TTL = 2.0
FETCH_TIMEOUT = 1.0
SERVICE_API_PATH = "/api/v1/namespaces/{namespace}/services/{name}"
_WARNED_LIMIT = 256


@dataclass(frozen=True)
class TrafficTable:
    """``weights`` are (version, percent) pairs in the operator's order, zero weights left out."""

    main: str | None = None
    weights: tuple[tuple[str, int], ...] = ()
    shadows: tuple[str, ...] = ()

    @property
    def splits(self) -> bool:
        """Only a real split leaves the per-name Service, which already reaches the main."""
        return len(self.weights) > 1


EMPTY = TrafficTable()

_warned_lock = threading.Lock()
_warned_texts: set[tuple[str, str]] = set()


def _warn_bad(where: str, text: str, why: str) -> None:
    """Once per (Service, value): the same bad annotation is read again every few seconds."""
    with _warned_lock:
        if (where, text) in _warned_texts:
            return
        if len(_warned_texts) >= _WARNED_LIMIT:
            _warned_texts.clear()
        _warned_texts.add((where, text))
    logger.warning(
        "annotation %s on %s is unusable (%s): call_service ignores it; value: %.200s",
        TRAFFIC_ANNOTATION,
        where,
        why,
        text,
    )


def _is_version(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        validate_version(value)
    except InvalidNameError:
        return False
    return True


def parse_table(text: str | None, where: str = "the Service") -> TrafficTable:
    """The table from the annotation's value; never raises, whatever the operator wrote.

    A field of the wrong shape is dropped as a whole (half a split would skew traffic); unknown
    keys are ignored so a newer operator can add some.
    """
    if text is None or not text.strip():
        return EMPTY
    try:
        data = json.loads(text)
    except ValueError as error:
        _warn_bad(where, text, f"not JSON: {error}")
        return EMPTY
    if not isinstance(data, dict):
        _warn_bad(where, text, "not a JSON object")
        return EMPTY
    problems: list[str] = []

    main = data.get("main")
    if main is not None and not _is_version(main):
        problems.append("main is not a version")
        main = None

    weights: tuple[tuple[str, int], ...] = ()
    raw_weights = data.get("weights") or {}
    if isinstance(raw_weights, dict) and all(
        _is_version(version)
        and isinstance(percent, int)
        and not isinstance(percent, bool)
        and percent >= 0
        for version, percent in raw_weights.items()
    ):
        weights = tuple((v, p) for v, p in raw_weights.items() if p > 0)
    else:
        problems.append("weights is not an object of version to a non-negative integer")

    shadows: tuple[str, ...] = ()
    raw_shadows = data.get("shadows") or []
    if isinstance(raw_shadows, list) and all(_is_version(v) for v in raw_shadows):
        shadows = tuple(dict.fromkeys(raw_shadows))
    else:
        problems.append("shadows is not a list of versions")

    if problems:
        _warn_bad(where, text, "; ".join(problems))
    return TrafficTable(main, weights, shadows)


def choose(table: TrafficTable, rand: random.Random | float) -> str | None:
    """The version a call goes to, by weight; None when the table has no weights.

    ``rand`` is a Random or a number in [0, 1), so tests can pin the pick.
    """
    if not table.weights:
        return None
    point = (rand.random() if isinstance(rand, random.Random) else rand) * sum(
        percent for _, percent in table.weights
    )
    for version, percent in table.weights:
        point -= percent
        if point < 0:
            return version
    return table.weights[-1][0]


_problem_lock = threading.Lock()
_reported: dict[tuple[str, str], str] = {}
_client_lock = threading.Lock()
_clients: dict[tuple[str, bool | str], httpx.Client] = {}


def _report(key: tuple[str, str], kind: str, problem: str) -> None:
    """Once per key until the kind of failure changes or a fetch works: it recurs every TTL."""
    with _problem_lock:
        if _reported.get(key) == kind:
            return
        _reported[key] = kind
    logger.warning("traffic table of %r in %s not read: %s", key[1], key[0], problem)


def _api_client(api: PodApi) -> httpx.Client:
    """One client per API server, so a refresh every few seconds reuses its TLS connection."""
    with _client_lock:
        client = _clients.get((api.url, api.verify))
        if client is None:
            client = api_client(api.url, api.verify, FETCH_TIMEOUT)
            _clients[(api.url, api.verify)] = client
        return client


def _status_meaning(status: int, namespace: str, obj: str) -> str:
    if status == 401:
        return "the API server rejected the pod's ServiceAccount token"
    if status == 403:
        return f"the pod may not read Service {obj} in {namespace}"
    if status == 404:
        return f"Service {obj} does not exist in {namespace} (is the name deployed?)"
    return "the API server could not answer"


def fetch_table(namespace: str, name: str) -> TrafficTable:
    """GET the per-name Service with the pod's token; any failure is the empty table."""
    key = (namespace, name)
    obj = service_object_name(name)
    where = f"Service {namespace}/{obj}"
    fallback = f"call_service sends everything to {obj}, the main version"
    try:
        api = pod_api()
    except KeyError as error:
        _report(key, "no-pod", f"not in a pod (no {error}); {fallback}")
        return EMPTY
    try:
        token = api.read_token()
    except OSError as error:
        _report(key, "no-token", f"no ServiceAccount token ({error}); {fallback}")
        return EMPTY
    path = SERVICE_API_PATH.format(namespace=namespace, name=obj)
    headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
    try:
        response = _api_client(api).get(path, headers=headers)
    except httpx.HTTPError as error:
        reason = str(error) or type(error).__name__
        _report(
            key, type(error).__name__, f"API server {api.url} unreachable ({reason}); {fallback}"
        )
        return EMPTY
    status = response.status_code
    if status != 200:
        meaning = _status_meaning(status, namespace, obj)
        _report(key, str(status), f"reading {where} answered {status}: {meaning}; {fallback}")
        return EMPTY
    try:
        annotations = response.json()["metadata"].get("annotations") or {}
        text = annotations.get(TRAFFIC_ANNOTATION)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        _report(key, "not-a-service", f"{where} came back unreadable ({error!r}); {fallback}")
        return EMPTY
    with _problem_lock:
        _reported.pop(key, None)
    return parse_table(text if isinstance(text, str) else None, where)


@dataclass(frozen=True)
class _Entry:
    table: TrafficTable
    fetched_at: float


def ttl() -> float:
    return env_float(CALL_TRAFFIC_SECONDS_ENV, DEFAULT_TTL, minimum=0.0)


class TrafficCache:
    """Tables per (namespace, name): the first call waits for one fetch, later ones never do."""

    def __init__(self, fetch: Callable[[str, str], TrafficTable] = fetch_table) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._first_fetch: dict[tuple[str, str], threading.Lock] = {}
        self._refreshing: set[tuple[str, str]] = set()
        self._generation = 0

    def cached(self, namespace: str, name: str) -> TrafficTable | None:
        """The table without waiting (a stale one starts a refresh); None before the first."""
        key = (namespace, name)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry.fetched_at >= ttl():
            self._refresh_later(key)
        return entry.table

    def get(self, namespace: str, name: str) -> TrafficTable:
        table = self.cached(namespace, name)
        return self._first(namespace, name) if table is None else table

    async def aget(self, namespace: str, name: str) -> TrafficTable:
        """``get`` that does not block the event loop while the first fetch runs."""
        table = self.cached(namespace, name)
        if table is None:
            return await asyncio.to_thread(self._first, namespace, name)
        return table

    def clear(self) -> None:
        """Forget every table; a fetch still running stores nothing."""
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def _first(self, namespace: str, name: str) -> TrafficTable:
        """Concurrent first calls for a key share one fetch."""
        key = (namespace, name)
        with self._lock:
            gate = self._first_fetch.setdefault(key, threading.Lock())
        with gate:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._load(key)
            return entry.table

    def _load(self, key: tuple[str, str]) -> _Entry:
        generation = self._generation
        try:
            table = self._fetch(*key)
        except Exception as error:  # a bug in fetching must not break calls
            logger.warning("traffic table fetch for %s/%s failed: %r", *key, error)
            table = EMPTY
        entry = _Entry(table, time.monotonic())
        with self._lock:
            if generation == self._generation:
                self._entries[key] = entry
        return entry

    def _refresh_later(self, key: tuple[str, str]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)
        try:
            threading.Thread(
                target=self._refresh, args=(key,), name="daeploy-traffic", daemon=True
            ).start()
        except RuntimeError:  # interpreter shutting down: keep serving the stale table
            with self._lock:
                self._refreshing.discard(key)

    def _refresh(self, key: tuple[str, str]) -> None:
        try:
            self._load(key)
        finally:
            with self._lock:
                self._refreshing.discard(key)


_cache = TrafficCache()


def lookup(namespace: str, name: str) -> TrafficTable:
    """The name's table as this process last read it (the first call per name waits ~1 s max)."""
    return _cache.get(namespace, name)


async def alookup(namespace: str, name: str) -> TrafficTable:
    return await _cache.aget(namespace, name)


def clear_cache() -> None:
    """Forget every table, reported failure and API client: the next call fetches again."""
    _cache.clear()
    with _client_lock:
        _clients.clear()  # not closed: a refresh may still be using one
    with _problem_lock:
        _reported.clear()
    with _warned_lock:
        _warned_texts.clear()
