"""A service folder built into an image and pushed: base, dependency layer, code layer.

Everything that can fail on the user's machine (the folder, the requirements, a package
without a wheel) fails before the first byte is pushed. The pushed image is tagged with the
version, and returned by digest: what the DaeployService pins.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daeploy.contract import CACHE_ENV
from daeploy.images import base as base_image
from daeploy.images import dependencies
from daeploy.images.layers import LAYER_MEDIA_TYPE, Layer, write_layer
from daeploy.images.reference import Reference, check_repository
from daeploy.images.registry import OCI_MANIFEST, Registry

APP_DIR = "app"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def cache_dir() -> Path:
    """Layers and base-image facts, kept between deploys (safe to delete)."""
    root = os.environ.get(CACHE_ENV) or os.environ.get("XDG_CACHE_HOME")
    return Path(root) / "daeploy" if root else Path.home() / ".cache" / "daeploy"


@dataclass(frozen=True)
class Destination:
    """Where the image goes: a registry host and an optional path inside it."""

    registry: Registry
    path: str = ""

    def repository(self, namespace: str, name: str) -> str:
        parts = [self.path, namespace, name.lower()]
        return check_repository("/".join(p for p in parts if p), "image repository")


@dataclass
class Built:
    image: Reference
    """The pushed image, by digest."""
    tag: Reference
    uploaded: dict[str, int] = field(default_factory=dict)
    """What had to be sent, by layer kind: bytes."""
    reused: list[str] = field(default_factory=list)
    dependency_packages: list[str] = field(default_factory=list)
    dropped_requirements: tuple[str, ...] = ()
    added_requirements: tuple[str, ...] = ()


def _tag(version: str) -> str:
    tag = re.sub(r"[^A-Za-z0-9_.-]", "-", version)
    return tag if re.match(r"^[A-Za-z0-9_]", tag) else f"v{tag}"


def _dependency_layer(
    requirements: dependencies.Requirements,
    base: base_image.BaseImage,
    cache: Path,
    refresh: bool,
    say: Callable[[str], None],
) -> tuple[Layer, list[str]]:
    key = dependencies.layer_key(requirements, base)
    record = cache / "dependencies" / f"{key}.json"
    blobs = cache / "blobs"
    if record.is_file() and not refresh:
        known = json.loads(record.read_text())
        layer = Layer(known["digest"], known["diff_id"], known["size"], blobs / known["file"])
        if layer.path.is_file():
            return layer, known["packages"]
    say("installing requirements.txt for Linux x86_64 / CPython " + base.python + " (wheels)")
    with tempfile.TemporaryDirectory(prefix="daeploy-deps-") as tmp:
        target = Path(tmp) / "site"
        dependencies.install(requirements, base, target)
        packages = sorted(p.name[: -len(".dist-info")] for p in target.glob("*.dist-info"))
        layer = write_layer(dependencies.layer_entries(target, base), blobs)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(
        json.dumps(
            {
                "digest": layer.digest,
                "diff_id": layer.diff_id,
                "size": layer.size,
                "file": layer.path.name,
                "packages": packages,
            }
        )
    )
    return layer, packages


def image_config(
    base: base_image.BaseImage, added: list[Layer], name: str, version: str
) -> dict[str, Any]:
    config = json.loads(json.dumps(base.config))
    inner = config.setdefault("config", {})
    inner["WorkingDir"] = f"/{APP_DIR}"
    inner["Cmd"] = ["python", "service.py"]
    inner.pop("Entrypoint", None)
    labels = dict(inner.get("Labels") or {})
    labels.update(
        {"org.opencontainers.image.title": name, "org.opencontainers.image.version": version}
    )
    inner["Labels"] = labels
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    config["rootfs"]["diff_ids"] = [*config["rootfs"].get("diff_ids", [])] + [
        layer.diff_id for layer in added
    ]
    history = list(config.get("history") or [])
    history += [
        {"created": config.get("created", "1970-01-01T00:00:00Z"), "created_by": f"daeploy {what}"}
        for what in ("dependencies", "code")[-len(added) :]
    ]
    config["history"] = history
    return config


def build(
    folder: Path,
    files: list[tuple[str, Path]],
    name: str,
    version: str,
    namespace: str,
    destination: Destination,
    base_ref: Reference,
    base_registry: Registry,
    say: Callable[[str], None] = lambda _: None,
    refresh_dependencies: bool = False,
    cache: Path | None = None,
    base: base_image.BaseImage | None = None,
) -> Built:
    """Build and push; ``files`` are the folder's (relative name, path) pairs to ship; ``base``:
    ``base_ref`` already loaded (the CLI reads it first to see whether a build is needed)."""
    cache = cache or cache_dir()
    requirements = dependencies.read(folder)
    base = base or base_image.load(base_registry, base_ref, cache)
    added: list[Layer] = []
    kinds: list[str] = []
    packages: list[str] = []
    if dependencies.unmet(requirements, base):
        layer, packages = _dependency_layer(requirements, base, cache, refresh_dependencies, say)
        added.append(layer)
        kinds.append("dependencies")
    code = write_layer(
        [(f"{APP_DIR}/{relative}", path) for relative, path in files],
        cache / "blobs",
        folders=[APP_DIR],
    )
    added.append(code)
    kinds.append("code")
    config = image_config(base, added, name, version)
    config_bytes = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    config_file = cache / "blobs" / config_digest.split(":", 1)[1]
    config_file.write_bytes(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": config_digest,
            "size": len(config_bytes),
        },
        "layers": [
            {**layer, "mediaType": LAYER_MEDIA_TYPE}
            if layer.get("mediaType") == _DOCKER_LAYER
            else layer
            for layer in base.layers
        ]
        + [layer.descriptor() for layer in added],
    }
    manifest_bytes = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()

    # Everything local is done: now the registry.
    registry = destination.registry
    repository = destination.repository(namespace, name)
    same_registry = registry.host == base_registry.host
    result = Built(
        image=Reference(registry.host, repository),
        tag=Reference(registry.host, repository, tag=_tag(version)),
        dependency_packages=packages,
        dropped_requirements=requirements.dropped,
        added_requirements=requirements.added,
    )

    def fetch(digest: str) -> Callable[[], Path]:
        def source() -> Path:
            blob = cache / "blobs" / digest.split(":", 1)[1]
            if not blob.is_file():
                base_registry.fetch_blob(base_ref.repository, digest, blob)
            return blob

        return source

    for layer in base.layers:
        sent = registry.push_blob(
            repository,
            layer["digest"],
            fetch(layer["digest"]),
            mount_from=base_ref.repository if same_registry else None,
        )
        if sent:
            result.uploaded["base"] = result.uploaded.get("base", 0) + int(layer["size"])
    for kind, layer in zip(kinds, added, strict=True):
        if registry.push_blob(repository, layer.digest, lambda layer=layer: layer.path):
            result.uploaded[kind] = layer.size
        else:
            result.reused.append(kind)
    registry.push_blob(repository, config_digest, lambda: config_file)
    digest = registry.put_manifest(repository, result.tag.tag or "", manifest_bytes, OCI_MANIFEST)
    result.image = result.image.pinned(digest)
    return result
