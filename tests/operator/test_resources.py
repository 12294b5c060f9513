"""Table tests of the manifest builders: spec in, dict out, no cluster."""

from __future__ import annotations

from typing import Any

import pytest
from dsvc_objects import service_version

from daeploy.contract import (
    KIND,
    LIVE_PATH,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    MONITOR_DB_ENV,
    MONITOR_DB_FILE,
    NAMESPACE_ENV,
    PORT_ENV,
    READY_PATH,
    RESOURCE_NAME_ENV,
    RESOURCE_UID_ENV,
    ROUTE_CLAIM_ANNOTATION,
    RUNTIME_IMAGE,
    SERVICE_LABEL,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
    SOURCE_ARCHIVE_ENV,
    SOURCE_ARCHIVE_KEY,
    VERSION_LABEL,
)
from daeploy.names import (
    label_value,
    service_account_name,
    service_object_name,
    service_path,
    version_object_name,
    version_path,
)
from daeploy_operator.resources.deployment import build_version_deployment
from daeploy_operator.resources.ingress import build_name_ingress, ingress_hosts
from daeploy_operator.resources.rbac import (
    build_events_role,
    build_events_role_binding,
    build_service_account,
)
from daeploy_operator.resources.service import (
    build_name_service,
    build_version_service,
    selected_version_label,
)

RUNTIME = RUNTIME_IMAGE


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize(
    ("spec", "image", "replicas", "port"),
    [
        ({"image": "localhost/die-roller:1.0.0"}, "localhost/die-roller:1.0.0", 1, 8000),
        ({"image": "r/x:2", "replicas": 3, "port": 9000}, "r/x:2", 3, 9000),
        ({"source": {"configMap": "die-roller-src"}}, RUNTIME, 1, 8000),
        ({"image": "r/x:2", "replicas": 0}, "r/x:2", 0, 8000),
    ],
)
def test_deployment_runs_the_spec(spec: dict, image: str, replicas: int, port: int) -> None:
    version = service_version("die_roller", "1.0.0", namespace="demo", **spec)
    deployment = build_version_deployment(version, RUNTIME)
    container = _container(deployment)
    assert deployment["metadata"]["name"] == version_object_name("die_roller", "1.0.0")
    assert deployment["metadata"]["namespace"] == "demo"
    assert deployment["spec"]["replicas"] == replicas
    assert container["image"] == image
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    env = _env(container)
    assert env[PORT_ENV] == str(port)
    assert env[SERVICE_NAME_ENV] == "die_roller"
    assert env[SERVICE_VERSION_ENV] == "1.0.0"
    assert env[RESOURCE_NAME_ENV] == version.resource_name
    assert env[RESOURCE_UID_ENV] == version.uid
    assert env[NAMESPACE_ENV] == {
        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}
    }


