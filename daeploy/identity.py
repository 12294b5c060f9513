"""Who this service is, read from the environment the operator gives every pod.

The operator injects these variables (README, "Environment a service pod gets from the operator"):

``DAEPLOY_SERVICE_NAME``
    Service name (``die_roller``). Locally it defaults to the folder name of the main script,
    made into a valid service name, or ``service``.
``DAEPLOY_SERVICE_VERSION``
    Semantic version of this deployment. Locally ``0.0.0``.
``DAEPLOY_NAMESPACE``
    Kubernetes namespace; unset outside a cluster.
``DAEPLOY_RESOURCE_NAME``, ``DAEPLOY_RESOURCE_UID``
    The owning DaeployService object, which ``notify`` attaches its Events to.
``DAEPLOY_PORT``
    Port uvicorn listens on, 8000 by default.

The SDK also reads a few tuning variables of its own, documented where they are used:
``DAEPLOY_SHUTDOWN_DELAY`` and ``DAEPLOY_GRACEFUL_TIMEOUT`` (``daeploy._service``),
``DAEPLOY_GATEWAY_URL``, ``DAEPLOY_SERVICE_URLS`` and ``DAEPLOY_CALL_*`` (``daeploy.calls``).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from daeploy.contract import (
    NAMESPACE_ENV,
    PORT_ENV,
    RESOURCE_NAME_ENV,
    RESOURCE_UID_ENV,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
)
from daeploy.names import (
    InvalidNameError,
    service_path,
    validate_service_name,
    validate_version,
    version_path,
)

DEFAULT_NAME = "service"
DEFAULT_VERSION = "0.0.0"
DEFAULT_PORT = 8000


class ConfigurationError(ValueError):
    """An environment variable holds a value the SDK cannot use."""


@dataclass(frozen=True)
class Identity:
    """Name, version and Kubernetes coordinates of the running service."""

    name: str
    version: str
    namespace: str | None = None
    resource_name: str | None = None
    resource_uid: str | None = None
    port: int = DEFAULT_PORT

    @property
    def prefixes(self) -> tuple[str, str]:
        """URL prefixes the ingress forwards unchanged: per version first, it is the longer."""
        return (version_path(self.name, self.version), service_path(self.name))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Identity:
        env = os.environ if env is None else env
        name = env.get(SERVICE_NAME_ENV) or default_name()
        version = env.get(SERVICE_VERSION_ENV) or DEFAULT_VERSION
        try:
            validate_service_name(name)
            validate_version(version)
        except InvalidNameError as error:
            raise ConfigurationError(
                f"{error} (from {SERVICE_NAME_ENV} / {SERVICE_VERSION_ENV})"
            ) from error
        return cls(
            name=name,
            version=version,
            namespace=env.get(NAMESPACE_ENV) or None,
            resource_name=env.get(RESOURCE_NAME_ENV) or None,
            resource_uid=env.get(RESOURCE_UID_ENV) or None,
            port=env_int(PORT_ENV, DEFAULT_PORT, env=env, minimum=1, maximum=65535),
        )


def default_name() -> str:
    """A local name from the main script's folder, so two local services get different names."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main_file:
        return DEFAULT_NAME
    folder = Path(main_file).resolve().parent.name
    candidate = re.sub(r"[^a-z0-9]+", "_", folder.lower()).strip("_")[:40].strip("_")
    try:
        return validate_service_name(candidate)
    except InvalidNameError:
        return DEFAULT_NAME


def in_cluster(env: Mapping[str, str] | None = None) -> bool:
    """Inside a pod the operator made: Kubernetes sets the first, the operator the second."""
    env = os.environ if env is None else env
    return bool(env.get("KUBERNETES_SERVICE_HOST") and env.get(NAMESPACE_ENV))


def env_int(
    name: str,
    default: int,
    *,
    env: Mapping[str, str] | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    return int(env_float(name, default, env=env, minimum=minimum, maximum=maximum, integer=True))


def env_float(
    name: str,
    default: float,
    *,
    env: Mapping[str, str] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
) -> float:
    """Read a number from the environment; a bad value names the variable and the fix."""
    env = os.environ if env is None else env
    raw = env.get(name, "").strip()
    if not raw:
        return default
    kind = "an integer" if integer else "a number"
    try:
        value: float = int(raw) if integer else float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not {kind}; set it to {kind}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigurationError(f"{name}={raw!r} is out of range; set it {bounds}")
    return value
