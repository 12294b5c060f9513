"""Names, labels and paths of everything the operator creates.

Object names come from :mod:`daeploy.names`, the single source shared with the SDK and the CLI;
this module only adds what is the operator's own (labels, routes, API coordinates).
"""

from __future__ import annotations

from daeploy.names import label_value, service_object_name, version_object_name

API_GROUP = "daeploy.io"
API_VERSION = "v1alpha1"
API_GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"
KIND = "DaeployService"
PLURAL = "daeployservices"

FIELD_MANAGER = "daeploy-operator"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "daeploy-operator"
SERVICE_LABEL = "daeploy.io/service"
VERSION_LABEL = "daeploy.io/version"

HOST_ANNOTATION = "daeploy.io/host"
# On a per-name Ingress: when its namespace first deployed the name; the earliest holds the host.
ROUTE_CLAIM_ANNOTATION = "daeploy.io/route-claimed-at"

SERVICE_ACCOUNT = "daeploy-service"
EVENTS_ROLE = "daeploy-service-events"

CONTAINER_NAME = "service"
CONTAINER_PORT_NAME = "http"
SERVICE_PORT = 80

SOURCE_MOUNT = "/opt/daeploy/source"
SOURCE_ARCHIVE_KEY = "source.tar.gz"
SOURCE_ARCHIVE = f"{SOURCE_MOUNT}/{SOURCE_ARCHIVE_KEY}"

# The pod environment the operator sets (README contract); spec.env may not override them.
RESERVED_ENV = (
    "DAEPLOY_SERVICE_NAME",
    "DAEPLOY_SERVICE_VERSION",
    "DAEPLOY_NAMESPACE",
    "DAEPLOY_RESOURCE_NAME",
    "DAEPLOY_RESOURCE_UID",
    "DAEPLOY_PORT",
    "DAEPLOY_SOURCE_ARCHIVE",
)

READY_PATH = "/~health/ready"
LIVE_PATH = "/~health/live"

# A per-name Service with no main version selects this label value, which no pod carries.
NO_VERSION = ""


def version_child_name(name: str, version: str) -> str:
    """Name of a version's Deployment and Service."""
    return version_object_name(name, version)


def name_child_name(name: str) -> str:
    """Name of the per-name Service and Ingress."""
    return service_object_name(name)


def name_labels(name: str) -> dict[str, str]:
    """Labels of everything that belongs to a service name."""
    return {MANAGED_BY_LABEL: MANAGED_BY, SERVICE_LABEL: label_value(name)}


def version_labels(name: str, version: str) -> dict[str, str]:
    """Labels of everything that belongs to one version, its pods included."""
    return {**name_labels(name), VERSION_LABEL: label_value(version)}


def version_selector(name: str, version: str) -> dict[str, str]:
    """Pod selector of one version: stable for its lifetime, as Deployment selectors must be."""
    return {SERVICE_LABEL: label_value(name), VERSION_LABEL: label_value(version)}


def label_selector(labels: dict[str, str]) -> str:
    """A labelSelector query value."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def service_path(name: str) -> str:
    """The route of the main version."""
    return f"/services/{name}"


def version_path(name: str, version: str) -> str:
    """The route of one version."""
    return f"/services/{name}_{version}"


def url_for(host: str, path: str) -> str:
    """Where a route answers: absolute with a host, else the path on any ingress address."""
    return f"http://{host}{path}" if host else path
