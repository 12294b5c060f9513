"""Worker threads for sync entrypoints: one queue put and one wake-up of the loop per call.

A sync entrypoint may block (``call_service``, a database, a model), so it runs off the event
loop. Starlette's ``run_in_threadpool`` (anyio) cost about 75 us of CPU per call on the 2-core
VM (a capacity limiter, cancel scopes, a ``queue.Queue`` and a ``threading.Condition`` per
call), ``loop.run_in_executor`` about 33 us (a concurrent future with its own condition, chained
to an asyncio one), this pool about 8 us: the caller puts the call on a C ``SimpleQueue`` and
awaits an asyncio future, the worker sets it through ``call_soon_threadsafe``. Most of what the
service saves per request in bench/throughput.py comes from here.

Like anyio: at most ``limit`` calls run at once, more wait their turn; the caller's
``contextvars`` are copied into the call; a thread idle for ``idle_seconds`` ends. The
entrypoints' limit is anyio's default thread limiter's, read when another thread would start:
40 unless the service changed it (``current_default_thread_limiter().total_tokens = N``, the
knob FastAPI documents for sync routes), so that knob still works.

Unlike anyio: the threads are plain threads, so from a sync entrypoint reach the loop with
``asyncio.run_coroutine_threadsafe``, not ``anyio.from_thread``. A cancelled caller stops
waiting at once; a call already running runs on and its result is dropped (the server counts
such calls, ``running``, when it shuts down), one still queued is skipped. Entrypoints have
this pool to themselves: calls blocked in it never delay the health probes or the other sync
routes, which stay on anyio's threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

import anyio.to_thread

DEFAULT_IDLE_SECONDS = 10.0  # anyio's
FALLBACK_LIMIT = 40  # anyio's default, should its limiter not be readable

Job = tuple[
    asyncio.AbstractEventLoop, asyncio.Future[Any], contextvars.Context, Callable[..., Any], dict
]


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """On the loop: hand the outcome to a caller that is still waiting."""
    if future.done():  # the caller was cancelled
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def anyio_thread_limit() -> float:
    """anyio's default thread limit in the running loop (40 unless changed)."""
    return anyio.to_thread.current_default_thread_limiter().total_tokens


class WorkerThreads:
    """``limit``: the most threads at once, or a function that says it on the loop (asked only
    when every thread is busy and another one would start)."""

    def __init__(
        self,
        limit: int | Callable[[], float] = anyio_thread_limit,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        name: str = "daeploy-worker",
    ) -> None:
        if isinstance(limit, int) and limit < 1:
            raise ValueError(f"limit={limit}: give at least 1 thread")
        self._limit = limit
        self.idle_seconds = idle_seconds
        self.name = name
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        # Threads waiting for a job minus jobs waiting for a thread: below 0, every thread is
        # busy and that many jobs wait in the queue.
        self._slack = 0
        self._running = 0

    def limit(self) -> float:
        if not callable(self._limit):
            return self._limit
        try:
            return self._limit()
        except Exception:  # e.g. anyio cannot tell the async library: never strand a call
            return FALLBACK_LIMIT

    @property
    def running(self) -> int:
        """Calls in progress in a thread, their callers cancelled or not."""
        with self._lock:
            return self._running

    @property
    def threads(self) -> int:
        with self._lock:
            return self._threads

    async def run(self, func: Callable[..., Any], **kwargs: Any) -> Any:
        """``func(**kwargs)`` in a worker thread, in a copy of the caller's context."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((loop, future, contextvars.copy_context(), func, kwargs))
        with self._lock:
            self._slack -= 1
            start = self._slack < 0 and self._threads < self.limit()
            if start:
                self._threads += 1
                self._slack += 1
        if start:
            try:
                threading.Thread(target=self._work, name=self.name, daemon=True).start()
            except BaseException:  # e.g. "can't start new thread": the call must not run later
                future.cancel()
                with self._lock:
                    self._threads -= 1
                    self._slack -= 1  # the job stays queued; a worker will skip it
                raise
        return await future

    def _work(self) -> None:
        jobs = self._jobs
        lock = self._lock
        while True:
            try:
                loop, future, context, func, kwargs = jobs.get(timeout=self.idle_seconds)
            except queue.Empty:
                with lock:
                    if self._slack > 0:  # more threads wait than jobs: this one may go
                        self._slack -= 1
                        self._threads -= 1
                        return
                continue  # a job was just handed to the waiting threads: stay for it
            if future.cancelled():  # its caller gave up before it started: nobody waits
                with lock:
                    self._slack += 1
                del loop, future, context, func, kwargs
                continue
            with lock:
                self._running += 1
            result: Any = None
            error: BaseException | None = None
            try:
                result = context.run(func, **kwargs)
            except StopIteration as stop:  # an asyncio future refuses StopIteration itself
                error = RuntimeError(f"{func.__name__} raised StopIteration")
                error.__cause__ = stop
            except BaseException as caught:
                error = caught
            with lock:  # done before its caller hears of it, as the server counts on
                self._running -= 1
                self._slack += 1
            # RuntimeError: the loop is closed, nobody waits for this call any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_deliver, future, result, error)
            # Not kept alive while this thread waits for the next job.
            del loop, future, context, func, kwargs, result, error
