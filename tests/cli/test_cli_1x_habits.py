"""Daeploy 1.x command lines keep working: assign --yes, kill -a/-i, logs -n all and --date,
deploy -e NAME (copied from the local environment)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cli_envtest import ApiNamespace, FakeKubelet, OperatorLoop
from cli_support import Daeploy, one_line_error, write_service

from daeploy.cli.errors import InputError
from daeploy.cli.kill import kill
from daeploy.cli.spec import parse_env
from daeploy.contract import DB_CLEAN_INTERVAL_ENV, DB_TABLE_LIMIT_ENV, PORT_ENV
from daeploy.names import version_object_name

DIE_1 = version_object_name("die_roller", "1.0.0")
DIE_2 = version_object_name("die_roller", "2.0.0")


def deploy(daeploy: Daeploy, folder: Path, version: str = "1.0.0", *extra: str) -> Any:
    return daeploy("deploy", "die_roller", version, str(folder), "--timeout", "30", *extra)


def two_versions(daeploy: Daeploy, tmp_path: Path) -> None:
    folder = write_service(tmp_path / "svc")
    assert deploy(daeploy, folder).exit_code == 0
    assert deploy(daeploy, folder, "2.0.0").exit_code == 0


def mains(daeploy: Daeploy) -> list[str]:
    rows = daeploy("ls", "die_roller").stdout.splitlines()[2:]
    return [row.split()[2] for row in rows if row.startswith("*")]


def last_query(kubelet: FakeKubelet) -> dict[str, str]:
    """The options of the last log request the API server passed on to the kubelet."""
    query = parse_qs(urlsplit(kubelet.requests[-1]).query)
    return {key: values[0] for key, values in query.items()}


@pytest.fixture
def stockholm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local time is not UTC, so a date read as local time would show (conftest restores UTC)."""
    monkeypatch.setenv("TZ", "Europe/Stockholm")
    time.tzset()


# --- assign --yes ------------------------------------------------------------------------------


def test_assign_accepts_yes_and_never_asks(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, tmp_path: Path
) -> None:
    two_versions(daeploy, tmp_path)
    for flag, version in (("--yes", "2.0.0"), ("-y", "1.0.0")):
        result = daeploy("assign", "die_roller", version, flag)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[0] == f"Changed main version of die_roller to {version}"
        assert "[y/N]" not in result.output
        assert mains(daeploy) == [version]
    # Without --yes it does the same, without a question (no input to answer one).
    plain = daeploy("assign", "die_roller", "2.0.0")
    assert plain.exit_code == 0, plain.output
    assert mains(daeploy) == ["2.0.0"]


def test_assign_help_says_yes_changes_nothing(daeploy: Daeploy) -> None:
    text = " ".join(daeploy("assign", "--help").stdout.split())
    assert "-y, --yes" in text
    assert "never asks for confirmation" in text


# --- kill -a, kill -i --------------------------------------------------------------------------


def test_kill_short_options_are_1x_all_and_keep_image() -> None:
    options = {param.name: set(param.opts) for param in kill.params}
    assert options["everything"] == {"-a", "--all"}
    assert options["keep_image"] == {"-i", "--keep-image"}
    assert options["yes"] == {"-y", "--yes"}


def test_kill_a_kills_every_version(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, tmp_path: Path
) -> None:
    two_versions(daeploy, tmp_path)
    of_name = daeploy("kill", "die_roller", "-a", "--yes", "-i")
    assert of_name.exit_code == 0, of_name.output
    assert sorted(of_name.stdout.splitlines()) == [
        "Killed die_roller 1.0.0",
        "Killed die_roller 2.0.0",
    ]
    assert apiserver.services() == []
    assert deploy(daeploy, write_service(tmp_path / "again")).exit_code == 0
    everything = daeploy("kill", "-a", "--yes")
    assert everything.exit_code == 0, everything.output
    assert everything.stdout.splitlines() == ["Killed die_roller 1.0.0"]
    assert apiserver.services() == []


# --- logs -n all, logs --date ------------------------------------------------------------------


@pytest.fixture
def rolled(
    daeploy: Daeploy,
    apiserver: ApiNamespace,
    operator: OperatorLoop,
    kubelet: FakeKubelet,
    service_folder: Path,
) -> FakeKubelet:
    assert deploy(daeploy, service_folder).exit_code == 0
    kubelet.pod(apiserver.namespace, "die-1", "die_roller", "1.0.0", log="a\nb\nc\n")
    return kubelet


def test_logs_tail_all_shows_every_line(daeploy: Daeploy, rolled: FakeKubelet) -> None:
    for args in (("-n", "all"), ("--tail", "ALL"), ("-n", "2")):
        result = daeploy("logs", "die_roller", *args)
        assert result.exit_code == 0, result.output
        if args[1] == "2":
            assert result.stdout == "b\nc\n"
            assert last_query(rolled)["tailLines"] == "2"
        else:
            assert result.stdout == "a\nb\nc\n"
            assert "tailLines" not in last_query(rolled)


