"""Operator settings from the environment: defaults, host choice, clear errors."""

from __future__ import annotations

import pytest

from daeploy.contract import (
    HOST_ANNOTATION,
    INGRESS_CLASS_ENV,
    INGRESS_HOST_ENV,
    MIRROR_MAX_BODY_ENV,
    NAMESPACE_HOSTS_ENV,
    RESYNC_SECONDS_ENV,
    RUNTIME_IMAGE,
    RUNTIME_IMAGE_ENV,
    WATCH_CLIENT_TIMEOUT_ENV,
    WATCH_NAMESPACES_ENV,
    WATCH_SERVER_TIMEOUT_ENV,
)
from daeploy_operator.settings import OperatorSettings, SettingsError


def test_defaults() -> None:
    settings = OperatorSettings.from_env({})
    assert settings.ingress_class == "traefik"
    assert settings.host == ""
    assert settings.watch_namespaces == ()
    assert settings.runtime_image == RUNTIME_IMAGE
    assert settings.mirror_max_body_bytes == -1  # Traefik's own default: any size is copied
    assert settings.watch_client_timeout > settings.watch_server_timeout


def test_values_from_env() -> None:
    settings = OperatorSettings.from_env(
        {
            INGRESS_CLASS_ENV: "nginx",
            INGRESS_HOST_ENV: "d.example.com",
            NAMESPACE_HOSTS_ENV: '{"team-a": "a.example.com"}',
            WATCH_NAMESPACES_ENV: "team-a, team-b",
            RESYNC_SECONDS_ENV: "5",
            WATCH_SERVER_TIMEOUT_ENV: "60",
            MIRROR_MAX_BODY_ENV: "65536",
        }
    )
    assert settings.mirror_max_body_bytes == 65536
    assert settings.ingress_class == "nginx"
    assert settings.watch_namespaces == ("team-a", "team-b")
    assert settings.resync_seconds == 5
    assert settings.watch_client_timeout == 90
    assert isinstance(settings.watch_server_timeout, int)


@pytest.mark.parametrize(
    ("namespace", "annotations", "expected"),
    [
        ("team-a", {}, "a.example.com"),
        ("team-b", {}, "d.example.com"),
        ("team-a", {HOST_ANNOTATION: "own.example.com"}, "own.example.com"),
        ("team-b", {HOST_ANNOTATION: "Not A Host"}, "d.example.com"),
    ],
)
def test_host_for_namespace(namespace: str, annotations: dict, expected: str) -> None:
    settings = OperatorSettings.from_env(
        {
            INGRESS_HOST_ENV: "d.example.com",
            NAMESPACE_HOSTS_ENV: '{"team-a": "a.example.com"}',
        }
    )
    assert settings.host_for(namespace, annotations) == expected


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({INGRESS_HOST_ENV: "http://x"}, INGRESS_HOST_ENV),
        ({NAMESPACE_HOSTS_ENV: "team-a=a"}, NAMESPACE_HOSTS_ENV),
        ({NAMESPACE_HOSTS_ENV: '{"a": 1}'}, NAMESPACE_HOSTS_ENV),
        ({WATCH_NAMESPACES_ENV: "Team_A"}, WATCH_NAMESPACES_ENV),
        ({INGRESS_CLASS_ENV: "Traefik!"}, INGRESS_CLASS_ENV),
        ({RUNTIME_IMAGE_ENV: "a b"}, RUNTIME_IMAGE_ENV),
        ({RESYNC_SECONDS_ENV: "-1"}, RESYNC_SECONDS_ENV),
        ({RESYNC_SECONDS_ENV: "soon"}, RESYNC_SECONDS_ENV),
        ({WATCH_SERVER_TIMEOUT_ENV: "120.5"}, WATCH_SERVER_TIMEOUT_ENV),
        ({MIRROR_MAX_BODY_ENV: "0"}, MIRROR_MAX_BODY_ENV),
        ({MIRROR_MAX_BODY_ENV: "-2"}, MIRROR_MAX_BODY_ENV),
        ({MIRROR_MAX_BODY_ENV: "4Mi"}, MIRROR_MAX_BODY_ENV),
        (
            {WATCH_SERVER_TIMEOUT_ENV: "60", WATCH_CLIENT_TIMEOUT_ENV: "30"},
            WATCH_CLIENT_TIMEOUT_ENV,
        ),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        OperatorSettings.from_env(env)
