"""Child names and labels: valid Kubernetes names and label values, no collisions.

Also the one place the contract's wire values are spelled outside daeploy/contract.py.
"""

from __future__ import annotations

import re

import pytest

from daeploy import contract
from daeploy.names import service_path, version_path
from daeploy_operator.names import (
    name_child_name,
    url_for,
    version_child_name,
    version_labels,
)

DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

NAMES = ["die_roller", "x", "9lives", "a" * 40, "a_" * 19 + "zz"]
VERSIONS = [
    "1.0.0",
    "1.0.0-rc.1+build.5",
    "1.0.0-rc-1",
    "10.20.30-alpha.beta.gamma.delta+exp.sha.5114f85",
    "1.0.0-" + "x" * 100,
    "1.0.0-" + "x" * 99 + "y",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("version", VERSIONS)
def test_children_have_valid_service_names_and_label_values(name: str, version: str) -> None:
    # Services need RFC 1035 labels (start with a letter): the strictest kind we create.
    assert DNS_1035_LABEL.fullmatch(version_child_name(name, version))
    assert len(version_child_name(name, version)) <= 63
    assert DNS_1035_LABEL.fullmatch(name_child_name(name))
    for value in version_labels(name, version).values():
        assert len(value) <= 63
        assert LABEL_VALUE.fullmatch(value), value


def test_no_two_versions_share_a_child_name_or_version_label() -> None:
    pairs = [(n, v) for n in NAMES for v in VERSIONS]
    child_names = {version_child_name(n, v) for n, v in pairs}
    labels = {tuple(sorted(version_labels(n, v).items())) for n, v in pairs}
    assert len(child_names) == len(pairs)
    assert len(labels) == len(pairs)


def test_version_child_names_never_equal_a_name_child() -> None:
    name_children = {name_child_name(n) for n in NAMES}
    assert not name_children & {version_child_name(n, v) for n in NAMES for v in VERSIONS}


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("", "/services/a", "/services/a"),
        ("d.example.com", "/services/a_1.0.0", "http://d.example.com/services/a_1.0.0"),
    ],
)
def test_urls(host: str, path: str, expected: str) -> None:
    assert url_for(host, path) == expected


def test_paths_follow_daeploy() -> None:
    assert service_path("die_roller") == "/services/die_roller"
    assert version_path("die_roller", "1.0.0") == "/services/die_roller_1.0.0"