@pytest.mark.usefixtures("stockholm")
@pytest.mark.parametrize(
    ("date", "since"),
    [
        ("2024-05-01 13:30:00", "2024-05-01T13:30:00Z"),  # no offset: UTC, as in 1.x
        ("2024-05-01T13:30:00", "2024-05-01T13:30:00Z"),
        ("2024-05-01", "2024-05-01T00:00:00Z"),
        ("2024-05-01T15:30:00+02:00", "2024-05-01T13:30:00Z"),
        ("2024-05-01T13:30:00Z", "2024-05-01T13:30:00Z"),
    ],
)
def test_logs_date_is_the_log_apis_since_time(
    daeploy: Daeploy, rolled: FakeKubelet, date: str, since: str
) -> None:
    result = daeploy("logs", "die_roller", "--date", date)
    assert result.exit_code == 0, result.output
    assert result.stdout == "a\nb\nc\n"  # the fake kubelet does not filter by time
    assert last_query(rolled) == {"sinceTime": since}


def test_logs_date_with_tail_and_follow(daeploy: Daeploy, rolled: FakeKubelet) -> None:
    result = daeploy("logs", "die_roller", "-f", "-d", "2024-05-01", "-n", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout == "c\n"
    assert last_query(rolled) == {
        "follow": "true",
        "sinceTime": "2024-05-01T00:00:00Z",
        "tailLines": "1",
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-n", "some"], "invalid --tail 'some': give a number of lines (-n 100) or all (-n all)"),
        (["-n", "-5"], "invalid --tail '-5'"),
        (["-n", "1.5"], "invalid --tail '1.5'"),
        (["--date", "yesterday"], "invalid --date 'yesterday': give a date or date and time"),
        (["-d", "2024-13-01"], "invalid --date '2024-13-01'"),
        (["-d", "01/05/2024"], "(UTC unless it ends with an offset)"),
    ],
)
def test_bad_tail_or_date_is_one_line_before_the_cluster(
    daeploy: Daeploy, no_cluster: Path, args: list[str], expected: str
) -> None:
    result = daeploy("logs", "die_roller", *args)
    assert result.exit_code == 2, result.output
    assert expected in one_line_error(result)


# --- deploy -e NAME ----------------------------------------------------------------------------


def test_parse_env_copies_names_without_a_value() -> None:
    local = {"SEED": "42", "BLANK": "", "LEVEL": "info"}
    env = parse_env(("SEED", "BLANK", "LEVEL=debug", "OTHER="), environ=local)
    assert env == [
        {"name": "SEED", "value": "42"},
        {"name": "BLANK", "value": ""},
        {"name": "LEVEL", "value": "debug"},
        {"name": "OTHER", "value": ""},
    ]
    # A repeated name keeps the last, copied or given.
    assert parse_env(("SEED=1", "SEED"), environ=local) == [{"name": "SEED", "value": "42"}]
    assert parse_env(("SEED", "SEED=1"), environ=local) == [{"name": "SEED", "value": "1"}]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("MISSING", "MISSING is not set in your environment"),
        ("1X", "the name '1X' must be letters"),
        (PORT_ENV, "set by Daeploy"),  # even when it is set locally
    ],
)
def test_parse_env_refuses(item: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        parse_env((item,), environ={PORT_ENV: "1"})


def test_the_1x_monitoring_settings_may_be_given() -> None:
    given = parse_env((f"{DB_TABLE_LIMIT_ENV}=30days", DB_CLEAN_INTERVAL_ENV),
                      environ={DB_CLEAN_INTERVAL_ENV: "1days"})  # fmt: skip
    assert given == [
        {"name": DB_TABLE_LIMIT_ENV, "value": "30days"},
        {"name": DB_CLEAN_INTERVAL_ENV, "value": "1days"},
    ]


def test_deploy_e_name_copies_the_local_variable(
    daeploy: Daeploy,
    apiserver: ApiNamespace,
    operator: OperatorLoop,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIE_SEED", "s33d with = signs")
    image = "localhost/die-roller:1.0.0"
    result = daeploy(
        "deploy", "die_roller", "1.0.0", "--image", image, "-e", "DIE_SEED", "-e", "LEVEL=debug"
    )
    assert result.exit_code == 0, result.output
    assert "s33d" not in result.output  # the value is sent, never printed
    assert apiserver.must_get(DIE_1)["spec"]["env"] == [
        {"name": "DIE_SEED", "value": "s33d with = signs"},
        {"name": "LEVEL", "value": "debug"},
    ]


def test_deploy_e_name_not_set_locally_is_one_line_naming_it(
    daeploy: Daeploy, no_cluster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIE_SEED", raising=False)
    folder = write_service(tmp_path / "svc")
    result = daeploy("deploy", "die_roller", "1.0.0", str(folder), "--env", "DIE_SEED")
    assert result.exit_code == 2, result.output
    assert one_line_error(result) == (
        "Error: invalid -e DIE_SEED: DIE_SEED is not set in your environment to copy; "
        "export DIE_SEED first, or give the value with -e DIE_SEED=VALUE"
    )
