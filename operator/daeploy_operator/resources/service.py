"""Services: one per version (its own address) and one per name (the main version's address)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from daeploy.contract import SERVICE_LABEL, TRAFFIC_ANNOTATION, VERSION_LABEL
from daeploy.names import label_value

from ..names import (
    CONTAINER_PORT_NAME,
    NO_VERSION,
    SERVICE_PORT,
    name_child_name,
    name_labels,
    version_child_name,
    version_labels,
    version_selector,
)
from ..routing import Traffic
from ..spec import ServiceVersion
from .owners import controller_owner, shared_owners


def build_version_service(version: ServiceVersion) -> dict[str, Any]:
    """Port 80 of ``<name>-v<version>`` reaches this version's pods on their spec.port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": version_child_name(version.name, version.version),
            "namespace": version.namespace,
            "labels": version_labels(version.name, version.version),
            "ownerReferences": [controller_owner(version)],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": version_selector(version.name, version.version),
            "ports": [_http_port()],
        },
    }


def build_name_service(
    name: str,
    namespace: str,
    owners: Iterable[ServiceVersion],
    main_version: str | None,
    traffic: Traffic | None = None,
) -> dict[str, Any]:
    """The per-name Service selects the main version's pods; with no main it selects none.

    The target port is the named container port, so versions may listen on different ports.
    ``traffic`` goes on it as the table call_service splits and mirrors by: the services of a
    namespace may read this one object, and nothing else in the cluster.
    """
    metadata: dict[str, Any] = {
        "name": name_child_name(name),
        "namespace": namespace,
        "labels": name_labels(name),
        "ownerReferences": shared_owners(owners),
    }
    if traffic is not None:
        table = json.dumps(traffic.table(), sort_keys=True, separators=(",", ":"))
        metadata["annotations"] = {TRAFFIC_ANNOTATION: table}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": {
                SERVICE_LABEL: label_value(name),
                VERSION_LABEL: NO_VERSION if main_version is None else label_value(main_version),
            },
            "ports": [_http_port()],
        },
    }


def selected_version_label(service: dict[str, Any] | None) -> str | None:
    """Which version label a per-name Service selects now (None: no Service or no main)."""
    if not service:
        return None
    label = ((service.get("spec") or {}).get("selector") or {}).get(VERSION_LABEL)
    return label or None


def _http_port() -> dict[str, Any]:
    return {
        "name": "http",
        "port": SERVICE_PORT,
        "targetPort": CONTAINER_PORT_NAME,
        "protocol": "TCP",
    }
