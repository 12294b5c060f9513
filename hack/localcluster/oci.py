"""Write OCI image archives from plain directories, byte for byte reproducibly.

Used for the one-binary component images (pause, CoreDNS, Traefik); the project's own images
come from their Dockerfiles through buildah (``images.py``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Fixed metadata keeps two builds of the same inputs identical.
_TAR_FLAGS = (
    "--sort=name",
    "--mtime=@0",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--format=posix",
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
)


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    workdir: str = "/"
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _layer(src: Path, blobs: Path) -> tuple[str, str, int]:
    raw = blobs / "layer.tar"
    subprocess.run(["tar", *_TAR_FLAGS, "-C", str(src), "-cf", str(raw), "."], check=True)
    diff_id = _sha256(raw)
    gz = blobs / "layer.tar.gz"
    with (
        raw.open("rb") as fi,
        gz.open("wb") as fo,
        gzip.GzipFile(filename="", mode="wb", fileobj=fo, mtime=0, compresslevel=6) as z,
    ):
        shutil.copyfileobj(fi, z, 1 << 20)
    raw.unlink()
    digest = _sha256(gz)
    size = gz.stat().st_size
    gz.rename(blobs / digest)
    return diff_id, digest, size


def _put_json(obj: dict, blobs: Path) -> tuple[str, int]:
    data = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return digest, len(data)


def write_archive(out: Path, ref: str, layers: list[Path], config: ImageConfig) -> str:
    """Write an oci-archive named ``ref`` (containerd reads ``io.containerd.image.name``)."""
    with tempfile.TemporaryDirectory(prefix="oci-") as tmp:
        work = Path(tmp)
        blobs = work / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        made = [_layer(src, blobs) for src in layers]
        cfg: dict = {
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                *config.env,
            ],
            "WorkingDir": config.workdir,
        }
        if config.entrypoint:
            cfg["Entrypoint"] = list(config.entrypoint)
        if config.cmd:
            cfg["Cmd"] = list(config.cmd)
        if config.user:
            cfg["User"] = config.user
        if config.labels:
            cfg["Labels"] = dict(config.labels)
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + d for d, _, _ in made]},
        }
        cdig, csize = _put_json(image_config, blobs)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + cdig,
                "size": csize,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + d,
                    "size": s,
                }
                for _, d, s in made
            ],
        }
        mdig, msize = _put_json(manifest, blobs)
        tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": "sha256:" + mdig,
                    "size": msize,
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
        (work / "index.json").write_text(json.dumps(index))
        (work / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_suffix(".partial")
        subprocess.run(
            ["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner",
             "-C", str(work), "-cf", str(tmp_out), "oci-layout", "index.json", "blobs"],
            check=True,
        )  # fmt: skip
        os.replace(tmp_out, out)
    return "sha256:" + mdig
