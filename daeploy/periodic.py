"""Periodic tasks (``service.call_every``), run for as long as the app's lifespan lasts."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daeploy.entrypoints import ThreadCalls

logger = logging.getLogger("daeploy.periodic")
periodic_calls = ThreadCalls()


@dataclass(frozen=True)
class PeriodicTask:
    func: Callable[[], Any]
    seconds: float
    wait_first: bool


class PeriodicTasks:
    def __init__(self) -> None:
        self.tasks: list[PeriodicTask] = []
        self._running: list[asyncio.Task[None]] = []

    def add(self, func: Callable[[], Any], seconds: float, wait_first: bool) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ValueError(f"call_every({seconds!r}): give the period as seconds > 0")
        required = [
            p.name
            for p in inspect.signature(func).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if required:
            raise TypeError(
                f"call_every: {func.__name__!r} needs arguments {required}; a periodic task is "
                "called without arguments, so give them defaults or use service parameters"
            )
        self.tasks.append(PeriodicTask(func, float(seconds), wait_first))

    async def start(self) -> None:
        self._running = [
            asyncio.create_task(_repeat(task), name=f"call_every:{task.func.__name__}")
            for task in self.tasks
        ]

    async def stop(self) -> None:
        for running in self._running:
            running.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._running = []


async def _repeat(task: PeriodicTask) -> None:
    """Call, then sleep what is left of the period; an error is logged, the next call comes."""
    loop = asyncio.get_running_loop()
    if task.wait_first:
        await asyncio.sleep(task.seconds)
    while True:
        started = loop.time()
        try:
            if inspect.iscoroutinefunction(task.func):
                await task.func()
            else:
                await periodic_calls.run(task.func)
        except Exception:
            logger.exception("periodic task %s failed", task.func.__name__)
        await asyncio.sleep(max(0.0, task.seconds - (loop.time() - started)))
