"""Reproducible, content-addressed image layers, kept in a cache on the user's machine.

The same files give the same bytes (sorted names, no owners, fixed times and modes, gzip
without a timestamp), so the digest names the content: an unchanged folder makes a layer the
registry already has, and nothing is uploaded again.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
# numpy + pandas (157 MB of files) on the 2-core VM: level 9 took 14.7 s for 44.1 MB, level 6
# 4.0 s for 44.6 MB, level 3 2.0 s for 48.6 MB, level 1 1.5 s for 51.6 MB.
COMPRESS_LEVEL = 3


@dataclass(frozen=True)
class Layer:
    digest: str
    """sha256 of the compressed blob: its name in a registry."""
    diff_id: str
    """sha256 of the uncompressed tar: its name in the image config."""
    size: int
    path: Path

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": LAYER_MEDIA_TYPE, "digest": self.digest, "size": self.size}


class _Hashing:
    """A write-only file that hashes what passes through it on the way to ``target``."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()

    def tell(self) -> int:
        return self.size


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    if info.isdir():
        info.mode = 0o755
    elif info.isreg():
        # Readable by the service's own user whatever the mode on the user's machine.
        info.mode = 0o755 if info.mode & stat.S_IXUSR else 0o644
    return info


def write_layer(
    entries: Iterable[tuple[str, Path]], blobs: Path, folders: Iterable[str] = ()
) -> Layer:
    """A layer of ``(name in the image, file on disk)`` entries, stored as ``blobs/<hex>``.

    ``folders`` are directories to create first (for example ``app``); the parents of every
    entry's name are left to the base image, whose own modes stay as they are.
    """
    blobs.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".layer-", dir=blobs)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            compressed = _Hashing(raw)
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=COMPRESS_LEVEL
            ) as zipped:
                plain = _Hashing(zipped)
                with tarfile.open(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for folder in sorted(set(folders)):
                        info = tarfile.TarInfo(folder.strip("/"))
                        info.type = tarfile.DIRTYPE
                        tar.addfile(_normalised(info))
                    for name, path in sorted(entries, key=lambda e: e[0]):
                        tar.add(path, arcname=name, recursive=False, filter=_normalised)
        digest = "sha256:" + compressed.hash.hexdigest()
        final = blobs / digest.split(":", 1)[1]
        tmp.replace(final)
        return Layer(digest, "sha256:" + plain.hash.hexdigest(), compressed.size, final)
    finally:
        tmp.unlink(missing_ok=True)


def tree_entries(root: Path, prefix: str) -> list[tuple[str, Path]]:
    """Every file, link and folder under ``root``, named ``prefix/<relative path>``."""
    found: list[tuple[str, Path]] = []
    for directory, folders, files in os.walk(root):
        folders.sort()
        here = Path(directory)
        for name in [*folders, *sorted(files)]:
            path = here / name
            relative = path.relative_to(root).as_posix()
            found.append((f"{prefix.strip('/')}/{relative}", path))
    return found
