"""The Traefik Middleware that hands an image not built on the SDK its requests at ``/``.

The ingress forwards ``/services/<name>/x`` and ``/services/<name>_<version>/x`` unchanged, and an
SDK app strips its own prefix. A plain HTTP server (spec.probe type tcp or http) expects ``/x``:
this Middleware removes the route's first two segments (Traefik keeps the removed prefix in
``X-Forwarded-Prefix``). Its regular expression fits every route, so one per name is enough; it
is owned by the name's versions like the name's other routes, and exists while a version of the
name is not built on the SDK.

Traefik's Ingress provider puts an Ingress's middlewares on all of its paths, so the plain
versions' routes are IngressRoute routes (see :mod:`.traffic`), which carry their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from daeploy.contract import ROUTE_PREFIX, TRAEFIK_API_VERSION

from ..names import name_child_name, name_labels
from ..spec import ServiceVersion
from .owners import shared_owners

STRIP_SUFFIX = "-strip"
# /services/<route segment>: the segment is a name or name_version, never containing a slash.
ROUTE_SEGMENT_PATTERN = f"^{re.escape(ROUTE_PREFIX)}/[^/]+"


def strip_name(name: str) -> str:
    return name_child_name(name) + STRIP_SUFFIX


def build_strip_middleware(
    name: str, namespace: str, owners: Iterable[ServiceVersion]
) -> dict[str, Any]:
    return {
        "apiVersion": TRAEFIK_API_VERSION,
        "kind": "Middleware",
        "metadata": {
            "name": strip_name(name),
            "namespace": namespace,
            "labels": name_labels(name),
            "ownerReferences": shared_owners(owners),
        },
        "spec": {"stripPrefixRegex": {"regex": [ROUTE_SEGMENT_PATTERN]}},
    }
