"""What a base image already has, read from its layers."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from daeploy.images.base import scan_layer

SITE = "usr/local/lib/python3.11/dist-packages"


def _layer(path: Path, members: list[tuple[str, bool]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, is_dir in members:
            info = tarfile.TarInfo(name)
            if is_dir:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = 1
                tar.addfile(info, io.BytesIO(b"x"))
    return path


def test_folders_files_eggs_and_whiteouts(tmp_path: Path) -> None:
    found: dict[str, tuple[str, str]] = {}
    scan_layer(
        _layer(
            tmp_path / "one.tar.gz",
            [
                (f"{SITE}/daeploy-0.1.0.dist-info", True),
                (f"./{SITE}/Pandas-2.2.3.dist-info/METADATA", False),  # no folder entry
                ("usr/lib/python3/dist-packages/python_apt-2.6.0.egg-info/PKG-INFO", False),
                (f"{SITE}/numpy-2.4.6.dist-info/RECORD", False),  # not the metadata: ignored
                (f"{SITE}/old_pkg-1.0.dist-info", True),
            ],
        ),
        found,
    )
    assert found == {
        "daeploy": (SITE, "0.1.0"),
        "pandas": (SITE, "2.2.3"),
        "python-apt": ("usr/lib/python3/dist-packages", "2.6.0"),
        "old-pkg": (SITE, "1.0"),
    }
    scan_layer(
        _layer(tmp_path / "two.tar.gz", [(f"{SITE}/.wh.old_pkg-1.0.dist-info", False)]), found
    )
    assert "old-pkg" not in found
