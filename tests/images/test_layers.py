"""Layers are named by their content: same files, same digest, whatever the times and modes."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path

from daeploy.images.layers import tree_entries, write_layer


def _tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("A = 1\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o700)
    os.chmod(root / "pkg" / "a.py", 0o600)
    return root


def test_same_content_same_digest(tmp_path: Path) -> None:
    one = _tree(tmp_path / "one")
    first = write_layer(tree_entries(one, "app"), tmp_path / "blobs", folders=["app"])
    os.utime(one / "pkg" / "a.py", (1, 1))
    again = write_layer(tree_entries(one, "app"), tmp_path / "blobs", folders=["app"])
    assert again == first
    (one / "pkg" / "a.py").write_text("A = 2\n")
    changed = write_layer(tree_entries(one, "app"), tmp_path / "blobs", folders=["app"])
    assert changed.digest != first.digest
    assert changed.diff_id != first.diff_id


def test_layer_bytes_match_their_names(tmp_path: Path) -> None:
    import hashlib

    layer = write_layer(tree_entries(_tree(tmp_path / "t"), "app"), tmp_path / "b", ["app"])
    data = layer.path.read_bytes()
    assert layer.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert layer.size == len(data)
    assert layer.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest()
    assert layer.path.name == layer.digest.split(":")[1]


def test_readable_by_the_service_user_and_owned_by_root(tmp_path: Path) -> None:
    layer = write_layer(tree_entries(_tree(tmp_path / "t"), "app"), tmp_path / "b", ["app"])
    with tarfile.open(layer.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == ["app", "app/pkg", "app/pkg/a.py", "app/run.sh"]
    assert members["app/pkg/a.py"].mode == 0o644
    assert members["app/run.sh"].mode == 0o755
    assert members["app"].mode == 0o755
    assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, 0)}
