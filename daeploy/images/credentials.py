"""Registry credentials where Docker, Podman and buildah keep them (``docker login`` works)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path


class CredentialsError(RuntimeError):
    """A config file exists but cannot be used; the message names it and the fix."""


def config_files() -> list[Path]:
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    docker = os.environ.get("DOCKER_CONFIG")
    files.append(Path(docker) / "config.json" if docker else Path.home() / ".docker/config.json")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        files.append(Path(runtime) / "containers/auth.json")
    return files


def _entry(auths: dict, host: str) -> dict | None:
    for key in (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/"):
        if key in auths:
            return auths[key]
    if host == "docker.io":
        return auths.get("https://index.docker.io/v1/")
    return None


def lookup(host: str) -> tuple[str, str] | None:
    """(user, password) for ``host`` from the first config that has it, else None."""
    for path in config_files():
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise CredentialsError(f"cannot read {path}: {error}; fix or remove it") from None
        entry = _entry(data.get("auths") or {}, host)
        if entry is None:
            helper = (data.get("credHelpers") or {}).get(host) or data.get("credsStore")
            if helper and host in (data.get("credHelpers") or {}):
                raise CredentialsError(
                    f"{path} keeps the credentials of {host} in docker-credential-{helper}, "
                    "which daeploy does not call: log in with REGISTRY_AUTH_FILE set to a file "
                    "(`docker login` / `podman login --authfile`)"
                )
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise CredentialsError(
                    f"{path}: the auth of {host} is not base64 user:password; log in again"
                ) from None
            return user, password
        if entry.get("username"):
            return entry["username"], entry.get("password", "")
        if entry.get("identitytoken"):
            return "<token>", entry["identitytoken"]
    return None