# What clusters, charts, manifests and users' scripts already hold: changing one breaks them.
WIRE_VALUES = {
    "API_GROUP": "daeploy.io",
    "API_VERSION": "v1alpha1",
    "API_GROUP_VERSION": "daeploy.io/v1alpha1",
    "KIND": "DaeployService",
    "PLURAL": "daeployservices",
    "CRD_NAME": "daeployservices.daeploy.io",
    "OPERATOR_NAME": "daeploy-operator",
    "MANAGED_BY_LABEL": "app.kubernetes.io/managed-by",
    "MANAGED_BY_OPERATOR": "daeploy-operator",
    "MANAGED_BY_CLI": "daeploy-cli",
    "CLI_MAIN_FIELD_MANAGER": "daeploy-cli-main",
    "CLI_TRAFFIC_FIELD_MANAGER": "daeploy-cli-traffic",
    "INVOKE_RESOURCE": "daeployservices/invoke",
    "PARAMETERS_RESOURCE": "daeployservices/parameters",
    "FIELD_MANAGER": "daeploy-operator",
    "SERVICE_LABEL": "daeploy.io/service",
    "VERSION_LABEL": "daeploy.io/version",
    "HOST_ANNOTATION": "daeploy.io/host",
    "ROUTE_CLAIM_ANNOTATION": "daeploy.io/route-claimed-at",
    "SEVERITY_ANNOTATION": "daeploy.io/severity",
    "EMAILS_ANNOTATION": "daeploy.io/emails",
    "EVENT_REASON": "Notification",
    "SERVICE_ACCOUNT_PREFIX": "daeploy-",
    "CALLER_ACCOUNT": "daeploy-caller",
    "ADMIN_ACCOUNT": "daeploy-admin",
    "CALLERS_ROLE_SUFFIX": "-callers",
    "PEERS_ROLE": "daeploy-peers",
    "ACCESS_MIDDLEWARE": "daeploy-access",
    "TRAEFIK_API_VERSION": "traefik.io/v1alpha1",
    "TOKEN_AUDIENCE": "daeploy.io",
    "GATE_NAME": "daeploy-gate",
    "GATE_INGRESS_PATH": "/ingress",
    "GATE_REVIEW_PATH": "/review",
    "CALL_TOKEN_DIR": "/var/run/secrets/daeploy.io/serviceaccount",
    "ACCESS_URL_ENV": "DAEPLOY_ACCESS_URL",
    "PUBLIC_ENV": "DAEPLOY_PUBLIC",
    "CALL_TOKEN_FILE_ENV": "DAEPLOY_CALL_TOKEN_FILE",
    "ACCESS_GATE_URL_ENV": "DAEPLOY_ACCESS_GATE_URL",
    "ACCESS_INGRESS_ANNOTATIONS_ENV": "DAEPLOY_ACCESS_INGRESS_ANNOTATIONS",
    "ACCESS_TRAEFIK_MIDDLEWARE_ENV": "DAEPLOY_ACCESS_TRAEFIK_MIDDLEWARE",
    "ACCESS_TRAEFIK_PLUGIN_ENV": "DAEPLOY_ACCESS_TRAEFIK_PLUGIN",
    "TRAFFIC_ROUTES_ENV": "DAEPLOY_TRAFFIC_ROUTES",
    "MIRROR_MAX_BODY_ENV": "DAEPLOY_MIRROR_MAX_BODY_BYTES",
    "GATE_AUDIENCES_ENV": "DAEPLOY_GATE_AUDIENCES",
    "GATE_CACHE_SECONDS_ENV": "DAEPLOY_GATE_CACHE_SECONDS",
    "GATE_PORT_ENV": "DAEPLOY_GATE_PORT",
    "ACCESS_INGRESS_GATE_URL_ENV": "DAEPLOY_ACCESS_INGRESS_GATE_URL",
    "EVENTS_ROLE": "daeploy-service-events",
    "ROUTE_PREFIX": "/services",
    "HEALTH_PREFIX": "/~health/",
    "MONITOR_PATH": "/~monitor",
    "METRICS_PATH": "/~metrics",
    "LIVE_PATH": "/~health/live",
    "READY_PATH": "/~health/ready",
    "DOCS_ASSETS_PATH": "/~docs",
    "SOURCE_ARCHIVE_KEY": "source.tar.gz",
    "ENV_PREFIX": "DAEPLOY_",
    "SERVICE_NAME_ENV": "DAEPLOY_SERVICE_NAME",
    "SERVICE_VERSION_ENV": "DAEPLOY_SERVICE_VERSION",
    "NAMESPACE_ENV": "DAEPLOY_NAMESPACE",
    "RESOURCE_NAME_ENV": "DAEPLOY_RESOURCE_NAME",
    "RESOURCE_UID_ENV": "DAEPLOY_RESOURCE_UID",
    "PORT_ENV": "DAEPLOY_PORT",
    "SOURCE_ARCHIVE_ENV": "DAEPLOY_SOURCE_ARCHIVE",
    "SERVICE_URLS_ENV": "DAEPLOY_SERVICE_URLS",
    "GATEWAY_URL_ENV": "DAEPLOY_GATEWAY_URL",
    "CALL_TIMEOUT_ENV": "DAEPLOY_CALL_TIMEOUT",
    "CALL_CONNECT_TIMEOUT_ENV": "DAEPLOY_CALL_CONNECT_TIMEOUT",
    "CALL_RETRIES_ENV": "DAEPLOY_CALL_RETRIES",
    "CALL_CONNECTION_MAX_AGE_ENV": "DAEPLOY_CALL_CONNECTION_MAX_AGE",
    "CALL_TRAFFIC_SECONDS_ENV": "DAEPLOY_CALL_TRAFFIC_SECONDS",
    "SHUTDOWN_DELAY_ENV": "DAEPLOY_SHUTDOWN_DELAY",
    "GRACEFUL_TIMEOUT_ENV": "DAEPLOY_GRACEFUL_TIMEOUT",
    "WORKDIR_ENV": "DAEPLOY_WORKDIR",
    "TERMINATION_LOG_ENV": "DAEPLOY_TERMINATION_LOG",
    "SOURCE_DIGEST_ENV": "DAEPLOY_SOURCE_DIGEST",
    "REGISTRY_ENV": "DAEPLOY_REGISTRY",
    "MONITOR_DB_ENV": "DAEPLOY_MONITOR_DB",
    "LEGACY_NAME_ENV": "daeploy.name",
    "LEGACY_VERSION_ENV": "daeploy.version",
    "DASHBOARD_ANNOTATION": "daeploy.io/dashboard",
    "TRAFFIC_ANNOTATION": "daeploy.io/traffic",
    "MONITOR_DB_FILE": "/tmp/daeploy/monitor.db",
    "DB_TABLE_LIMIT_ENV": "DAEPLOY_SERVICE_DB_TABLE_LIMIT",
    "DB_CLEAN_INTERVAL_ENV": "DAEPLOY_SERVICE_DB_CLEAN_INTERVAL",
    "BASE_IMAGE_ENV": "DAEPLOY_BASE_IMAGE",
    "CACHE_ENV": "DAEPLOY_CACHE",
    "BUILT_IMAGE_ANNOTATION": "daeploy.io/built-image",
    "RUNTIME_IMAGE": "localhost/daeploy-runtime:0.1.0",
    "LOCAL_REGISTRY_NAMESPACE": "kube-public",
    "LOCAL_REGISTRY_CONFIG_MAP": "local-registry-hosting",
    "LOCAL_REGISTRY_KEY": "localRegistryHosting.v1",
    "DEBUG_ENV": "DAEPLOY_DEBUG",
    "INGRESS_CLASS_ENV": "DAEPLOY_INGRESS_CLASS",
    "INGRESS_HOST_ENV": "DAEPLOY_INGRESS_HOST",
    "NAMESPACE_HOSTS_ENV": "DAEPLOY_NAMESPACE_HOSTS",
    "NAMESPACE_DOMAIN_ENV": "DAEPLOY_NAMESPACE_DOMAIN",
    "NOT_OWNED_REASON": "NotOwned",
    "CHILD_REFUSED_REASON": "ChildRefused",
    "DUPLICATE_VERSION_REASON": "DuplicateVersion",
    "ROUTE_HELD_REASON": "RouteHeldByOtherNamespace",
    "RECONCILE_FAILED_REASON": "ReconcileFailed",
    "ROLLOUT_REASON": "RolloutInProgress",
    "RUN_AS_USER_NEEDED_REASON": "RunAsUserNeeded",
    "PERSISTENT_DATA_DIR": "/var/lib/daeploy",
    "PERSISTENT_MONITOR_DB_FILE": "/var/lib/daeploy/monitor.db",
    "WATCH_NAMESPACES_ENV": "DAEPLOY_WATCH_NAMESPACES",
    "RUNTIME_IMAGE_ENV": "DAEPLOY_RUNTIME_IMAGE",
    "RESYNC_SECONDS_ENV": "DAEPLOY_RESYNC_SECONDS",
    "WATCH_SERVER_TIMEOUT_ENV": "DAEPLOY_WATCH_SERVER_TIMEOUT",
    "WATCH_CLIENT_TIMEOUT_ENV": "DAEPLOY_WATCH_CLIENT_TIMEOUT",
    "LIVENESS_ENDPOINT_ENV": "DAEPLOY_LIVENESS_ENDPOINT",
    "DASHBOARD_NAME": "daeploy-dashboard",
    "DASHBOARD_PATH": "/dashboard",
    "DASHBOARD_BASE_PATH_ENV": "DAEPLOY_DASHBOARD_BASE_PATH",
    "DASHBOARD_PORT_ENV": "DAEPLOY_DASHBOARD_PORT",
    "DASHBOARD_NAMESPACE_ENV": "DAEPLOY_DASHBOARD_NAMESPACE",
    "DASHBOARD_CA_FILE_ENV": "DAEPLOY_DASHBOARD_CA_FILE",
    "DASHBOARD_TOKEN_COOKIE": "daeploy_dashboard_token",
    "DASHBOARD_LOGIN_COOKIE": "daeploy_dashboard_login",
}


def test_contract_wire_values_do_not_change() -> None:
    constants = {
        name: value
        for name, value in vars(contract).items()
        if name.isupper() and isinstance(value, str)
    }
    assert constants == WIRE_VALUES
    assert contract.RESERVED_ENV == (
        "DAEPLOY_SERVICE_NAME",
        "DAEPLOY_SERVICE_VERSION",
        "DAEPLOY_NAMESPACE",
        "DAEPLOY_RESOURCE_NAME",
        "DAEPLOY_RESOURCE_UID",
        "DAEPLOY_PORT",
        "DAEPLOY_SOURCE_ARCHIVE",
        "DAEPLOY_ACCESS_URL",
        "DAEPLOY_PUBLIC",
        "DAEPLOY_CALL_TOKEN_FILE",
    )
