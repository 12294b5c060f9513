"""DaeployService objects and an in-memory cluster for the operator's offline tests.

The in-memory cluster stands in for the Kubernetes API server (not for our code): it stores what
is applied, lists by label, and runs a small garbage collector over ownerReferences.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from daeploy.contract import API_GROUP_VERSION, KIND
from daeploy.names import version_object_name
from daeploy_operator.api import ApiError
from daeploy_operator.kinds import KINDS
from daeploy_operator.spec import ServiceVersion

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def dsvc_object(
    name: str = "die_roller",
    version: str = "1.0.0",
    *,
    namespace: str = "demo",
    main: bool = False,
    created: float = 0,
    resource_name: str | None = None,
    status: Mapping[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A DaeployService as the API server returns it (defaults applied)."""
    body = {"name": name, "version": version, "main": main, "port": 8000, "replicas": 1}
    body.update(spec)
    if "image" not in body and "source" not in body:
        body["image"] = f"localhost/{name.replace('_', '-')}:{version}"
    resource_name = resource_name or version_object_name(name, version)
    return {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": {
            "name": resource_name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{resource_name}",
            "generation": 1,
            "creationTimestamp": stamp(created),
        },
        "spec": body,
        "status": dict(status or {}),
    }


def service_version(*args: Any, **kwargs: Any) -> ServiceVersion:
    return ServiceVersion.from_object(dsvc_object(*args, **kwargs))


class InMemoryCluster:
    """Objects keyed by (apiVersion, kind, namespace, name); apply replaces all but status."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.status_writes = 0
        self.applies = 0
        self._uids = itertools.count(1)
        self.now = T0
        # Like an admission check: return a message to refuse an applied manifest with HTTP 422.
        self.refuse: Callable[[Mapping[str, Any]], str | None] = lambda manifest: None

    @staticmethod
    def _key(api_version: str, kind: str, namespace: str | None, name: str) -> tuple:
        namespaced = KINDS[(api_version, kind)][1]
        return (api_version, kind, namespace if namespaced else "", name)

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self._uids)}")
        meta.setdefault("creationTimestamp", self.now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        key = self._key(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        self.objects[key] = obj
        return obj

    def find(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
        return self.objects.get(self._key(api_version, kind, namespace, name))

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
        found = self.find(api_version, kind, namespace, name)
        return copy.deepcopy(found) if found else None

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        labels: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        out = []
        for (av, k, ns, _), obj in sorted(self.objects.items()):
            if (av, k) != (api_version, kind) or (namespace and ns != namespace):
                continue
            have = obj["metadata"].get("labels") or {}
            if not all(have.get(key) == value for key, value in (labels or {}).items()):
                continue
            if all(_field(obj, path) == value for path, value in (fields or {}).items()):
                out.append(copy.deepcopy(obj))
        return out

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        refusal = self.refuse(manifest)
        if refusal:
            raise ApiError(422, refusal)
        self.applies += 1
        manifest = copy.deepcopy(dict(manifest))
        meta = manifest["metadata"]
        key = self._key(
            manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"]
        )
        before = self.objects.get(key)
        if before is None:
            return copy.deepcopy(self.add(manifest))
        for field in ("uid", "creationTimestamp"):
            meta[field] = before["metadata"][field]
        if "status" in before:
            manifest["status"] = before["status"]
        self.objects[key] = manifest
        return copy.deepcopy(manifest)

    def apply_status(
        self, reference: Mapping[str, Any], status: Mapping[str, Any]
    ) -> dict[str, Any]:
        meta = reference["metadata"]
        obj = self.find(reference["apiVersion"], reference["kind"], meta["namespace"], meta["name"])
        assert obj is not None, f"status for a missing object {meta['name']}"
        self.status_writes += 1
        obj["status"] = copy.deepcopy(dict(status))
        return copy.deepcopy(obj)

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        return self.objects.pop(self._key(api_version, kind, namespace, name), None) is not None

    def collect_garbage(self) -> None:
        """Delete dependents whose owners are all gone; drop refs to gone owners otherwise."""
        while True:
            uids = {obj["metadata"]["uid"] for obj in self.objects.values()}
            doomed = []
            for key, obj in self.objects.items():
                refs = obj["metadata"].get("ownerReferences") or []
                if not refs:
                    continue
                alive = [r for r in refs if r["uid"] in uids]
                if not alive:
                    doomed.append(key)
                else:
                    obj["metadata"]["ownerReferences"] = alive
            if not doomed:
                return
            for key in doomed:
                del self.objects[key]

    def set_available(self, namespace: str, name: str, version: str, replicas: int = 1) -> None:
        deployment = self.find(
            "apps/v1", "Deployment", namespace, version_object_name(name, version)
        )
        assert deployment is not None
        # What the Deployment controller reports once every pod runs the current spec.
        deployment["status"] = {
            "observedGeneration": (deployment.get("metadata") or {}).get("generation", 0),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }

    def kinds_in(self, namespace: str) -> list[tuple[str, str]]:
        return sorted((k, n) for (_, k, ns, n) in self.objects if ns == namespace)


def _field(obj: dict[str, Any], path: str) -> Any:
    """A dotted field such as ``spec.name``, as the API server's field selectors read it."""
    value: Any = obj
    for part in path.split("."):
        value = (value or {}).get(part) if isinstance(value, dict) else None
    return value
