"""Small real artefacts for the image tests: an sdist, a base image in a registry, and
the registry itself (the binary the local cluster builds) on a free loopback port."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from daeploy.images.layers import write_layer
from daeploy.images.registry import OCI_MANIFEST, Registry

SITE = "usr/local/lib/python3.11/dist-packages"


def make_sdist(folder: Path, name: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sdist = folder / f"{name}-{version}.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        data = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        info = tarfile.TarInfo(f"{name}-{version}/PKG-INFO")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return sdist


def push_base(registry: Registry, root: Path, repository: str = "daeploy-runtime") -> str:
    """A stand-in runtime image: the SDK and one dependency of it, as dist-info folders."""
    tree = root / "base-tree"
    entries = []
    for dist in ("daeploy-0.1.0.dist-info", "packaging-24.0.dist-info"):
        meta = tree / dist
        meta.mkdir(parents=True)
        (meta / "METADATA").write_text(f"Name: {dist.split('-')[0]}\n")
        entries += [(f"{SITE}/{dist}", meta), (f"{SITE}/{dist}/METADATA", meta / "METADATA")]
    layer = write_layer(entries, root / "base-blobs")
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["python3"], "User": "10001"},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
    }
    config_bytes = json.dumps(config).encode()
    config_file = root / "base-config.json"
    config_file.write_bytes(config_bytes)
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    registry.push_blob(repository, layer.digest, lambda: layer.path)
    registry.push_blob(repository, config_digest, lambda: config_file)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config_bytes),
        },
        "layers": [layer.descriptor()],
    }
    data = json.dumps(manifest).encode()
    registry.put_manifest(repository, "0.1.0", data, OCI_MANIFEST)
    return f"{registry.host}/{repository}:0.1.0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_registry(
    binary: Path, root: Path, extra: dict[str, Any] | None = None
) -> Iterator[str]:
    """``127.0.0.1:<port>`` of a registry of its own, stopped by PID afterwards."""
    host = f"127.0.0.1:{_free_port()}"
    config = root / "registry.json"
    config.write_text(
        json.dumps(
            {
                "version": "0.1",
                "log": {"level": "error"},
                "storage": {
                    "filesystem": {"rootdirectory": str(root / "registry-data")},
                    "delete": {"enabled": True},
                },
                "http": {"addr": host},
                **(extra or {}),
            }
        )
    )
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
    process = subprocess.Popen(
        [str(binary), "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://{host}/v2/", timeout=1).status_code in (200, 401):
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"registry did not start: {process.stderr.read()!r}")
            time.sleep(0.1)
        yield host
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
