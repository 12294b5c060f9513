"""Test data builders: DaeployService objects as the API server returns them, for pure tests.

Not an API stand-in: the builders, routing, status and CRD tests feed these straight to pure
functions. Tests of what the operator does against an API server use envtest (a real
kube-apiserver and etcd, tests/envtest.py) instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from daeploy.contract import API_GROUP_VERSION, KIND
from daeploy.names import version_object_name
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
