"""Run a reconcile at most once at a time per key, folding bursts of requests into one rerun.

Pods, Deployments and Services of one service name change many times during a rollout; each
change asks for the same reconcile. Asking while one runs only marks it to run once more, so
handler threads never queue up behind a lock and the last run always sees the latest state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass
class _State:
    running: bool = False
    again: bool = False
    force: bool = False


class CoalescingRunner(Generic[K]):
    def __init__(self, work: Callable[[K, bool], None]) -> None:
        self._work = work
        self._mutex = threading.Lock()
        self._states: dict[K, _State] = {}

    def run(self, key: K, force: bool = False) -> bool:
        """Run ``work(key, force)`` now, or hand it to the run in progress; True if this ran it.

        A ``force`` handed over is kept for the rerun. An error ends the runs for the key and
        propagates to the caller that was running.
        """
        with self._mutex:
            state = self._states.setdefault(key, _State())
            if state.running:
                state.again = True
                state.force = state.force or force
                return False
            state.running = True
        try:
            while True:
                self._work(key, force)
                with self._mutex:
                    if not state.again:
                        state.running = False
                        del self._states[key]
                        return True
                    state.again = False
                    force, state.force = state.force, False
        except BaseException:
            with self._mutex:
                state.running = False
                self._states.pop(key, None)
            raise
