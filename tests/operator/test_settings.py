"""Operator settings from the environment: defaults, host choice, clear errors."""

from __future__ import annotations

import pytest

from daeploy_operator.names import HOST_ANNOTATION
from daeploy_operator.settings import OperatorSettings, SettingsError


def test_defaults() -> None:
    settings = OperatorSettings.from_env({})
    assert settings.ingress_class == "traefik"
    assert settings.host == ""
    assert settings.watch_namespaces == ()
    assert settings.runtime_image == "localhost/daeploy-runtime:0.1.0"
    assert settings.watch_client_timeout > settings.watch_server_timeout


def test_values_from_env() -> None:
    settings = OperatorSettings.from_env(
        {
            "DAEPLOY_INGRESS_CLASS": "nginx",
            "DAEPLOY_INGRESS_HOST": "d.example.com",
            "DAEPLOY_NAMESPACE_HOSTS": '{"team-a": "a.example.com"}',
            "DAEPLOY_WATCH_NAMESPACES": "team-a, team-b",
            "DAEPLOY_RESYNC_SECONDS": "5",
            "DAEPLOY_WATCH_SERVER_TIMEOUT": "60",
        }
    )
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
            "DAEPLOY_INGRESS_HOST": "d.example.com",
            "DAEPLOY_NAMESPACE_HOSTS": '{"team-a": "a.example.com"}',
        }
    )
    assert settings.host_for(namespace, annotations) == expected


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DAEPLOY_INGRESS_HOST": "http://x"}, "DAEPLOY_INGRESS_HOST"),
        ({"DAEPLOY_NAMESPACE_HOSTS": "team-a=a"}, "DAEPLOY_NAMESPACE_HOSTS"),
        ({"DAEPLOY_NAMESPACE_HOSTS": '{"a": 1}'}, "DAEPLOY_NAMESPACE_HOSTS"),
        ({"DAEPLOY_WATCH_NAMESPACES": "Team_A"}, "DAEPLOY_WATCH_NAMESPACES"),
        ({"DAEPLOY_INGRESS_CLASS": "Traefik!"}, "DAEPLOY_INGRESS_CLASS"),
        ({"DAEPLOY_RUNTIME_IMAGE": "a b"}, "DAEPLOY_RUNTIME_IMAGE"),
        ({"DAEPLOY_RESYNC_SECONDS": "-1"}, "DAEPLOY_RESYNC_SECONDS"),
        ({"DAEPLOY_RESYNC_SECONDS": "soon"}, "DAEPLOY_RESYNC_SECONDS"),
        ({"DAEPLOY_WATCH_SERVER_TIMEOUT": "120.5"}, "DAEPLOY_WATCH_SERVER_TIMEOUT"),
        (
            {"DAEPLOY_WATCH_SERVER_TIMEOUT": "60", "DAEPLOY_WATCH_CLIENT_TIMEOUT": "30"},
            "DAEPLOY_WATCH_CLIENT_TIMEOUT",
        ),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        OperatorSettings.from_env(env)
