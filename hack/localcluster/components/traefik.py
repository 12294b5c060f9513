"""Traefik v3, the ingress controller (>= 3.5.2 for strict prefix matching and its web UI stub)."""

from __future__ import annotations

from .. import versions
from ..gobuild import GoComponent

TRAEFIK = GoComponent(
    name="traefik",
    module="github.com/traefik/traefik/v3",
    version=versions.TRAEFIK,
    packages=("github.com/traefik/traefik/v3/cmd/traefik",),
    ldflags=(f"-X github.com/traefik/traefik/v3/pkg/version.Version={versions.TRAEFIK}",),
)
