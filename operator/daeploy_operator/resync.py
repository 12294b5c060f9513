"""The safety net: every few seconds, reconcile every service name the operator can see.

Events can be missed (a dropped watch, a crash between two writes); a periodic full pass heals
whatever they left behind. One pass per (namespace, name), not per object, and no finalizers,
unlike per-object kopf timers, so DaeployServices delete cleanly even with the operator away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from daeploy.contract import API_GROUP_VERSION, KIND

from .api import ApiError, Cluster

logger = logging.getLogger(__name__)

Key = tuple[str, str]


def service_groups(objects: Iterable[dict[str, Any]]) -> list[Key]:
    """The (namespace, service name) pairs of some DaeployService objects, sorted, once each."""
    keys = set()
    for obj in objects:
        namespace = (obj.get("metadata") or {}).get("namespace")
        name = (obj.get("spec") or {}).get("name")
        if namespace and isinstance(name, str) and name:
            keys.add((namespace, name))
    return sorted(keys)


def resync_once(
    cluster: Cluster,
    reconcile: Callable[[Key], Any],
    namespaces: Iterable[str] = (),
    reconcile_namespace: Callable[[str], Any] | None = None,
) -> int:
    """Reconcile every group in ``namespaces`` (all when empty); returns how many ran cleanly.

    ``reconcile_namespace`` runs once per namespace that has services, before its groups.
    """
    objects: list[dict[str, Any]] = []
    for namespace in tuple(namespaces) or (None,):
        objects.extend(cluster.list(API_GROUP_VERSION, KIND, namespace))
    groups = service_groups(objects)
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
        cluster: Cluster,
        reconcile: Callable[[Key], Any],
        interval: float,
        namespaces: Iterable[str] = (),
        reconcile_namespace: Callable[[str], Any] | None = None,
    ) -> None:
        self._cluster = cluster
        self._reconcile = reconcile
        self._reconcile_namespace = reconcile_namespace
        self._interval = interval
        self._namespaces = tuple(namespaces)
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
                resync_once(
                    self._cluster, self._reconcile, self._namespaces, self._reconcile_namespace
                )
            except ApiError as error:
                logger.warning("resync could not list DaeployServices: %s", error)
            except Exception:
                # The loop is the safety net; one bad pass must not end it.
                logger.exception("resync pass failed")
