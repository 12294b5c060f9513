"""Traefik's own route for /services/<name>: weights and shadows, which an Ingress cannot say.

An Ingress backend is one Service, so the main path moves to an IngressRoute when the chart
turns traffic routes on; the per-version paths stay in the Ingress. The IngressRoute points at:

- the main version's Service, while nothing shares its traffic (no extra hop or buffering);
- ``<name>-split``, a weighted TraefikService, while canaries hold a share;
- ``<name>-mirror``, a mirroring TraefikService around either of those, while shadows exist.
  Traefik answers the caller from the main handler and copies the request to each mirror
  afterwards, so a slow or failing shadow never slows or fails the caller.

The rule matches ``/services/<name>`` and what lies below it, never ``/services/<name>_<v>``,
like the Ingress's strict prefix paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from daeploy.contract import ACCESS_MIDDLEWARE, TRAEFIK_API_VERSION
from daeploy.names import service_path

from ..names import SERVICE_PORT, name_child_name, name_labels, version_child_name
from ..routing import Traffic
from ..spec import ServiceVersion
from .owners import shared_owners

SPLIT_SUFFIX = "-split"
MIRROR_SUFFIX = "-mirror"
# A request body larger than this is not copied to shadows (Traefik buffers it to copy it).
MIRROR_MAX_BODY_BYTES = 4 * 1024 * 1024


def split_name(name: str) -> str:
    return name_child_name(name) + SPLIT_SUFFIX


def mirror_name(name: str) -> str:
    return name_child_name(name) + MIRROR_SUFFIX


def needs_split(traffic: Traffic) -> bool:
    return len(traffic.weights) > 1


def needs_mirror(traffic: Traffic) -> bool:
    return bool(traffic.shadows)


def route_match(name: str, host: str) -> str:
    """Traefik's rule for /services/<name> on ``host`` ('' for any host)."""
    path = service_path(name)
    paths = f"Path(`{path}`) || PathPrefix(`{path}/`)"
    return f"Host(`{host}`) && ({paths})" if host else paths


def build_split_service(
    name: str, namespace: str, owners: Iterable[ServiceVersion], traffic: Traffic
) -> dict[str, Any]:
    """Weighted round robin over the versions that hold a share, by their percents."""
    services = [
        {"name": version_child_name(name, v), "port": SERVICE_PORT, "weight": w}
        for v, w in sorted(traffic.weights.items())
    ]
    return _traefik_service(
        split_name(name), namespace, name, owners, {"weighted": {"services": services}}
    )


def build_mirror_service(
    name: str, namespace: str, owners: Iterable[ServiceVersion], traffic: Traffic
) -> dict[str, Any]:
    """The answered traffic (one version or the split) plus a full copy to every shadow."""
    mirroring: dict[str, Any] = {
        **_answering(name, traffic),
        "mirrorBody": True,
        "maxBodySize": MIRROR_MAX_BODY_BYTES,
        "mirrors": [
            {"name": version_child_name(name, v), "port": SERVICE_PORT, "percent": 100}
            for v in traffic.shadows
        ],
    }
    return _traefik_service(mirror_name(name), namespace, name, owners, {"mirroring": mirroring})


def build_name_ingress_route(
    name: str,
    namespace: str,
    owners: Iterable[ServiceVersion],
    traffic: Traffic,
    *,
    hosts: Sequence[str],
    guarded: bool,
) -> dict[str, Any]:
    """/services/<name> on each of ``hosts``; ``guarded`` puts the access Middleware first."""
    if needs_mirror(traffic):
        backend: dict[str, Any] = {"name": mirror_name(name), "kind": "TraefikService"}
    else:
        backend = _answering(name, traffic)
    route: dict[str, Any] = {"kind": "Rule", "services": [backend]}
    if guarded:
        route["middlewares"] = [{"name": ACCESS_MIDDLEWARE, "namespace": namespace}]
    return {
        "apiVersion": TRAEFIK_API_VERSION,
        "kind": "IngressRoute",
        "metadata": {
            "name": name_child_name(name),
            "namespace": namespace,
            "labels": name_labels(name),
            "ownerReferences": shared_owners(owners),
        },
        "spec": {"routes": [{"match": route_match(name, host), **route} for host in hosts]},
    }


def _answering(name: str, traffic: Traffic) -> dict[str, Any]:
    """Who answers: the split while canaries share, else the main version's own Service."""
    if needs_split(traffic):
        return {"name": split_name(name), "kind": "TraefikService"}
    if traffic.main is None:
        raise ValueError(f"no main version of {name} to route {service_path(name)} to")
    return {"name": version_child_name(name, traffic.main), "port": SERVICE_PORT}


def _traefik_service(
    object_name: str,
    namespace: str,
    name: str,
    owners: Iterable[ServiceVersion],
    spec: dict[str, Any],
) -> dict[str, Any]:
    return {
        "apiVersion": TRAEFIK_API_VERSION,
        "kind": "TraefikService",
        "metadata": {
            "name": object_name,
            "namespace": namespace,
            "labels": name_labels(name),
            "ownerReferences": shared_owners(owners),
        },
        "spec": spec,
    }
