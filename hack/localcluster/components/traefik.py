"""Traefik v3, the ingress controller (>= 3.5.2 for strict prefix matching and its web UI stub)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .. import versions
from ..gobuild import GoComponent, go_env

TRAEFIK = GoComponent(
    name="traefik",
    module="github.com/traefik/traefik/v3",
    version=versions.TRAEFIK,
    packages=("github.com/traefik/traefik/v3/cmd/traefik",),
    ldflags=(f"-X github.com/traefik/traefik/v3/pkg/version.Version={versions.TRAEFIK}",),
)

# Traefik's own CRDs (Middleware, IngressRoute, TraefikService, ...), as its release ships them:
# the kubernetescrd provider needs every kind it watches to exist.
CRDS_IN_MODULE = "docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"


def crds_file() -> Path:
    """The CRD manifest of this Traefik version, from its Go module (cached once fetched)."""
    cached = versions.CACHE / f"traefik-crds-{versions.TRAEFIK}.yml"
    if cached.is_file():
        return cached
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{TRAEFIK.module}@{TRAEFIK.version}"],
        env=go_env(),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"could not fetch Traefik's module for its CRDs: {out.stderr.strip()}")
    source = Path(json.loads(out.stdout)["Dir"]) / CRDS_IN_MODULE
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(cached)
    return cached
