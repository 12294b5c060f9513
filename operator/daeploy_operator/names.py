"""Names and labels of everything the operator creates, beyond the shared contract.

Object names and routes come from :mod:`daeploy.names` and the wire strings (API coordinates,
labels, annotations, env names, paths) from :mod:`daeploy.contract`, both shared with the SDK
and the CLI; this module only adds what is the operator's own.
"""

from __future__ import annotations

from daeploy.contract import (
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    SERVICE_LABEL,
    SOURCE_ARCHIVE_KEY,
    VERSION_LABEL,
)
from daeploy.names import label_value, service_object_name, version_object_name

CONTAINER_NAME = "service"
CONTAINER_PORT_NAME = "http"
SERVICE_PORT = 80

SOURCE_MOUNT = "/opt/daeploy/source"
SOURCE_ARCHIVE = f"{SOURCE_MOUNT}/{SOURCE_ARCHIVE_KEY}"

# A per-name Service with no main version selects this label value, which no pod carries.
NO_VERSION = ""


def version_child_name(name: str, version: str) -> str:
    """Name of a version's Deployment and Service."""
    return version_object_name(name, version)


def data_claim_name(name: str, version: str) -> str:
    """Name of a version's PersistentVolumeClaim (spec.persistence): its own, like its pods."""
    return f"{version_child_name(name, version)}-data"


def name_child_name(name: str) -> str:
    """Name of the per-name Service and Ingress."""
    return service_object_name(name)


def name_labels(name: str) -> dict[str, str]:
    """Labels of everything that belongs to a service name."""
    return {MANAGED_BY_LABEL: MANAGED_BY_OPERATOR, SERVICE_LABEL: label_value(name)}


def version_labels(name: str, version: str) -> dict[str, str]:
    """Labels of everything that belongs to one version, its pods included."""
    return {**name_labels(name), VERSION_LABEL: label_value(version)}


def version_selector(name: str, version: str) -> dict[str, str]:
    """Pod selector of one version: stable for its lifetime, as Deployment selectors must be."""
    return {SERVICE_LABEL: label_value(name), VERSION_LABEL: label_value(version)}


def label_selector(labels: dict[str, str]) -> str:
    """A labelSelector query value."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def url_for(host: str, path: str) -> str:
    """Where a route answers: absolute with a host, else the path on any ingress address."""
    return f"http://{host}{path}" if host else path
