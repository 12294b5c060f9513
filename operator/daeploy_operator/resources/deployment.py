"""The Deployment that runs one version.

Built for switches that lose no request: pods are only Ready when the app says so, a rolling
update never removes a ready pod before its successor is ready, and a stopping pod keeps serving
for a few seconds while Services and the Ingress stop sending it traffic.

An image not built on the SDK (spec.probe type tcp or http) has no /~health routes and its own
user: the kubelet checks the port (or the given path) instead, and the pod runs as spec.runAsUser
or else as the image's USER, still never as root (PodSecurity ``restricted``).
"""

from __future__ import annotations

from typing import Any

from daeploy.contract import (
    ACCESS_URL_ENV,
    CALL_TOKEN_DIR,
    CALL_TOKEN_FILE_ENV,
    LIVE_PATH,
    MONITOR_DB_ENV,
    MONITOR_DB_FILE,
    NAMESPACE_ENV,
    PERSISTENT_DATA_DIR,
    PERSISTENT_MONITOR_DB_FILE,
    PORT_ENV,
    PUBLIC_ENV,
    READY_PATH,
    RESERVED_ENV,
    RESOURCE_NAME_ENV,
    RESOURCE_UID_ENV,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
    SOURCE_ARCHIVE_ENV,
    SOURCE_ARCHIVE_KEY,
    TOKEN_AUDIENCE,
)
from daeploy.names import service_account_name

from ..names import (
    CONTAINER_NAME,
    CONTAINER_PORT_NAME,
    SOURCE_ARCHIVE,
    SOURCE_MOUNT,
    data_claim_name,
    version_child_name,
    version_labels,
    version_selector,
)
from ..spec import PROBE_HTTP, PROBE_TCP, ServiceVersion
from .owners import controller_owner

RUN_AS_USER = 10001
"""The SDK's images (the runtime image and the images built on it) run as this user."""
PRE_STOP_SLEEP_SECONDS = 5
TERMINATION_GRACE_SECONDS = 40
PROGRESS_DEADLINE_SECONDS = 300
# The kubelet renews a projected token at 80% of its life; an hour is the usual choice.
CALL_TOKEN_SECONDS = 3600
CALL_TOKEN_FILE = f"{CALL_TOKEN_DIR}/token"


