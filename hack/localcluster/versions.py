"""Every pinned version and cache location, in one place.

Caches live outside the repository and are keyed by version, so a later run (or a later
checkout) reuses a build while a version bump builds afresh.
"""

from __future__ import annotations

import os
from pathlib import Path

KUBERNETES = "v1.34.4"
ETCD = "v3.6.16"
COREDNS = "v1.14.7"
TRAEFIK = "v3.6.12"
HELM = "v3.19.5"
REGISTRY = "v3.1.2"
PROMETHEUS = "v0.316.0"
"""Prometheus 3.16.0: its Go module numbers release 3.x.y as v0.3xx.y."""
PROMETHEUS_RELEASE = "3.16.0"
PAUSE_TAG = "registry.k8s.io/pause:3.10.1"
PYTHON_BASE_TAG = "docker.io/library/python:3.11-slim"
DEBIAN_SUITE = "bookworm"

CACHE = Path(os.environ.get("DAEPLOY_LC_CACHE", "/var/cache/daeploy-lc"))
"""Build outputs; survives ``down`` on purpose."""

STATE = Path(os.environ.get("DAEPLOY_LC_STATE", "/var/lib/daeploy-lc"))
"""Cluster data (PKI, etcd, kubelet and containerd roots); ``down`` removes it."""

RUN = Path(os.environ.get("DAEPLOY_LC_RUN", "/run/daeploy-lc"))
"""PIDs, sockets and logs of the running cluster."""

REGISTRY_DATA = Path(os.environ.get("DAEPLOY_LC_REGISTRY", "/var/lib/daeploy-lc-registry"))
"""The image registry's storage, one ``slot-N`` folder per cluster; survives ``down`` on purpose
(pushed images outlive the cluster), ``purge`` removes it."""

# Debian packages the node needs; installed by ``debian.ensure_packages``.
DEBIAN_PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "conntrack",
    "iproute2",
    "openssl",
    "buildah",
    "mmdebstrap",
    "fuse-overlayfs",
    "gcc",
    "libc6-dev",
    # On every Debian machine already; listed so that a missing one is installed, not a crash.
    "util-linux",
    "mount",
    "procps",
    "curl",
)

NEW_MACHINE_HAS = (
    "gcc", "libc6-dev", "iproute2", "openssl", "util-linux", "mount", "procps", "curl",
)  # fmt: skip
"""What a new machine of the project's kind already has: never purged."""


def bin_dir(component: str, version: str) -> Path:
    return CACHE / "bin" / f"{component}-{version}"


def src_dir(component: str, version: str) -> Path:
    return CACHE / "src" / f"{component}-{version}"
