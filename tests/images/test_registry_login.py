"""Pushing to a registry that wants a login, with the credentials `docker login` saves."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_artifacts import push_base, running_registry

from daeploy.images.registry import Registry, RegistryError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # bcrypt through the C library: the htpasswd format the registry reads


@pytest.fixture
def login_registry(registry_binary: Path, tmp_path: Path) -> Iterator[str]:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"ci:{crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    auth = {"auth": {"htpasswd": {"realm": "test", "path": str(htpasswd)}}}
    with running_registry(registry_binary, tmp_path, auth) as host:
        yield host


def _auth_file(path: Path, host: str, password: str) -> Path:
    token = base64.b64encode(f"ci:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return path


def test_no_login_says_how_to_log_in(
    login_registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    with Registry(login_registry) as registry, pytest.raises(RegistryError) as error:
        registry.has_blob("team/app", "sha256:" + "0" * 64)
    assert f"`docker login {login_registry}`" in str(error.value)


def test_a_wrong_password_is_refused_and_named(
    login_registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "REGISTRY_AUTH_FILE", str(_auth_file(tmp_path / "a.json", login_registry, "x"))
    )
    with Registry(login_registry) as registry, pytest.raises(RegistryError) as error:
        registry.has_blob("team/app", "sha256:" + "0" * 64)
    assert "401" in str(error.value) and "docker login" in str(error.value)
    assert "s3cret" not in str(error.value)


def test_saved_credentials_push_and_pull(
    login_registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth_file = _auth_file(tmp_path / "auth.json", login_registry, "s3cret")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    with Registry(login_registry) as registry:
        reference = push_base(registry, tmp_path)
        manifest = registry.get_manifest("daeploy-runtime", "0.1.0")
    assert reference.endswith("/daeploy-runtime:0.1.0")
    assert manifest.json()["schemaVersion"] == 2
