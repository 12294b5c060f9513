"""The entrypoints' worker threads (daeploy.workers): real threads on a real event loop, and a
real service process whose blocked entrypoint calls neither serialise nor hold up its probes."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import httpx
import pytest
import uvloop
from sdk_support import Starter

from daeploy.contract import LIVE_PATH, READY_PATH
from daeploy.workers import WorkerThreads

T = TypeVar("T")
WAIT = 10.0  # generous: only a hang reaches it
REQUEST = contextvars.ContextVar("REQUEST", default="none")


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """On uvloop, as ``service.run()`` serves."""
    return uvloop.run(main())


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


async def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def test_result_arguments_and_thread() -> None:
    pool = WorkerThreads(limit=4)

    def add(a: int, b: int) -> tuple[int, str]:
        return a + b, threading.current_thread().name

    async def main() -> tuple[tuple[int, str], str]:
        return await pool.run(add, a=2, b=3), threading.current_thread().name

    (total, worker), loop_thread = run(main)
    assert total == 5
    assert worker == "daeploy-worker" and worker != loop_thread


def test_errors_reach_the_caller_as_raised() -> None:
    pool = WorkerThreads(limit=2)

    def fail() -> None:
        raise KeyError("missing")

    def stop() -> None:
        raise StopIteration

    async def main() -> None:
        with pytest.raises(KeyError, match="missing"):
            await pool.run(fail)
        # An asyncio future refuses StopIteration: it arrives as a RuntimeError caused by it.
        with pytest.raises(RuntimeError, match="StopIteration") as caught:
            await pool.run(stop)
        assert isinstance(caught.value.__cause__, StopIteration)
        assert pool.running == 0

    run(main)


def test_the_callers_context_is_copied_into_the_call() -> None:
    pool = WorkerThreads(limit=2)

    def read_and_set() -> str:
        seen = REQUEST.get()
        REQUEST.set("changed in the thread")
        return seen

    async def main() -> tuple[str, str]:
        REQUEST.set("request-1")
        seen = await pool.run(read_and_set)
        return seen, REQUEST.get()

    assert run(main) == ("request-1", "request-1")


def test_calls_run_at_once_up_to_the_limit_then_wait_their_turn() -> None:
    pool = WorkerThreads(limit=3)
    release = threading.Event()
    together = threading.Barrier(3, timeout=WAIT)  # breaks unless 3 run at the same time

    def blocked(index: int) -> int:
        together.wait()
        assert release.wait(WAIT)
        return index

    async def main() -> list[int]:
        calls = [asyncio.ensure_future(pool.run(blocked, index=i)) for i in range(3)]
        await wait_until(lambda: pool.running == 3)
        # A fourth call waits: no fourth thread, nothing of it runs yet.
        fourth = asyncio.ensure_future(pool.run(lambda: 3))
        await asyncio.sleep(0.1)
        assert not fourth.done() and pool.threads == 3 and pool.running == 3
        release.set()
        return [*await asyncio.gather(*calls), await fourth]

    assert run(main) == [0, 1, 2, 3]
    assert pool.running == 0


def test_sequential_calls_reuse_one_thread() -> None:
    pool = WorkerThreads(limit=8)
    names: set[int] = set()

    async def main() -> None:
        for _ in range(50):
            names.add(await pool.run(threading.get_ident))

    run(main)
    assert len(names) == 1
    assert pool.threads == 1


def test_idle_threads_end() -> None:
    pool = WorkerThreads(limit=4, idle_seconds=0.05)
    release = threading.Event()

    async def main() -> None:
        calls = [asyncio.ensure_future(pool.run(release.wait, timeout=WAIT)) for _ in range(4)]
        await wait_until(lambda: pool.threads == 4)
        release.set()
        await asyncio.gather(*calls)

    run(main)
    wait_for(lambda: pool.threads == 0)
    # And new ones start when needed again.
    assert run(lambda: pool.run(lambda: "again")) == "again"  # type: ignore[arg-type,return-value]


def test_a_cancelled_caller_stops_waiting_but_the_call_is_counted_until_it_ends() -> None:
    pool = WorkerThreads(limit=2)
    release = threading.Event()

    async def main() -> None:
        call = asyncio.ensure_future(pool.run(release.wait, timeout=WAIT))
        await wait_until(lambda: pool.running == 1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert pool.running == 1  # the thread goes on: the server counts it at shutdown
        release.set()
        await wait_until(lambda: pool.running == 0)
        await asyncio.sleep(0.05)  # the dropped result reaches the loop without an error

    run(main)


def test_a_queued_call_whose_caller_gave_up_is_skipped() -> None:
    pool = WorkerThreads(limit=1)
    release = threading.Event()
    ran: list[str] = []

    def record(label: str) -> None:
        ran.append(label)

    async def main() -> str:
        first = asyncio.ensure_future(pool.run(release.wait, timeout=WAIT))
        await wait_until(lambda: pool.running == 1)
        queued = asyncio.ensure_future(pool.run(record, label="queued"))
        await asyncio.sleep(0.05)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        release.set()
        await first
        # The one thread is free again and takes the next call.
        return await pool.run(lambda: "next")

    assert run(main) == "next"
    assert ran == []
    assert pool.threads == 1 and pool.running == 0


def test_the_default_limit_is_anyios_thread_limit() -> None:
    """The knob FastAPI documents for sync routes still bounds the entrypoints' threads."""
    pool = WorkerThreads()
    release = threading.Event()

    async def main() -> int:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        calls = [asyncio.ensure_future(pool.run(release.wait, timeout=WAIT)) for _ in range(5)]
        await wait_until(lambda: pool.running == 2)
        await asyncio.sleep(0.1)
        most = pool.threads
        release.set()
        await asyncio.gather(*calls)
        return most

    assert run(main) == 2


