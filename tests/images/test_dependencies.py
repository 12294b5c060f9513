"""requirements.txt read as pip reads it, checked against the base, installed as wheels only."""

from __future__ import annotations

from pathlib import Path

import pytest
from image_artifacts import SITE, make_sdist
from wheel_files import make_wheel

from daeploy.images.base import BaseImage
from daeploy.images.dependencies import (
    DependencyError,
    install,
    layer_entries,
    layer_key,
    read,
    unmet,
)
from daeploy.images.reference import parse

BASE = BaseImage(
    reference=parse("registry.local:5000/daeploy-runtime:0.1.0"),
    digest="sha256:" + "0" * 64,
    config={},
    layers=[],
    packages={"daeploy": "0.1.0", "fastapi": "0.115.0", "packaging": "24.0"},
    site_packages={"daeploy": "0.1.0", "fastapi": "0.115.0", "packaging": "24.0"},
    site_dir=SITE,
    python="3.11",
)


def test_read_inlines_includes_drops_the_sdk_and_absolutises_paths(tmp_path: Path) -> None:
    (tmp_path / "more.txt").write_text("numpy>=2  # arrays\n")
    (tmp_path / "requirements.txt").write_text(
        "# the tutorial's\ndaeploy==1.4.0\n-r more.txt\n--find-links ./wheels\nfastapi\\\n>=0.100\n"
    )
    found = read(tmp_path)
    # A 1.x pin: pandas comes too (1.x's SDK brought it); numpy is named already.
    assert found.lines == (
        "numpy>=2", f"--find-links {tmp_path / 'wheels'}", "fastapi >=0.100", "pandas>=2"
    )  # fmt: skip
    assert found.added == ("pandas>=2",)
    assert found.dropped == ("daeploy==1.4.0",)
    assert found.local_paths == (tmp_path / "wheels",)
    assert read(tmp_path / "missing-folder").lines == ()


def test_1x_code_gets_numpy_and_pandas_as_1x_gave_them(tmp_path: Path) -> None:
    # 1.x's ndarray example: data_types, and no requirements.txt at all.
    (tmp_path / "service.py").write_text("from daeploy.data_types import ArrayInput\n")
    assert read(tmp_path).lines == ("numpy>=1.24", "pandas>=2")
    pinned, plain, ours = (tmp_path / n for n in ("pinned", "plain", "ours"))
    for folder, requirements in ((pinned, "daeploy==1.3.1\n"), (plain, "daeploy\nhttpx\n"),
                                 (ours, "daeploy>=2\n")):  # fmt: skip
        folder.mkdir()
        (folder / "requirements.txt").write_text(requirements)
        (folder / "service.py").write_text("import numpy  # named nowhere: that is on the user\n")
    assert read(pinned).added == ("numpy>=1.24", "pandas>=2")
    # An unversioned `daeploy` or a pin on this SDK says nothing about 1.x: nothing is added.
    assert read(plain).lines == ("httpx",)
    assert read(ours).added == ()


def test_a_missing_include_is_named(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r nowhere.txt\n")
    with pytest.raises(DependencyError, match=r"nowhere\.txt"):
        read(tmp_path)


def test_unmet_counts_only_what_the_base_lacks(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "daeploy\nfastapi>=0.110\npackaging<24\nnumpy\nfastapi[all]\n"
        'pywin32; sys_platform == "win32"\n'
    )
    assert unmet(read(tmp_path), BASE) == ["packaging<24", "numpy", "fastapi[all]"]


def test_layer_key_follows_lines_base_and_local_wheels(tmp_path: Path) -> None:
    make_wheel(tmp_path / "wheels", "localpkg", "1.0")
    (tmp_path / "requirements.txt").write_text("--find-links ./wheels\nlocalpkg\n")
    first = layer_key(read(tmp_path), BASE)
    assert layer_key(read(tmp_path), BASE) == first
    make_wheel(tmp_path / "wheels", "localpkg", "1.1")
    assert layer_key(read(tmp_path), BASE) != first


def test_install_puts_wheels_where_the_base_python_looks(tmp_path: Path) -> None:
    make_wheel(tmp_path / "wheels", "localpkg", "1.0")
    make_wheel(tmp_path / "wheels", "packaging", "24.0", "SHADOW = True\n")
    (tmp_path / "requirements.txt").write_text(
        "--no-index\n--find-links ./wheels\nlocalpkg\npackaging\n"
    )
    target = tmp_path / "site"
    install(read(tmp_path), BASE, target)
    names = [name for name, _ in layer_entries(target, BASE)]
    assert f"{SITE}/localpkg/__init__.py" in names
    assert f"{SITE}/localpkg-1.0.dist-info/METADATA" in names
    # The base has packaging 24.0 already: the constraint kept that version and it is left out.
    assert not [n for n in names if "packaging" in n]


def test_a_package_without_a_wheel_is_named(tmp_path: Path) -> None:
    make_sdist(tmp_path / "wheels", "onlysource", "1.0")
    (tmp_path / "requirements.txt").write_text("--no-index\n--find-links ./wheels\nonlysource\n")
    with pytest.raises(DependencyError, match=r"^onlysource has no wheel for Linux x86_64"):
        install(read(tmp_path), BASE, tmp_path / "site")


def test_a_conflict_with_the_sdk_says_so(tmp_path: Path) -> None:
    make_wheel(tmp_path / "wheels", "packaging", "23.0")
    (tmp_path / "requirements.txt").write_text(
        "--no-index\n--find-links ./wheels\npackaging==23.0\n"
    )
    with pytest.raises(DependencyError, match="conflicts with the runtime image's packages"):
        install(read(tmp_path), BASE, tmp_path / "site")