def test_deployment_pulls_with_the_named_secrets_only_when_asked() -> None:
    digest = "sha256:" + "a" * 64
    version = service_version(
        "np", "1.0.0", image=f"ghcr.io/team/np@{digest}", imagePullSecrets=["ghcr-login"]
    )
    pod = build_version_deployment(version, RUNTIME)["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "ghcr-login"}]
    assert _container(build_version_deployment(version, RUNTIME))["image"].endswith(digest)
    plain = build_version_deployment(service_version("np", "1.0.0", image="r/x:1"), RUNTIME)
    assert "imagePullSecrets" not in plain["spec"]["template"]["spec"]


def test_deployment_selector_matches_template_and_owner_is_the_version() -> None:
    version = service_version("die_roller", "1.0.0-rc.1+build.5")
    deployment = build_version_deployment(version, RUNTIME)
    selector = deployment["spec"]["selector"]["matchLabels"]
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector == {SERVICE_LABEL: "die_roller", VERSION_LABEL: "1.0.0-rc.1_build.5"}
    assert selector.items() <= template_labels.items()
    assert template_labels[MANAGED_BY_LABEL] == MANAGED_BY_OPERATOR
    [owner] = deployment["metadata"]["ownerReferences"]
    assert owner["uid"] == version.uid
    assert owner["controller"] is True
    assert owner["kind"] == KIND


def test_deployment_pods_meet_pod_security_restricted() -> None:
    deployment = build_version_deployment(service_version(), RUNTIME)
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsNonRoot"] is True
    assert pod["serviceAccountName"] == service_account_name(service_version().name)
    assert pod["automountServiceAccountToken"] is True
    assert not any("hostPath" in v for v in pod.get("volumes", []))


def test_deployment_is_built_for_switches_without_lost_requests() -> None:
    deployment = build_version_deployment(service_version(), RUNTIME)
    container = _container(deployment)
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert container["readinessProbe"]["httpGet"]["path"] == READY_PATH
    assert container["livenessProbe"]["httpGet"]["path"] == LIVE_PATH
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert 0 < pre_stop < grace
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_source_deploy_mounts_the_archive_and_a_writable_tmp() -> None:
    version = service_version(source={"configMap": "die-roller-src"})
    deployment = build_version_deployment(version, RUNTIME)
    container = _container(deployment)
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["source"]["configMap"]["name"] == "die-roller-src"
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/opt/daeploy/source"]["readOnly"] is True
    assert "/tmp" in mounts
    assert _env(container)[SOURCE_ARCHIVE_ENV] == f"/opt/daeploy/source/{SOURCE_ARCHIVE_KEY}"


def test_image_deploy_has_no_source_volumes() -> None:
    deployment = build_version_deployment(service_version(image="r/x:1"), RUNTIME)
    assert "volumes" not in deployment["spec"]["template"]["spec"]
    assert SOURCE_ARCHIVE_ENV not in _env(_container(deployment))


def test_user_env_and_resources_follow_the_contract_variables() -> None:
    version = service_version(
        env=[{"name": "GREETING", "value": "hi"}, {"name": PORT_ENV, "value": "1"}],
        resources={"limits": {"memory": "128Mi"}},
    )
    container = _container(build_version_deployment(version, RUNTIME))
    names = [e["name"] for e in container["env"]]
    assert names.count(PORT_ENV) == 1
    assert _env(container)[PORT_ENV] == "8000"
    assert _env(container)["GREETING"] == "hi"
    assert container["resources"] == {"limits": {"memory": "128Mi"}}


def test_version_service_listens_on_80_and_targets_the_container_port() -> None:
    version = service_version("die_roller", "2.0.0", port=9000)
    service = build_version_service(version)
    assert service["metadata"]["name"] == version_object_name("die_roller", "2.0.0")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == {SERVICE_LABEL: "die_roller", VERSION_LABEL: "2.0.0"}
    assert service["metadata"]["ownerReferences"][0]["controller"] is True


@pytest.mark.parametrize(
    ("main", "selected"),
    [("2.0.0", "2.0.0"), ("1.0.0-rc.1+b.5", label_value("1.0.0-rc.1+b.5")), (None, None)],
)
def test_name_service_selects_the_main_version(main: str | None, selected: str | None) -> None:
    owners = [service_version("die_roller", "1.0.0"), service_version("die_roller", "2.0.0")]
    service = build_name_service("die_roller", "demo", owners, main)
    assert service["metadata"]["name"] == service_object_name("die_roller")
    assert service["spec"]["selector"][SERVICE_LABEL] == "die_roller"
    assert selected_version_label(service) == selected
    refs = service["metadata"]["ownerReferences"]
    assert {r["uid"] for r in refs} == {o.uid for o in owners}
    assert not any(r["controller"] for r in refs)


def test_selected_version_label_of_a_missing_service_is_none() -> None:
    assert selected_version_label(None) is None


def _paths(ingress: dict[str, Any]) -> dict[str, str]:
    [rule] = ingress["spec"]["rules"]
    return {
        p["path"]: p["backend"]["service"]["name"]
        for p in rule["http"]["paths"]
        if p["pathType"] == "Prefix"
    }


@pytest.mark.parametrize(
    ("main_version", "host", "expected_paths"),
    [
        (
            "2.0.0",
            "",
            {
                # Straight to the main version's own Service: one endpoint set per version.
                service_path("die_roller"): version_object_name("die_roller", "2.0.0"),
                version_path("die_roller", "1.0.0"): version_object_name("die_roller", "1.0.0"),
                version_path("die_roller", "2.0.0"): version_object_name("die_roller", "2.0.0"),
            },
        ),
        (
            None,
            "d.example.com",
            {
                version_path("die_roller", "1.0.0"): version_object_name("die_roller", "1.0.0"),
                version_path("die_roller", "2.0.0"): version_object_name("die_roller", "2.0.0"),
            },
        ),
    ],
)
def test_ingress_routes(
    main_version: str | None, host: str, expected_paths: dict[str, str]
) -> None:
    owners = [service_version("die_roller", "1.0.0"), service_version("die_roller", "2.0.0")]
    ingress = build_name_ingress(
        "die_roller",
        "demo",
        owners,
        ["2.0.0", "1.0.0"],
        main_version=main_version,
        hosts=[host],
        ingress_class="traefik",
        claimed_at="2024-05-01T12:00:00Z",
    )
    assert _paths(ingress) == expected_paths
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress_hosts(ingress) == {host}
    assert ingress["metadata"]["annotations"][ROUTE_CLAIM_ANNOTATION] == "2024-05-01T12:00:00Z"
    assert len(ingress["metadata"]["ownerReferences"]) == 2
    ports = {
        p["backend"]["service"]["port"]["number"]
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert ports == {80}


def test_service_account_may_only_write_events_and_read_traffic_tables() -> None:
    owners = [service_version(namespace="demo")]
    name = owners[0].name
    account = build_service_account(name, "demo", owners)
    role = build_events_role("demo", owners)
    binding = build_events_role_binding("demo", owners)
    assert account["metadata"]["name"] == service_account_name(name)
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "update", "patch"]},
        {
            "apiGroups": [""],
            "resources": ["services"],
            "verbs": ["get"],
            "resourceNames": [service_object_name(name)],
        },
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": service_account_name(name), "namespace": "demo"}
    ]
    for obj in (account, role, binding):
        assert obj["metadata"]["namespace"] == "demo"
        assert obj["metadata"]["ownerReferences"][0]["uid"] == owners[0].uid


