"""Server-side apply with one field manager.

Every reconcile applies the full desired state of each child: the API server merges it, removes
fields we stopped setting, and leaves fields other managers own (such as a Service's clusterIP)
alone. Re-applying an unchanged manifest is a no-op that writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from daeploy.contract import FIELD_MANAGER

from .kinds import resource_path

APPLY_PATCH = "application/apply-patch+yaml"


class Transport(Protocol):
    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> dict[str, Any] | None: ...


def apply_manifest(transport: Transport, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Create or update ``manifest`` as the operator's field manager, taking over conflicts."""
    metadata = manifest["metadata"]
    path = resource_path(
        manifest["apiVersion"], manifest["kind"], metadata.get("namespace"), metadata["name"]
    )
    return _apply(transport, path, manifest)


def apply_status(
    transport: Transport, reference: Mapping[str, Any], status: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply the whole status subresource; fields left out are removed."""
    metadata = reference["metadata"]
    path = resource_path(
        reference["apiVersion"],
        reference["kind"],
        metadata.get("namespace"),
        metadata["name"],
        "status",
    )
    body = {
        "apiVersion": reference["apiVersion"],
        "kind": reference["kind"],
        "metadata": {"name": metadata["name"], "namespace": metadata.get("namespace")},
        "status": dict(status),
    }
    return _apply(transport, path, body)


def _apply(transport: Transport, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
    result = transport.request(
        "PATCH",
        path,
        query={"fieldManager": FIELD_MANAGER, "force": "true"},
        body=dict(body),
        content_type=APPLY_PATCH,
    )
    return result or {}
