"""What the operator applied last, so an unchanged child is not applied again.

A server-side apply that changes nothing still costs the API server a full merge. A burst of N
versions of one name reconciles that name up to N times, and each reconcile covers every version:
without this record that is N² applies. A child is applied again when its desired manifest
changes, when an event shows the child changed after our apply (a hand edit, a delete), or when
the resync pass forces a full apply.

A Deployment's status changes many times per rollout and each change bumps its resourceVersion
but not its ``metadata.generation``: for kinds with a generation only a new generation counts as
a change, so status updates do not cost a re-apply each.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

Key = tuple[str, str, str, str]


def child_key(api_version: str, kind: str, namespace: str | None, name: str) -> Key:
    return (api_version, kind, namespace or "", name)


def _digest(manifest: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _key_of(manifest: Mapping[str, Any]) -> Key:
    meta = manifest["metadata"]
    return child_key(manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"])


class AppliedRecord:
    """Thread-safe: kopf runs handlers, and so reconciles, in several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # key -> (digest of the manifest we applied, resourceVersion and generation answered)
        self._applied: dict[Key, tuple[str, str, int | None]] = {}

    def has(self, key: Key) -> bool:
        with self._lock:
            return key in self._applied

    def unchanged(self, manifest: Mapping[str, Any]) -> bool:
        with self._lock:
            last = self._applied.get(_key_of(manifest))
        return last is not None and last[0] == _digest(manifest)

    def record(self, manifest: Mapping[str, Any], answer: Mapping[str, Any] | None) -> None:
        metadata = (answer or {}).get("metadata") or {}
        version = str(metadata.get("resourceVersion") or "")
        generation = metadata.get("generation")
        with self._lock:
            self._applied[_key_of(manifest)] = (
                _digest(manifest),
                version,
                int(generation) if generation is not None else None,
            )

    def drifted(self, manifest: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
        """Whether the child as the watches last saw it departs from our last apply.

        The resync's check, for changes no event told us about: the child is gone, its spec
        changed (a new generation; for kinds without one, any new resourceVersion), or it lost a
        label we set (unlabelled, its events no longer reach the operator).
        """
        with self._lock:
            last = self._applied.get(_key_of(manifest))
        if last is None or live is None:
            return True
        meta = live.get("metadata") or {}
        labels = meta.get("labels") or {}
        wanted = (manifest.get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in wanted.items()):
            return True
        generation = meta.get("generation")
        if last[2] is not None and generation is not None:
            return last[2] != int(generation)
        return last[1] != str(meta.get("resourceVersion") or "")

    def forget(self, key: Key) -> None:
        with self._lock:
            self._applied.pop(key, None)

    def observe(
        self,
        key: Key,
        resource_version: str | None,
        deleted: bool = False,
        generation: int | None = None,
    ) -> bool:
        """A watch event on a child: False for the echo of our own apply, else True.

        The record of our apply is dropped (so the next reconcile applies again) when the event
        shows the child deleted or its spec changed under us.
        """
        with self._lock:
            last = self._applied.get(key)
            if last is None:
                return True
            if not deleted and resource_version and last[1] == resource_version:
                return False
            spec_kept = (
                not deleted
                and resource_version
                and last[2] is not None
                and generation is not None
                and last[2] == generation
            )
            if not spec_kept:
                del self._applied[key]
        return True
