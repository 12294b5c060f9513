"""The per-name Ingress: /services/<name> to the main version, /services/<name>_<version> to each.

Prefix paths match whole path segments, so /services/die_roller never captures
/services/die_roller_1.0.0. The main path points straight at the main version's own Service
(the per-name Service, which selects the same pods, is for in-cluster calls): the ingress then
watches one set of endpoints per version, so a new version's readiness reaches both of its routes
in the same configuration update, and a main switch is a single backend change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    hosts: Sequence[str],
    ingress_class: str,
    claimed_at: str,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Routes for one service name on each of ``hosts`` ('' for any host); no main path while
    no version is main. ``annotations`` tell the ingress controller to ask the access gate."""
    paths: list[dict[str, Any]] = []
    if main_version is not None:
        paths.append(_path(service_path(name), version_child_name(name, main_version)))
    paths.extend(
        _path(version_path(name, v), version_child_name(name, v)) for v in sorted(set(versions))
    )
    rules = [({"host": host} if host else {}) | {"http": {"paths": paths}} for host in hosts]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name_child_name(name),
            "namespace": namespace,
            "labels": name_labels(name),
            "annotations": {**(annotations or {}), ROUTE_CLAIM_ANNOTATION: claimed_at},
            "ownerReferences": shared_owners(owners),
        },
        "spec": {"ingressClassName": ingress_class, "rules": rules},
    }


def ingress_hosts(ingress: dict[str, Any]) -> set[str]:
    """The hosts an Ingress built here serves ('' for any host)."""
    return {rule.get("host") or "" for rule in (ingress.get("spec") or {}).get("rules") or []}


def _path(path: str, service: str) -> dict[str, Any]:
    return {
        "path": path,
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"number": SERVICE_PORT}}},
    }
