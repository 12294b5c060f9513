"""The getters Daeploy 1.x services call to learn who and where they are, kept so they run as is.

Who: ``daeploy.identity.Identity.from_env()`` (``DAEPLOY_SERVICE_NAME``/``_VERSION``, which the
operator sets). 1.x's manager set ``daeploy.name``/``daeploy.version`` instead; those are read
when ours are unset, so a service started the 1.x way still knows itself.

Where: there is no manager in Daeploy for Kubernetes. Services reach each other through
``daeploy.communication.call_service``; the manager getters below map to the nearest thing that
exists, the ingress base URL ``DAEPLOY_GATEWAY_URL``, and each says what it returns without it.

The monitoring store's settings keep 1.x's variables and formats, ``<number><unit>``.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from daeploy.calls import call_token
from daeploy.contract import (
    GATEWAY_URL_ENV,
    LEGACY_NAME_ENV,
    LEGACY_VERSION_ENV,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
)
from daeploy.identity import DEFAULT_VERSION, Identity
from daeploy.monitoring.limits import clean_interval_seconds, table_limit
from daeploy.names import version_path

__all__ = [
    "HTTP_METHODS",
    "UNKNOWN_NAME",
    "UNKNOWN_VERSION",
    "get_authorized_domains",
    "get_daeploy_manager_hostname",
    "get_daeploy_manager_url",
    "get_db_clean_interval_seconds",
    "get_db_table_limit",
    "get_headers",
    "get_service_access_token",
    "get_service_name",
    "get_service_root_path",
    "get_service_version",
]


# 1.x's placeholders. The name is never unknown here (locally it is the script's folder name),
# so compare ``get_service_root_path() == ""`` to tell a local run; the version does default
# to 0.0.0 in both.
UNKNOWN_NAME = "unknown"
UNKNOWN_VERSION = DEFAULT_VERSION
HTTP_METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "PATCH"]

# 1.x's fallback for a missing token and hostname; kept so headers look the same.
_NO_TOKEN = "unknown"
_NO_HOSTNAME = "localhost"


def _identity() -> Identity:
    """Ours first, 1.x's variables for whichever of name and version ours leave unset."""
    env = dict(os.environ)
    for ours, legacy in (
        (SERVICE_NAME_ENV, LEGACY_NAME_ENV),
        (SERVICE_VERSION_ENV, LEGACY_VERSION_ENV),
    ):
        if not env.get(ours) and env.get(legacy):
            env[ours] = env[legacy]
    return Identity.from_env(env)


def get_service_name() -> str:
    """This service's name, as ``service.name`` has it (locally: the main script's folder)."""
    return _identity().name


def get_service_version() -> str:
    """This service's version; ``0.0.0`` when run locally."""
    return _identity().version


def get_service_root_path() -> str:
    """The path the ingress serves this version under, ``/services/<name>_<version>``.

    Empty when no name or version was given (a local run, served at ``/``), as in 1.x. Web UIs
    mounted in a service (Dash, Streamlit) need it as their URL prefix.
    """
    names = (SERVICE_NAME_ENV, SERVICE_VERSION_ENV, LEGACY_NAME_ENV, LEGACY_VERSION_ENV)
    if not any(os.environ.get(name) for name in names):
        return ""
    identity = _identity()
    return version_path(identity.name, identity.version)


def get_daeploy_manager_url() -> str:
    """1.x: the manager's URL. Here: the ingress base URL, ``DAEPLOY_GATEWAY_URL``, or "".

    Inside a cluster it is usually unset and services find each other by DNS, so build calls
    with ``call_service`` rather than from this URL.
    """
    return os.environ.get(GATEWAY_URL_ENV, "").strip().rstrip("/")


def get_daeploy_manager_hostname() -> str:
    """1.x: the manager's host name. Here: the host of ``DAEPLOY_GATEWAY_URL``, or localhost."""
    return urlsplit(get_daeploy_manager_url()).hostname or _NO_HOSTNAME


def get_service_access_token() -> str:
    """The token this pod sends to other services (``call_service`` sends it by itself).

    "unknown" when the pod has none (outside a cluster, or access control is off), as in 1.x.
    """
    return call_token() or _NO_TOKEN


def get_headers() -> dict[str, str]:
    """Headers for a hand-made request through the ingress, as 1.x built them."""
    return {
        "Authorization": f"Bearer {get_service_access_token()}",
        "Content-Type": "application/json",
        "Host": get_daeploy_manager_hostname(),
    }


def get_authorized_domains() -> list[str]:
    """Hosts a redirect may go to with the Authorization header kept: the ingress host."""
    return [get_daeploy_manager_hostname()]


def get_db_table_limit() -> tuple[int, str]:
    """How much the monitoring store keeps: ``DAEPLOY_SERVICE_DB_TABLE_LIMIT``, e.g. 30days.

    Returns ``(number, unit)``, the unit one of rows, days, hours, minutes, seconds; the
    default is ``(90, "days")``, and a bad value is logged and replaced by it. Read by
    ``daeploy.monitoring.limits``, which the store itself uses, so both always agree.
    """
    limit = table_limit()
    return limit.number, limit.unit


def get_db_clean_interval_seconds() -> float:
    """Seconds between cleanings of the monitoring store: ``DAEPLOY_SERVICE_DB_CLEAN_INTERVAL``.

    Same format as the table limit without ``rows``; the default is 7days.
    """
    return clean_interval_seconds()
