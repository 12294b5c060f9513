"""Extracting an uploaded tar.gz without letting it write outside its folder."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath

DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class UnsafeArchiveError(ValueError):
    """The archive holds a member that would escape the target folder, or is not an archive."""


def _inside(root: Path, candidate: Path) -> bool:
    return candidate == root or root in candidate.parents


def check_member(member: tarfile.TarInfo, root: Path) -> None:
    """Reject absolute paths, ``..``, links leaving ``root``, and device or fifo files."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or os.path.isabs(name) or (parts and ":" in parts[0]):
        raise UnsafeArchiveError(f"member {name!r} has an absolute path")
    if ".." in parts or ".." in name.replace("\\", "/").split("/"):
        raise UnsafeArchiveError(f"member {name!r} contains '..'")
    target = (root / name).resolve()
    if not _inside(root, target):
        raise UnsafeArchiveError(f"member {name!r} would be written outside the folder")
    if member.issym():
        link = member.linkname
        if os.path.isabs(link) or link.startswith(("/", "\\")):
            raise UnsafeArchiveError(f"symlink {name!r} points to absolute path {link!r}")
        if not _inside(root, (root / name).parent.joinpath(link).resolve()):
            raise UnsafeArchiveError(f"symlink {name!r} -> {link!r} leaves the folder")
    elif member.islnk():
        link = member.linkname
        if os.path.isabs(link) or not _inside(root, (root / link).resolve()):
            raise UnsafeArchiveError(f"hard link {name!r} -> {link!r} leaves the folder")
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"member {name!r} is a device or fifo, which a service needs not")


def safe_extract(archive: Path, destination: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Extract ``archive`` into ``destination`` after checking every member first."""
    root = destination.resolve()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            total = 0
            for member in members:
                check_member(member, root)
                total += max(member.size, 0)
            if total > max_bytes:
                raise UnsafeArchiveError(
                    f"archive unpacks to {total} bytes, more than the limit of {max_bytes}"
                )
            if hasattr(tarfile, "data_filter"):
                # Python's own checks on top of ours, and no setuid bits or odd owners.
                tar.extractall(root, members=members, filter="data")
            else:  # pragma: no cover - Pythons without PEP 706
                tar.extractall(root, members=members)
    except (tarfile.TarError, EOFError, OSError) as error:
        filter_error = getattr(tarfile, "FilterError", None)
        if filter_error is not None and isinstance(error, filter_error):
            raise UnsafeArchiveError(str(error)) from error
        raise UnsafeArchiveError(f"{archive} is not a readable tar.gz archive: {error}") from error
