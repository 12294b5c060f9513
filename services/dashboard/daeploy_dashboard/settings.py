"""Where the dashboard serves and which API server it speaks to, from its pod's environment."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from daeploy.contract import (
    DASHBOARD_BASE_PATH_ENV,
    DASHBOARD_CA_FILE_ENV,
    DASHBOARD_NAMESPACE_ENV,
    DASHBOARD_PATH,
    DASHBOARD_PORT_ENV,
)
from daeploy.names import service_dns_name

DEFAULT_PORT = 8090
_PATH = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")


class SettingsError(ValueError):
    """A setting the dashboard cannot start with; the message names it and the fix."""


def version_address(name: str, namespace: str, version: str) -> str:
    """A version's own in-cluster address, where its ``/~monitor`` answers."""
    return f"http://{service_dns_name(name, namespace, version)}"


@dataclass(frozen=True)
class Settings:
    api_url: str
    """The API server every user's token is sent to."""
    ca_file: str | None = None
    """Its CA bundle; None: the system's CAs."""
    base_path: str = DASHBOARD_PATH
    default_namespace: str = "default"
    port: int = DEFAULT_PORT
    address_of: Callable[[str, str, str], str] = field(default=version_address)
    """(name, namespace, version) -> base URL of that version, for its monitored values."""

    def __post_init__(self) -> None:
        check_base_path(self.base_path)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """In the pod: the in-cluster API server, and the chart's settings."""
        env = os.environ if env is None else env
        host = env.get("KUBERNETES_SERVICE_HOST")
        if not host:
            raise SettingsError(
                "KUBERNETES_SERVICE_HOST is not set: the dashboard runs in a pod (install the "
                "chart with dashboard.enabled=true)"
            )
        port = env.get("KUBERNETES_SERVICE_PORT", "443")
        host = f"[{host}]" if ":" in host else host
        raw_port = env.get(DASHBOARD_PORT_ENV, str(DEFAULT_PORT))
        if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
            raise SettingsError(f"{DASHBOARD_PORT_ENV}={raw_port!r}: give a port, 1..65535")
        return cls(
            api_url=f"https://{host}:{port}",
            ca_file=env.get(DASHBOARD_CA_FILE_ENV) or None,
            base_path=env.get(DASHBOARD_BASE_PATH_ENV, DASHBOARD_PATH),
            default_namespace=env.get(DASHBOARD_NAMESPACE_ENV) or "default",
            port=int(raw_port),
        )


def check_base_path(path: str) -> str:
    """``""`` (the root) or ``/a/b``: no trailing slash, no dot segments."""
    if not _PATH.match(path) or any(part in (".", "..") for part in path.split("/")):
        raise SettingsError(
            f"{DASHBOARD_BASE_PATH_ENV}={path!r}: give a path such as {DASHBOARD_PATH} "
            "(letters, digits, '-', '_', '.', '~'; no trailing slash), or '' for the root"
        )
    return path
