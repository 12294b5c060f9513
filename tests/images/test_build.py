"""A folder built into an image and pushed to a real distribution registry."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import httpx
import pytest
from image_artifacts import SITE, make_sdist, push_base
from wheel_files import make_wheel

from daeploy.cli.packing import IgnoreRules, included_paths
from daeploy.images.build import Built, Destination, build
from daeploy.images.dependencies import DependencyError
from daeploy.images.reference import parse
from daeploy.images.registry import Registry, RegistryError


def _folder(root: Path, requirement: str = "localpkg") -> Path:
    folder = root / "svc"
    folder.mkdir()
    (folder / "service.py").write_text("from daeploy import service\nservice.run()\n")
    make_wheel(folder / "wheels", "localpkg", "1.0")
    (folder / "requirements.txt").write_text(
        # An SDK line that names no 1.x release: left out, and no numpy/pandas added (offline).
        f"daeploy>=2\n--no-index\n--find-links ./wheels\n{requirement}\n"
    )
    return folder


def _build(
    registry: Registry, folder: Path, cache: Path, name: str = "np", version: str = "1.0.0"
) -> Built:
    base = parse(f"{registry.host}/daeploy-runtime:0.1.0")
    files = included_paths(folder, IgnoreRules.for_folder(folder))
    return build(
        folder, files, name, version, "team", Destination(registry), base, registry, cache=cache
    )


def _catalog(host: str) -> list[str]:
    return httpx.get(f"http://{host}/v2/_catalog").json()["repositories"]


def test_build_push_and_rebuild_only_the_code(registry_host: str, tmp_path: Path) -> None:
    with Registry(registry_host) as registry:
        push_base(registry, tmp_path)
        folder = _folder(tmp_path)
        first = _build(registry, folder, tmp_path / "cache")
        assert str(first.tag) == f"{registry_host}/team/np:1.0.0"
        assert first.image.digest and first.image.tag is None
        # The base is linked inside the registry (cross-repository mount), never sent again.
        assert set(first.uploaded) == {"dependencies", "code"}
        assert first.dependency_packages == ["localpkg-1.0"]
        assert first.dropped_requirements == ("daeploy>=2",)

        manifest = registry.get_manifest("team/np", "1.0.0")
        assert manifest.digest == first.image.digest
        body = manifest.json()
        assert len(body["layers"]) == 3
        config = json.loads(registry.read_blob("team/np", body["config"]["digest"]))
        assert config["config"]["WorkingDir"] == "/app"
        assert config["config"]["Cmd"] == ["python", "service.py"]
        assert config["config"]["User"] == "10001"
        assert len(config["rootfs"]["diff_ids"]) == 3

        deps = registry.read_blob("team/np", body["layers"][1]["digest"])
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(deps))) as tar:
            assert f"{SITE}/localpkg/__init__.py" in tar.getnames()

        # One line of code changed: only the code layer travels.
        with (folder / "service.py").open("a") as f:
            f.write("# one more line\n")
        second = _build(registry, folder, tmp_path / "cache", version="1.0.1")
        assert set(second.uploaded) == {"code"}
        assert second.reused == ["dependencies"]
        assert second.image.digest != first.image.digest

        # Nothing changed: the same image, nothing uploaded.
        third = _build(registry, folder, tmp_path / "cache", version="1.0.1")
        assert third.image == second.image
        assert third.uploaded == {}


def test_a_package_without_a_wheel_stops_before_any_push(
    registry_host: str, tmp_path: Path
) -> None:
    with Registry(registry_host) as registry:
        push_base(registry, tmp_path)
        folder = _folder(tmp_path, requirement="onlysource")
        make_sdist(folder / "wheels", "onlysource", "2.0")
        before = _catalog(registry_host)
        with pytest.raises(DependencyError, match=r"^onlysource has no wheel"):
            _build(registry, folder, tmp_path / "cache")
        assert _catalog(registry_host) == before == ["daeploy-runtime"]


def test_a_missing_base_is_named(registry_host: str, tmp_path: Path) -> None:
    with (
        Registry(registry_host) as registry,
        pytest.raises(RegistryError, match=r"has no image daeploy-runtime:0\.1\.0"),
    ):
        _build(registry, _folder(tmp_path), tmp_path / "cache")
