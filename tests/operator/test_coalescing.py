"""Bursts of reconcile requests for one key fold into one rerun; other keys run in parallel."""

from __future__ import annotations

import threading

import pytest

from daeploy_operator.coalescing import CoalescingRunner

WAIT = 10.0


def test_requests_during_a_run_cause_exactly_one_more_run() -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def work(key: str, force: bool) -> None:
        calls.append(key)
        if len(calls) == 1:
            started.set()
            assert release.wait(WAIT)

    runner = CoalescingRunner(work)
    results: list[bool] = []
    first = threading.Thread(target=lambda: results.append(runner.run("a")))
    first.start()
    assert started.wait(WAIT)
    handed_over = [runner.run("a") for _ in range(5)]
    release.set()
    first.join(WAIT)
    assert handed_over == [False] * 5
    assert results == [True]
    assert calls == ["a", "a"]


def test_different_keys_do_not_wait_for_each_other() -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def work(key: str, force: bool) -> None:
        calls.append(key)
        if key == "slow":
            started.set()
            assert release.wait(WAIT)

    runner = CoalescingRunner(work)
    slow = threading.Thread(target=runner.run, args=("slow",))
    slow.start()
    assert started.wait(WAIT)
    assert runner.run("fast") is True
    release.set()
    slow.join(WAIT)
    assert sorted(calls) == ["fast", "slow"]


def test_an_error_reaches_the_caller_and_the_key_runs_again_later() -> None:
    failures = [True]

    def work(key: str, force: bool) -> None:
        if failures:
            failures.pop()
            raise RuntimeError("api server down")

    runner = CoalescingRunner(work)
    with pytest.raises(RuntimeError, match="api server down"):
        runner.run("a")
    assert runner.run("a") is True


def test_a_forced_request_during_a_run_forces_the_rerun() -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[tuple[str, bool]] = []

    def work(key: str, force: bool) -> None:
        calls.append((key, force))
        if len(calls) == 1:
            started.set()
            assert release.wait(WAIT)

    runner = CoalescingRunner(work)
    first = threading.Thread(target=runner.run, args=("a",))
    first.start()
    assert started.wait(WAIT)
    assert runner.run("a", force=True) is False
    assert runner.run("a") is False
    release.set()
    first.join(WAIT)
    assert calls == [("a", False), ("a", True)]
