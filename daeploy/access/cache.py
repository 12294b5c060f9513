"""A short-lived memory of decisions, so a busy service does not ask Kubernetes on every call.

The price is the TTL: a revoked token or RoleBinding keeps working for at most that long. Keys
hold the token's SHA-256, never the token, so a memory dump does not hand out credentials.
Bounded in size: a stream of forged tokens cannot grow it without end.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from daeploy.access.actions import Request
from daeploy.access.bearer import NoToken, bearer_token
from daeploy.access.decision import UNAUTHENTICATED, Decision

DEFAULT_TTL = 10.0
DEFAULT_MAX_ENTRIES = 10_000

V = TypeVar("V")

Key = tuple[str, Request]


def token_key(token: str, request: Request) -> Key:
    return hashlib.sha256(token.encode()).hexdigest(), request


class TtlCache(Generic[V]):
    """``ttl`` seconds per entry, by ``clock`` (monotonic; tests pass their own)."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0:
            raise ValueError(f"ttl={ttl!r}: give the seconds a decision is reused, >= 0")
        if max_entries < 1:
            raise ValueError(f"max_entries={max_entries!r}: give at least 1")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[Key, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._entries)

    def get(self, key: Key) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if self._clock() >= expires:
                del self._entries[key]
                return None
            return value

    def expires_within(self, key: Key, seconds: float) -> bool:
        """True when ``key`` is held and expires in less than ``seconds``."""
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and entry[0] - self._clock() < seconds

    def put(self, key: Key, value: V) -> None:
        if self.ttl == 0:
            return
        with self._lock:
            now = self._clock()
            self._entries.pop(key, None)
            if len(self._entries) >= self.max_entries:
                self._expire(now)
            while len(self._entries) >= self.max_entries:
                # Insertion order: the oldest entry goes first.
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (now + self.ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _expire(self, now: float) -> None:
        for key in [k for k, (expires, _) in self._entries.items() if now >= expires]:
            del self._entries[key]


def known_decision(
    cache: TtlCache[Decision], authorization: str | Sequence[str] | None, request: Request
) -> tuple[Decision | None, Key | None]:
    """(decision, key) when no one needs asking: a missing or malformed header (401, key None)
    or a cached verdict; else (None, the key to store the answer under)."""
    try:
        token = bearer_token(authorization)
    except NoToken as refused:
        return Decision(UNAUTHENTICATED, str(refused)), None
    key = token_key(token, request)
    cached = cache.get(key)
    return cached, key
