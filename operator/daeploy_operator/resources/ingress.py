"""The per-name Ingress: /services/<name> to the main version, /services/<name>_<version> to each.

Prefix paths match whole path segments, so /services/die_roller never captures
/services/die_roller_1.0.0. The main path points straight at the main version's own Service
(the per-name Service, which selects the same pods, is for in-cluster calls): the ingress then
watches one set of endpoints per version, so a new version's readiness reaches both of its routes
in the same configuration update, and a main switch is a single backend change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daeploy.contract import ROUTE_CLAIM_ANNOTATION
from daeploy.names import service_path, version_path

from ..names import (
    SERVICE_PORT,
    name_child_name,
    name_labels,
    version_child_name,
)
from ..spec import ServiceVersion
from .owners import shared_owners


def build_name_ingress(
    name: str,
    namespace: str,
    owners: Iterable[ServiceVersion],
    versions: Iterable[str],
    *,
    main_version: str | None,
    host: str,
    ingress_class: str,
    claimed_at: str,
) -> dict[str, Any]:
    """Routes for one service name; no main path while no version is main."""
    paths: list[dict[str, Any]] = []
    if main_version is not None:
        paths.append(_path(service_path(name), version_child_name(name, main_version)))
    paths.extend(
        _path(version_path(name, v), version_child_name(name, v)) for v in sorted(set(versions))
    )
    rule: dict[str, Any] = {"http": {"paths": paths}}
    if host:
        rule = {"host": host, **rule}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name_child_name(name),
            "namespace": namespace,
            "labels": name_labels(name),
            "annotations": {ROUTE_CLAIM_ANNOTATION: claimed_at},
            "ownerReferences": shared_owners(owners),
        },
        "spec": {"ingressClassName": ingress_class, "rules": [rule]},
    }


def ingress_host(ingress: dict[str, Any]) -> str:
    """The host an Ingress built here serves ('' for any host)."""
    rules = (ingress.get("spec") or {}).get("rules") or [{}]
    return rules[0].get("host") or ""


def _path(path: str, service: str) -> dict[str, Any]:
    return {
        "path": path,
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"number": SERVICE_PORT}}},
    }
