"""daeploy.utilities: 1.x's getters read our environment, and 1.x's where ours is unset."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from daeploy import utilities
from daeploy.contract import (
    CALL_TOKEN_FILE_ENV,
    DB_CLEAN_INTERVAL_ENV,
    DB_TABLE_LIMIT_ENV,
    GATEWAY_URL_ENV,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
)
from daeploy.identity import ConfigurationError, Identity
from daeploy.names import version_path
from daeploy.utilities import (
    LEGACY_NAME_ENV,
    LEGACY_VERSION_ENV,
    get_authorized_domains,
    get_daeploy_manager_hostname,
    get_daeploy_manager_url,
    get_db_clean_interval_seconds,
    get_db_table_limit,
    get_headers,
    get_service_access_token,
    get_service_name,
    get_service_root_path,
    get_service_version,
)

DAY = 86400.0


@pytest.fixture
def env(sdk_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (LEGACY_NAME_ENV, LEGACY_VERSION_ENV, DB_TABLE_LIMIT_ENV, DB_CLEAN_INTERVAL_ENV):
        sdk_env.delenv(name, raising=False)
    return sdk_env


def test_identity_from_our_variables(env: pytest.MonkeyPatch) -> None:
    env.setenv(SERVICE_NAME_ENV, "die_roller")
    env.setenv(SERVICE_VERSION_ENV, "1.2.3")
    assert get_service_name() == "die_roller"
    assert get_service_version() == "1.2.3"
    assert get_service_root_path() == version_path("die_roller", "1.2.3")


def test_identity_falls_back_to_1x_variables_one_by_one(env: pytest.MonkeyPatch) -> None:
    env.setenv(LEGACY_NAME_ENV, "old_style")
    env.setenv(LEGACY_VERSION_ENV, "0.9.0")
    assert (get_service_name(), get_service_version()) == ("old_style", "0.9.0")
    assert get_service_root_path() == version_path("old_style", "0.9.0")
    env.setenv(SERVICE_NAME_ENV, "new_style")  # ours wins, the version still comes from 1.x's
    assert (get_service_name(), get_service_version()) == ("new_style", "0.9.0")
    env.setenv(SERVICE_VERSION_ENV, "2.0.0")
    assert get_service_root_path() == version_path("new_style", "2.0.0")


def test_a_local_run_has_no_root_path_and_the_sdks_own_name(env: pytest.MonkeyPatch) -> None:
    assert get_service_root_path() == ""
    assert get_service_name() == Identity.from_env().name
    assert get_service_version() == utilities.UNKNOWN_VERSION == "0.0.0"


def test_an_invalid_name_names_the_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv(LEGACY_NAME_ENV, "Not-Valid")
    with pytest.raises(ConfigurationError, match=SERVICE_NAME_ENV):
        get_service_name()


def test_manager_getters_map_to_the_gateway(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert get_daeploy_manager_url() == ""
    assert get_daeploy_manager_hostname() == "localhost"
    assert get_authorized_domains() == ["localhost"]
    assert get_service_access_token() == "unknown"

    env.setenv(GATEWAY_URL_ENV, "http://gw.example.com:8080/")
    assert get_daeploy_manager_url() == "http://gw.example.com:8080"
    assert get_daeploy_manager_hostname() == "gw.example.com"
    assert get_authorized_domains() == ["gw.example.com"]

    token = tmp_path / "token"
    token.write_text("abc.def\n")
    env.setenv(CALL_TOKEN_FILE_ENV, str(token))
    assert get_headers() == {
        "Authorization": "Bearer abc.def",
        "Content-Type": "application/json",
        "Host": "gw.example.com",
    }


def test_http_methods_are_1xs() -> None:
    assert utilities.HTTP_METHODS == [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "PATCH",
    ]  # fmt: skip


def test_db_settings_default_to_90_days_kept_and_cleaned_weekly(env: pytest.MonkeyPatch) -> None:
    assert get_db_table_limit() == (90, "days")
    assert get_db_clean_interval_seconds() == 7 * DAY


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30days", (30, "days")),
        ("1000rows", (1000, "rows")),
        ("12HOURS", (12, "hours")),
        ("5minutes", (5, "minutes")),
        ("0seconds", (0, "seconds")),
    ],
)
def test_table_limit_values(env: pytest.MonkeyPatch, raw: str, expected: tuple[int, str]) -> None:
    env.setenv(DB_TABLE_LIMIT_ENV, raw)
    assert get_db_table_limit() == expected


@pytest.mark.parametrize("raw", ["30", "days", "30weeks", "-5days", "3.5hours", "30 days x"])
def test_a_bad_table_limit_is_logged_and_the_default_used(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, raw: str
) -> None:
    env.setenv(DB_TABLE_LIMIT_ENV, raw)
    with caplog.at_level(logging.ERROR):
        assert get_db_table_limit() == (90, "days")
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert DB_TABLE_LIMIT_ENV in message
    assert all(unit in message for unit in ("rows", "days", "hours", "minutes", "seconds"))


def test_clean_interval_values_and_a_bad_one(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env.setenv(DB_CLEAN_INTERVAL_ENV, "12hours")
    assert get_db_clean_interval_seconds() == 12 * 3600
    env.setenv(DB_CLEAN_INTERVAL_ENV, "2days")
    assert get_db_clean_interval_seconds() == 2 * DAY
    env.setenv(DB_CLEAN_INTERVAL_ENV, "100rows")  # rows are no interval
    with caplog.at_level(logging.ERROR):
        assert get_db_clean_interval_seconds() == 7 * DAY
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert DB_CLEAN_INTERVAL_ENV in record.getMessage()
    assert "hours" in record.getMessage()
