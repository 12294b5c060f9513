"""The safety net: every few seconds, reconcile every service name the operator can see.

Events can be missed (a dropped watch, a crash between two writes); a periodic full pass heals
whatever they left behind. One pass per (namespace, name), not per object, and no finalizers,
unlike per-object kopf timers, so DaeployServices delete cleanly even with the operator away.
The names come from the operator's indexes, and a forced reconcile re-applies only children
that drifted from the last apply, so a pass over a settled cluster sends no request at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from .api import ApiError

logger = logging.getLogger(__name__)

Key = tuple[str, str]


def resync_once(
    groups: Iterable[Key],
    reconcile: Callable[[Key], Any],
    reconcile_namespace: Callable[[str], Any] | None = None,
) -> int:
    """Reconcile every (namespace, name) group; returns how many ran cleanly.

    ``reconcile_namespace`` runs once per namespace that has services, before its groups.
    """
    groups = sorted(set(groups))
    if reconcile_namespace is not None:
        for namespace in sorted({ns for ns, _ in groups}):
            try:
                reconcile_namespace(namespace)
            except Exception:
                logger.exception("resync of the namespace access of %s failed", namespace)
    done = 0
    for key in groups:
        try:
            reconcile(key)
        except ApiError as error:
            logger.warning("resync of %s/%s failed: %s", key[0], key[1], error)
        except Exception:
            # One broken group must not keep the others from healing.
            logger.exception("resync of %s/%s failed", key[0], key[1])
        else:
            done += 1
    return done


class ResyncLoop:
    """``resync_once`` every ``interval`` seconds in a daemon thread, until stopped."""

    def __init__(
        self,
        groups: Callable[[], Iterable[Key]],
        reconcile: Callable[[Key], Any],
        interval: float,
        reconcile_namespace: Callable[[str], Any] | None = None,
    ) -> None:
        self._groups = groups
        self._reconcile = reconcile
        self._reconcile_namespace = reconcile_namespace
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="daeploy-resync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                resync_once(self._groups(), self._reconcile, self._reconcile_namespace)
            except Exception:
                # The loop is the safety net; one bad pass must not end it.
                logger.exception("resync pass failed")
