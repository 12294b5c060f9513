"""The work queue: bursts for one key fold into one rerun, keys run in parallel, errors retry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from daeploy_operator.workqueue import WorkQueue

WAIT = 10.0


@pytest.fixture
def queues() -> Iterator[Callable[..., WorkQueue[str]]]:
    made: list[WorkQueue[str]] = []

    def make(work: Callable[[str, bool], None], **kwargs: float) -> WorkQueue[str]:
        queue: WorkQueue[str] = WorkQueue(work, **kwargs)  # type: ignore[arg-type]
        queue.start()
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.stop()


def _until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_adds_during_a_run_cause_exactly_one_more_run(
    queues: Callable[..., WorkQueue[str]],
) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def work(key: str, force: bool) -> None:
        calls.append(key)
        if len(calls) == 1:
            started.set()
            assert release.wait(WAIT)

    queue = queues(work)
    queue.add("a")
    assert started.wait(WAIT)
    for _ in range(5):
        queue.add("a")
    release.set()
    _until(queue.idle)
    assert calls == ["a", "a"]


def test_a_key_queued_twice_runs_once(queues: Callable[..., WorkQueue[str]]) -> None:
    busy, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def work(key: str, force: bool) -> None:
        calls.append(key)
        if key == "block":
            busy.set()
            assert release.wait(WAIT)

    queue = queues(work, workers=1)
    queue.add("block")
    assert busy.wait(WAIT)
    queue.add("b")
    queue.add("b")
    queue.add("b")
    release.set()
    _until(queue.idle)
    assert calls == ["block", "b"]


def test_different_keys_do_not_wait_for_each_other(queues: Callable[..., WorkQueue[str]]) -> None:
    started, release, fast_done = threading.Event(), threading.Event(), threading.Event()

    def work(key: str, force: bool) -> None:
        if key == "slow":
            started.set()
            assert release.wait(WAIT)
        else:
            fast_done.set()

    queue = queues(work, workers=2)
    queue.add("slow")
    assert started.wait(WAIT)
    queue.add("fast")
    assert fast_done.wait(WAIT), "a second key waited for the first one"
    release.set()
    _until(queue.idle)


def test_an_error_retries_the_key_after_the_delay(queues: Callable[..., WorkQueue[str]]) -> None:
    calls: list[float] = []

    def work(key: str, force: bool) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("api server down")

    queue = queues(work, retry_delay=0.2)
    queue.add("a")
    _until(lambda: len(calls) == 2 and queue.idle())
    assert calls[1] - calls[0] >= 0.2


def test_a_forced_add_during_a_run_forces_the_rerun(queues: Callable[..., WorkQueue[str]]) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[tuple[str, bool]] = []

    def work(key: str, force: bool) -> None:
        calls.append((key, force))
        if len(calls) == 1:
            started.set()
            assert release.wait(WAIT)

    queue = queues(work)
    queue.add("a")
    assert started.wait(WAIT)
    queue.add("a", force=True)
    queue.add("a")
    release.set()
    _until(queue.idle)
    assert calls == [("a", False), ("a", True)]


def test_stop_ends_the_workers(queues: Callable[..., WorkQueue[str]]) -> None:
    queue = queues(lambda key, force: None)
    assert queue.alive
    queue.stop()
    assert not queue.alive
    queue.add("late")  # ignored, no error
