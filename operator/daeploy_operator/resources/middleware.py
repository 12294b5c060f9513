"""The Traefik Middleware that makes the ingress ask the gate before forwarding a request.

One per namespace, because the gate's address names the namespace (``/ingress/<namespace>``):
the same host can serve several namespaces' routes, and the gate must know which namespace's
RBAC to ask. The Ingresses point at it with the annotation the chart sets
(``traefik.ingress.kubernetes.io/router.middlewares: <namespace>-daeploy-access@kubernetescrd``).
Only the Authorization header goes to the gate; Traefik adds X-Forwarded-Uri and -Method from
the request itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daeploy.contract import (
    ACCESS_MIDDLEWARE,
    GATE_INGRESS_PATH,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    TRAEFIK_API_VERSION,
)

from ..spec import ServiceVersion
from .owners import shared_owners


def build_access_middleware(
    namespace: str,
    owners: Iterable[ServiceVersion],
    gate_url: str,
    plugin: str = "",
    cache_seconds: float = 5.0,
) -> dict[str, Any]:
    """forwardAuth, or with ``plugin`` the same question from Traefik's own process
    (operator/traefik-access), which keeps the answers ``cache_seconds``: no HTTP round trip
    per request."""
    question = f"{gate_url}{GATE_INGRESS_PATH}/{namespace}"
    if plugin:
        spec: dict[str, Any] = {
            "plugin": {plugin: {"gate": question, "ttlSeconds": int(cache_seconds)}}
        }
    else:
        spec = {"forwardAuth": {"address": question, "authRequestHeaders": ["Authorization"]}}
    return {
        "apiVersion": TRAEFIK_API_VERSION,
        "kind": "Middleware",
        "metadata": {
            "name": ACCESS_MIDDLEWARE,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_OPERATOR},
            "ownerReferences": shared_owners(owners),
        },
        "spec": spec,
    }