def test_an_unreadable_limit_falls_back_to_anyios_default() -> None:
    def unreadable() -> float:
        raise LookupError("no limiter here")

    pool = WorkerThreads(limit=unreadable)
    assert pool.limit() == 40
    assert run(lambda: pool.run(lambda: "ran")) == "ran"  # type: ignore[arg-type,return-value]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WorkerThreads(limit=0)


BLOCKING_SERVICE = """\
import os
import threading
from pathlib import Path

from daeploy import service

started = Path(os.environ["STARTED_DIR"])
release = Path(os.environ["RELEASE_FILE"])


@service.entrypoint
def wait(index: int) -> int:
    (started / str(index)).touch()
    while not release.exists():
        threading.Event().wait(0.02)
    return index


if __name__ == "__main__":
    service.run()
"""


def test_blocked_sync_entrypoints_run_at_once_and_probes_still_answer(
    start_service: Starter, tmp_path: Path
) -> None:
    """40 calls blocked at once (anyio's thread limit, which probes shared before): all run
    together, and the liveness and readiness probes answer while they are blocked."""
    app = tmp_path / "blocking_service.py"
    app.write_text(BLOCKING_SERVICE)
    started_dir = tmp_path / "started"
    started_dir.mkdir()
    release = tmp_path / "release"
    service = start_service(
        app, env={"STARTED_DIR": str(started_dir), "RELEASE_FILE": str(release)}
    )
    calls = 40

    def call(index: int) -> httpx.Response:
        return httpx.post(f"{service.url}/wait", json={"index": index}, timeout=60)

    with ThreadPoolExecutor(calls) as clients:
        answers = [clients.submit(call, i) for i in range(calls)]
        wait_for(lambda: len(list(started_dir.iterdir())) == calls)
        assert not any(answer.done() for answer in answers)
        for path in (LIVE_PATH, READY_PATH):
            assert httpx.get(service.url + path, timeout=WAIT).status_code == 200
        assert not any(answer.done() for answer in answers)  # still blocked, all of them
        release.touch()
        results = [answer.result(timeout=60) for answer in answers]
    assert [r.status_code for r in results] == [200] * calls, service.log()
    assert [r.json() for r in results] == list(range(calls))
