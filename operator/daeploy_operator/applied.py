"""What the operator applied last, so an unchanged child is not applied again.

A server-side apply that changes nothing still costs the API server a full merge. A burst of N
versions of one name reconciles that name up to N times, and each reconcile covers every version:
without this record that is N² applies. A child is applied again when its desired manifest
changes, when an event shows the child changed after our apply (a hand edit, a delete), or when
the resync pass forces a full apply.
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
        # key -> (digest of the manifest we applied, resourceVersion the server answered)
        self._applied: dict[Key, tuple[str, str]] = {}

    def has(self, key: Key) -> bool:
        with self._lock:
            return key in self._applied

    def unchanged(self, manifest: Mapping[str, Any]) -> bool:
        with self._lock:
            last = self._applied.get(_key_of(manifest))
        return last is not None and last[0] == _digest(manifest)

    def record(self, manifest: Mapping[str, Any], answer: Mapping[str, Any] | None) -> None:
        version = str(((answer or {}).get("metadata") or {}).get("resourceVersion") or "")
        with self._lock:
            self._applied[_key_of(manifest)] = (_digest(manifest), version)

    def observe(self, key: Key, resource_version: str | None, deleted: bool = False) -> bool:
        """A watch event on a child; True when it shows a change we did not make ourselves."""
        with self._lock:
            last = self._applied.get(key)
            if last is None:
                return True
            if deleted or not resource_version or last[1] != resource_version:
                del self._applied[key]
                return True
        return False
