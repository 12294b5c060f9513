"""A deduplicating work queue drained by a few worker threads, like client-go's workqueue.

Handlers only add keys and return at once, so kopf's event loop never waits for a reconcile:
its watches, indexes and liveness endpoint stay responsive however many objects change. A key
added while it is queued is not queued twice; added while it runs, it runs once more afterwards,
so a burst of events for one service name costs one or two reconciles and the last one always
sees the latest state. Different keys run in parallel on the workers; one key never does.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

logger = logging.getLogger(__name__)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        work: Callable[[K, bool], None],
        *,
        workers: int = 4,
        retry_delay: float = 5.0,
        name: str = "work",
    ) -> None:
        """``work(key, force)``; an exception from it retries the key after ``retry_delay``."""
        self._work = work
        self._retry_delay = retry_delay
        self._cond = threading.Condition()
        self._order: deque[K] = deque()
        self._queued: dict[K, bool] = {}  # key -> force, for keys waiting in _order
        self._running: set[K] = set()
        self._again: dict[K, bool] = {}  # key -> force, for keys added while they ran
        self._timers: dict[K, threading.Timer] = {}
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._drain, name=f"{name}-{i}", daemon=True)
            for i in range(workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopped = True
            timers, self._timers = list(self._timers.values()), {}
            self._cond.notify_all()
        for timer in timers:
            timer.cancel()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def add(self, key: K, force: bool = False) -> None:
        with self._cond:
            if self._stopped:
                return
            if key in self._running:
                self._again[key] = self._again.get(key, False) or force
            elif key in self._queued:
                self._queued[key] = self._queued[key] or force
            else:
                self._queued[key] = force
                self._order.append(key)
                self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds; once, however often this is asked meanwhile."""

        def fire() -> None:
            with self._cond:
                self._timers.pop(key, None)
            self.add(key)

        with self._cond:
            if self._stopped or key in self._timers:
                return
            timer = self._timers[key] = threading.Timer(delay, fire)
            timer.daemon = True
        timer.start()

    def idle(self) -> bool:
        """Nothing queued, running or waiting for a retry (for tests and tools)."""
        with self._cond:
            return not (self._order or self._running or self._timers)

    @property
    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def _next(self) -> tuple[K, bool] | None:
        with self._cond:
            while not self._order and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return None
            key = self._order.popleft()
            force = self._queued.pop(key)
            self._running.add(key)
            return key, force

    def _drain(self) -> None:
        while (item := self._next()) is not None:
            key, force = item
            try:
                self._work(key, force)
            except Exception as error:
                # The reconcile said why on the objects' status; the queue only tries again.
                logger.warning("%s failed, retrying in %.0f s: %s", key, self._retry_delay, error)
                self.add_after(key, self._retry_delay)
            finally:
                with self._cond:
                    self._running.discard(key)
                    again = self._again.pop(key, None)
                if again is not None:
                    self.add(key, again)