def build_version_deployment(
    version: ServiceVersion, runtime_image: str, gate_url: str = ""
) -> dict[str, Any]:
    """The Deployment for ``version``; source deploys run ``runtime_image`` on the packed folder.

    With ``gate_url`` (access control on) the app checks callers with the gate, and its calls
    to other services carry a token of its own ServiceAccount for the ``daeploy.io`` audience:
    one a callee cannot replay against the API server.
    """
    labels = version_labels(version.name, version.version)
    pod_spec: dict[str, Any] = {
        "serviceAccountName": service_account_name(version.name),
        # notify() posts Events with the pod's token.
        "automountServiceAccountToken": True,
        # Service links would put one variable per Service of the namespace into every pod.
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": _pod_security(version),
        "containers": [_container(version, runtime_image, gate_url)],
    }
    if version.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": name} for name in version.image_pull_secrets]
    volumes: list[dict[str, Any]] = []
    if gate_url:
        volumes.append(
            {
                "name": "daeploy-token",
                "projected": {
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "audience": TOKEN_AUDIENCE,
                                "expirationSeconds": CALL_TOKEN_SECONDS,
                                "path": "token",
                            }
                        }
                    ]
                },
            }
        )
    if version.source_config_map:
        volumes += [
            {
                "name": "source",
                "configMap": {
                    "name": version.source_config_map,
                    "items": [{"key": SOURCE_ARCHIVE_KEY, "path": SOURCE_ARCHIVE_KEY}],
                },
            },
            {"name": "tmp", "emptyDir": {}},
        ]
    if version.persistence is not None:
        claim = data_claim_name(version.name, version.version)
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": claim}})
    if volumes:
        pod_spec["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": version_child_name(version.name, version.version),
            "namespace": version.namespace,
            "labels": labels,
            "ownerReferences": [controller_owner(version)],
        },
        "spec": {
            "replicas": version.replicas,
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
            "selector": {"matchLabels": version_selector(version.name, version.version)},
            # With spec.persistence both pods of a rollout mount the same ReadWriteOnce claim:
            # fine on one node (the access mode is per node), where the new pod lands.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def run_as_user(version: ServiceVersion) -> int | None:
    """spec.runAsUser, else the SDK's user for SDK images; None leaves the image's USER, which
    the kubelet then checks is a numeric non-root id (runAsNonRoot)."""
    if version.image_user:
        return None
    return version.run_as_user if version.run_as_user is not None else RUN_AS_USER


def _pod_security(version: ServiceVersion) -> dict[str, Any]:
    user = run_as_user(version)
    security: dict[str, Any] = {"runAsNonRoot": True}
    if user is not None:
        security["runAsUser"] = user
        if version.probe.sdk:
            security["runAsGroup"] = user
        if version.persistence is not None:
            # A volume with ownership management (most block storage) is made writable for
            # this group; folders on a host path ignore it and must be writable already.
            security["fsGroup"] = user
            security["fsGroupChangePolicy"] = "OnRootMismatch"
    security["seccompProfile"] = {"type": "RuntimeDefault"}
    return security


def _checks(version: ServiceVersion) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the liveness/startup and the readiness probes ask, by spec.probe."""
    port = CONTAINER_PORT_NAME
    probe = version.probe
    if probe.type == PROBE_TCP:
        check: dict[str, Any] = {"tcpSocket": {"port": port}}
        return check, check
    if probe.type == PROBE_HTTP:
        check = {"httpGet": {"path": probe.path, "port": port}}
        return check, check
    # The SDK's own routes: ready only between start-up and the start of shutdown.
    return (
        {"httpGet": {"path": LIVE_PATH, "port": port}},
        {"httpGet": {"path": READY_PATH, "port": port}},
    )


def _container(version: ServiceVersion, runtime_image: str, gate_url: str) -> dict[str, Any]:
    live, ready = _checks(version)
    user = run_as_user(version)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": version.image or runtime_image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": CONTAINER_PORT_NAME, "containerPort": version.port, "protocol": "TCP"}],
        "env": _env(version, gate_url),
        "resources": dict(version.resources),
        "startupProbe": {
            **live,
            "periodSeconds": 1,
            "timeoutSeconds": 2,
            "failureThreshold": 120,
        },
        "readinessProbe": {
            **ready,
            "periodSeconds": 2,
            "timeoutSeconds": 2,
            "failureThreshold": 2,
            "successThreshold": 1,
        },
        "livenessProbe": {
            **live,
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        # Endpoints and the Ingress drop a terminating pod asynchronously; keep serving meanwhile.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            **({"runAsUser": user} if user is not None else {}),
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    mounts: list[dict[str, Any]] = []
    if gate_url:
        mounts.append({"name": "daeploy-token", "mountPath": CALL_TOKEN_DIR, "readOnly": True})
    if version.source_config_map:
        mounts += [
            {"name": "source", "mountPath": SOURCE_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ]
    if version.persistence is not None:
        mounts.append({"name": "data", "mountPath": PERSISTENT_DATA_DIR})
    if mounts:
        container["volumeMounts"] = mounts
    return container


def _env(version: ServiceVersion, gate_url: str) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": SERVICE_NAME_ENV, "value": version.name},
        {"name": SERVICE_VERSION_ENV, "value": version.version},
        {
            "name": NAMESPACE_ENV,
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
        },
        {"name": RESOURCE_NAME_ENV, "value": version.resource_name},
        {"name": RESOURCE_UID_ENV, "value": version.uid},
        {"name": PORT_ENV, "value": str(version.port)},
    ]
    if version.source_config_map:
        env.append({"name": SOURCE_ARCHIVE_ENV, "value": SOURCE_ARCHIVE})
    if gate_url:
        env.append({"name": ACCESS_URL_ENV, "value": gate_url})
        env.append({"name": PUBLIC_ENV, "value": "true" if version.public else "false"})
        env.append({"name": CALL_TOKEN_FILE_ENV, "value": CALL_TOKEN_FILE})
    if MONITOR_DB_ENV not in {k for k, _ in version.env}:
        # The monitoring store: on the version's claim with spec.persistence (it outlives the
        # pod), else on the pod's writable /tmp; spec.env may move it.
        store = PERSISTENT_MONITOR_DB_FILE if version.persistence is not None else MONITOR_DB_FILE
        env.append({"name": MONITOR_DB_ENV, "value": store})
    # The CRD refuses these names; an object stored before that rule must not shadow them.
    env.extend({"name": k, "value": v} for k, v in version.env if k not in RESERVED_ENV)
    return env
