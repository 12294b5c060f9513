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

Versions not built on the SDK (spec.probe type tcp or http) get their ``/services/<name>_<v>``
here too, with the strip-prefix Middleware (:mod:`.strip_prefix`) that an Ingress path cannot
have on its own. Their Ingress path stays (it carries the name's route claim and keeps the
Ingress valid when every version is plain); the route here outranks it by its priority.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from daeploy.contract import ACCESS_MIDDLEWARE, TRAEFIK_API_VERSION
from daeploy.names import service_path, version_path

from ..names import SERVICE_PORT, name_child_name, name_labels, version_child_name
from ..routing import Traffic
from ..spec import ServiceVersion
from .owners import shared_owners
from .strip_prefix import strip_name

SPLIT_SUFFIX = "-split"
MIRROR_SUFFIX = "-mirror"
# Traefik's maxBodySize for "no limit": it reads the body as it comes. With a limit it allocates
# the limit up front for every request with a body (4 MiB: 3.1 ms more of Traefik's CPU per
# shadowed request here), so the limit is the chart's choice (traffic.mirrorMaxBodyBytes).
ANY_BODY_SIZE = -1
# A plain version's own route must win over its Ingress path, whose priority is its rule's length
# (a few dozen characters; Traefik's default); far below the range Traefik keeps for itself.
VERSION_ROUTE_PRIORITY = 10_000


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
    return path_match(service_path(name), host)


def path_match(path: str, host: str) -> str:
    """Traefik's rule for ``path`` and below it on ``host`` ('' for any host)."""
    paths = f"Path(`{path}`) || PathPrefix(`{path}/`)"
    return f"Host(`{host}`) && ({paths})" if host else paths


def strips_main(traffic: Traffic, plain_versions: Iterable[str]) -> bool:
    """Whether /services/<name> strips its prefix: when a version that is not built on the SDK
    answers or gets copies. An SDK version answers the stripped path too (at ``/``)."""
    plain = set(plain_versions)
    taking_part = {traffic.main, *traffic.weights, *traffic.shadows} - {None}
    return bool(plain & taking_part)


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
    name: str,
    namespace: str,
    owners: Iterable[ServiceVersion],
    traffic: Traffic,
    max_body_bytes: int = ANY_BODY_SIZE,
) -> dict[str, Any]:
    """The answered traffic (one version or the split) plus a full copy to every shadow;
    requests with bodies over ``max_body_bytes`` are answered but not copied."""
    mirroring: dict[str, Any] = {
        **_answering(name, traffic),
        "mirrorBody": True,
        "maxBodySize": max_body_bytes,
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
    plain_versions: Sequence[str] = (),
) -> dict[str, Any]:
    """/services/<name> on each of ``hosts`` (while a version is main), and the own paths of
    ``plain_versions``; ``guarded`` puts the access Middleware first."""
    guard = [{"name": ACCESS_MIDDLEWARE, "namespace": namespace}] if guarded else []
    strip = [{"name": strip_name(name), "namespace": namespace}]
    main: dict[str, Any] | None = None
    if traffic.main is not None or needs_split(traffic):
        if needs_mirror(traffic):
            backend: dict[str, Any] = {"name": mirror_name(name), "kind": "TraefikService"}
        else:
            backend = _answering(name, traffic)
        main = {"kind": "Rule", "services": [backend]}
        middlewares = guard + (strip if strips_main(traffic, plain_versions) else [])
        if middlewares:
            main["middlewares"] = middlewares
    routes: list[dict[str, Any]] = []
    for host in hosts:
        if main is not None:
            routes.append({"match": route_match(name, host), **main})
        routes.extend(
            {
                "match": path_match(version_path(name, v), host),
                "kind": "Rule",
                "priority": VERSION_ROUTE_PRIORITY,
                "services": [{"name": version_child_name(name, v), "port": SERVICE_PORT}],
                "middlewares": guard + strip,
            }
            for v in sorted(set(plain_versions))
        )
    return {
        "apiVersion": TRAEFIK_API_VERSION,
        "kind": "IngressRoute",
        "metadata": {
            "name": name_child_name(name),
            "namespace": namespace,
            "labels": name_labels(name),
            "ownerReferences": shared_owners(owners),
        },
        "spec": {"routes": routes},
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