def test_ingress_serves_the_same_paths_on_every_host() -> None:
    """The shared host ('' for any) and the namespace's own host carry identical routes."""
    ingress = build_name_ingress(
        "die_roller",
        "team-b",
        [service_version("die_roller", "1.0.0", namespace="team-b")],
        ["1.0.0"],
        main_version="1.0.0",
        hosts=["", "team-b.daeploy.local"],
        ingress_class="traefik",
        claimed_at="2024-05-01T12:00:00Z",
    )
    rules = ingress["spec"]["rules"]
    assert ingress_hosts(ingress) == {"", "team-b.daeploy.local"}
    assert "host" not in rules[0] and rules[1]["host"] == "team-b.daeploy.local"
    assert rules[0]["http"] == rules[1]["http"]


def test_the_monitoring_store_goes_on_the_tmp_volume_unless_spec_env_moves_it() -> None:
    plain = _env(_container(build_version_deployment(service_version("m", "1.0.0"), RUNTIME)))
    assert plain[MONITOR_DB_ENV] == MONITOR_DB_FILE
    assert MONITOR_DB_FILE.startswith("/tmp/")  # the emptyDir the pod can write
    moved = service_version("m", "1.0.0", env=[{"name": MONITOR_DB_ENV, "value": "/data/m.db"}])
    container = _container(build_version_deployment(moved, RUNTIME))
    assert [e["value"] for e in container["env"] if e["name"] == MONITOR_DB_ENV] == ["/data/m.db"]
