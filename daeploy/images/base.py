"""The base image: its manifest and config, and which Python packages it already has.

What is installed is read from the base's own layers (the ``*.dist-info`` folders), once per
base digest, and cached: the dependency layer then installs only what the base lacks, pinned
to the base's versions where both need a package, so the SDK's own dependencies never change.
"""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daeploy.images.reference import Reference
from daeploy.images.registry import (
    DOCKER_LIST,
    OCI_INDEX,
    Registry,
    RegistryError,
)

SDK_DISTRIBUTION = "daeploy"
_META = re.compile(r"^(?P<dir>.*/)?(?P<name>[^/]+?)-(?P<version>[^-/]+?)(?:-py\d[\d.]*)?"
                   r"\.(?:dist|egg)-info/?$")  # fmt: skip
_SITE = re.compile(r"^(?:.*/)?lib/python(?P<python>3\.\d+)/(?:site|dist)-packages$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class BaseImage:
    reference: Reference
    digest: str
    config: dict[str, Any]
    layers: list[dict[str, Any]]
    packages: dict[str, str]
    """Every distribution the base has, canonical name -> version."""
    site_packages: dict[str, str]
    """Those of ``site_dir`` alone: the folder a dependency layer adds to."""
    site_dir: str
    python: str
    """``3.11``: the interpreter the dependency layer's wheels must fit."""


def _platform_manifest(registry: Registry, reference: Reference) -> tuple[dict[str, Any], str]:
    manifest = registry.get_manifest(reference.repository, reference.reference)
    body = manifest.json()
    if manifest.media_type in (OCI_INDEX, DOCKER_LIST) or "manifests" in body:
        for entry in body.get("manifests", []):
            platform = entry.get("platform") or {}
            if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
                manifest = registry.get_manifest(reference.repository, entry["digest"])
                return manifest.json(), manifest.digest
        raise RegistryError(f"base image {reference} has no linux/amd64 image")
    return body, manifest.digest


def scan_layer(path: Path, found: dict[str, tuple[str, str]]) -> None:
    """Add the layer's distributions to ``found`` (canonical name -> (folder, version))."""
    with tarfile.open(path, mode="r|*") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            base = name.rsplit("/", 1)[-1]
            if base.startswith(".wh."):
                # A later layer deleted a distribution the earlier ones installed.
                meta = _META.match(name[: -len(base)] + base[4:])
                if meta and found.get(canonical(meta["name"]), ("",))[0] == (
                    meta["dir"] or ""
                ).rstrip("/"):
                    del found[canonical(meta["name"])]
                continue
            # The folder itself, or its metadata file: a layer need not list its folders.
            if member.isdir():
                meta = _META.match(name)
            elif base in ("METADATA", "PKG-INFO"):
                meta = _META.match(name[: -len(base)])
            else:
                continue
            if meta:
                folder = (meta["dir"] or "").rstrip("/")
                found[canonical(meta["name"])] = (folder, meta["version"])


def _site_dir(found: dict[str, tuple[str, str]]) -> tuple[str, str]:
    if SDK_DISTRIBUTION in found:
        folder = found[SDK_DISTRIBUTION][0]
    else:
        counts: dict[str, int] = {}
        for folder, _ in found.values():
            if _SITE.match(folder):
                counts[folder] = counts.get(folder, 0) + 1
        if not counts:
            raise RegistryError("the base image has no Python site-packages folder")
        folder = max(counts, key=lambda f: counts[f])
    match = _SITE.match(folder)
    if not match:
        raise RegistryError(f"the base image keeps its packages in {folder!r}, not lib/python3.X")
    return folder, match["python"]


def load(registry: Registry, reference: Reference, cache: Path) -> BaseImage:
    manifest, digest = _platform_manifest(registry, reference)
    config = json.loads(registry.read_blob(reference.repository, manifest["config"]["digest"]))
    layers = list(manifest.get("layers") or [])
    record = cache / "bases" / f"{digest.split(':', 1)[1]}.json"
    if record.is_file():
        known = json.loads(record.read_text())
    else:
        found: dict[str, tuple[str, str]] = {}
        for layer in layers:
            blob = cache / "blobs" / layer["digest"].split(":", 1)[1]
            if not blob.is_file():
                registry.fetch_blob(reference.repository, layer["digest"], blob)
            scan_layer(blob, found)
        site_dir, python = _site_dir(found)
        known = {
            "packages": {k: v for k, (_, v) in sorted(found.items())},
            "site_packages": {k: v for k, (f, v) in sorted(found.items()) if f == site_dir},
            "site_dir": site_dir,
            "python": python,
        }
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(known, indent=1))
    return BaseImage(
        reference=reference,
        digest=digest,
        config=config,
        layers=layers,
        packages=known["packages"],
        site_packages=known["site_packages"],
        site_dir=known["site_dir"],
        python=known["python"],
    )
