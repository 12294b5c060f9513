"""Packing a folder: gitignore-like rules, defaults, determinism and the ConfigMap limit."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from cli_support import write_service

from daeploy.cli.errors import InputError
from daeploy.cli.packing import MAX_SOURCE_BYTES, IgnoreRules, pack


def names_in(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {member.name: member for member in tar.getmembers()}


def touch(folder: Path, *paths: str) -> None:
    for relative in paths:
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {relative}\n")


@pytest.mark.parametrize(
    ("rule", "path", "is_folder", "ignored"),
    [
        ("*.csv", "data.csv", False, True),
        ("*.csv", "deep/in/data.csv", False, True),
        ("*.csv", "data.csv.bak", False, False),
        ("/top.txt", "top.txt", False, True),
        ("/top.txt", "sub/top.txt", False, False),
        ("logs/", "logs", True, True),
        ("logs/", "logs", False, False),
        ("logs/", "a/logs", True, True),
        ("docs/*.md", "docs/a.md", False, True),
        ("docs/*.md", "docs/sub/a.md", False, False),
        ("docs/**/*.md", "docs/sub/deeper/a.md", False, True),
        ("docs/**/*.md", "docs/a.md", False, True),
        ("**/cache", "x/y/cache", True, True),
        ("build/**", "build/a/b", False, True),
        ("file?.txt", "file1.txt", False, True),
        ("file?.txt", "file10.txt", False, False),
        ("img[0-9].png", "img7.png", False, True),
        ("img[!0-9].png", "img7.png", False, False),
        ("# a comment", "# a comment", False, False),
        (r"\#hash", "#hash", False, True),
    ],
)
def test_gitignore_globs(rule: str, path: str, is_folder: bool, ignored: bool) -> None:
    assert IgnoreRules.from_lines([rule]).ignored(path, is_folder) is ignored


def test_last_matching_rule_wins() -> None:
    rules = IgnoreRules.from_lines(["*.csv", "!keep.csv"])
    assert rules.ignored("drop.csv", False)
    assert not rules.ignored("keep.csv", False)


def test_pack_applies_defaults_and_daeployignore(tmp_path: Path) -> None:
    folder = write_service(tmp_path / "svc")
    touch(
        folder,
        "requirements.txt",
        "helpers/util.py",
        "helpers/__pycache__/util.cpython-311.pyc",
        "stray.pyc",
        ".git/config",
        ".venv/bin/python",
        "data/big.csv",
        "results.csv",
        "keep.csv",
        "top.txt",
        "sub/top.txt",
        "notes/draft.md",
    )
    (folder / ".daeployignore").write_text(
        "# test rules\ndata/\n*.csv\n!keep.csv\n/top.txt\nnotes\n"
    )
    packed = pack(folder)
    members = names_in(packed.data)
    assert set(members) == {
        ".daeployignore",
        "helpers",
        "helpers/util.py",
        "keep.csv",
        "requirements.txt",
        "service.py",
        "sub",
        "sub/top.txt",
    }
    assert packed.names == sorted(packed.names)
    with tarfile.open(fileobj=io.BytesIO(packed.data), mode="r:gz") as tar:
        extracted = tar.extractfile("service.py")
        assert extracted is not None
        assert extracted.read() == (folder / "service.py").read_bytes()
    assert members["service.py"].uid == 0
    assert members["service.py"].uname == ""


def test_packing_is_deterministic_and_digest_follows_content(tmp_path: Path) -> None:
    folder = write_service(tmp_path / "svc")
    first, second = pack(folder), pack(folder)
    assert first.data == second.data
    assert first.digest == second.digest
    (folder / "service.py").write_text("# changed\n")
    assert pack(folder).digest != first.digest


def test_too_large_folder_names_the_fix(tmp_path: Path) -> None:
    folder = write_service(tmp_path / "svc")
    (folder / "model.bin").write_bytes(os.urandom(MAX_SOURCE_BYTES + 200_000))
    with pytest.raises(InputError) as caught:
        pack(folder)
    message = caught.value.message
    assert "model.bin (1.2 MB)" in message
    assert ".daeployignore" in message
    assert "--image" in message
    (folder / ".daeployignore").write_text("*.bin\n")
    assert "model.bin" not in pack(folder).names


def test_ignoring_service_py_is_refused(tmp_path: Path) -> None:
    folder = write_service(tmp_path / "svc")
    (folder / ".daeployignore").write_text("*.py\n")
    with pytest.raises(InputError, match=r"excludes service\.py"):
        pack(folder)


def test_folder_without_service_py_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"has no service\.py"):
        pack(tmp_path / "empty")


def test_links_inside_are_kept_and_links_outside_refused(tmp_path: Path) -> None:
    folder = write_service(tmp_path / "svc")
    touch(folder, "data/table.txt")
    (folder / "current").symlink_to("data", target_is_directory=True)
    members = names_in(pack(folder).data)
    assert members["current"].issym()
    assert members["current"].linkname == "data"
    outside = tmp_path / "outside"
    touch(outside, "secret.txt")
    (folder / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError, match=r"links to .*outside, outside the folder"):
        pack(folder)
    (folder / ".daeployignore").write_text("escape\n")
    assert "escape" not in pack(folder).names
