"""`daeploy monitor` against real service processes on 127.0.0.1 (the SDK's own /~monitor), and,
for the default address and token, against envtest with the real reconciler and the real gate.

Values with set times are written with the SDK's own MonitorStore into the file the service then
serves (its MONITOR_DB_ENV), as the service would have stored them earlier; the rest is stored
through the service's entrypoints over HTTP. Local time is UTC here (conftest), unless a test
sets another zone.
"""

from __future__ import annotations

import csv
import io
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from cli_envtest import MERGE_PATCH, ApiNamespace, OperatorLoop, eventually
from cli_support import Daeploy, one_line_error
from envtest import EnvTest

from daeploy.access.bearer import token_audiences
from daeploy.access.gate import Gate
from daeploy.access.kube import KubeApi
from daeploy.access.reviewer import Reviewer
from daeploy.contract import (
    ACCESS_GATE_URL_ENV,
    ACCESS_URL_ENV,
    API_GROUP_VERSION,
    CALLER_ACCOUNT,
    KIND,
    MONITOR_DB_ENV,
    MONITOR_PATH,
    NAMESPACE_ENV,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
    TOKEN_AUDIENCE,
)
from daeploy.monitoring.store import STAMP, MonitorStore
from daeploy.names import service_audience, version_object_name, version_path
from daeploy_operator.kinds import resource_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk"))
from sdk_support import APPS, SERVICES, RunningService, free_port, make_starter

NAME = "monitored"
VERSION = "1.0.0"
TABLE_HEADER = ["TIMESTAMP                VALUE", "-----------------------  -------"]
AUTH_DELEGATOR = "system:auth-delegator"
CLUSTER_ROLE_BINDINGS = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"


def stamp(moment: datetime) -> str:
    """As the store writes it (naive UTC, microseconds)."""
    return moment.strftime(STAMP)


def shown(moment: datetime) -> str:
    """As the table shows it in UTC: seconds and milliseconds."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., RunningService]]:
    started: list[RunningService] = []
    yield make_starter(tmp_path, started)
    for service in started:
        service.stop(timeout=5)


def preload(path: Path, **series: list[tuple[datetime, Any]]) -> None:
    """Values stored earlier, at set times, by the SDK's own store, in the file to serve."""
    store = MonitorStore(path)
    store.start()
    for name, values in series.items():
        for moment, value in values:
            store.put(name, value, stamp(moment))
    store.flush()
    store.close()


def monitored_env(db: Path, **extra: str) -> dict[str, str]:
    return {
        SERVICE_NAME_ENV: NAME,
        SERVICE_VERSION_ENV: VERSION,
        MONITOR_DB_ENV: str(db),
        **extra,
    }


@dataclass(frozen=True)
class Moments:
    """Times to store at, taken when a test stores them: a long session cannot move them
    across the bounds the tests ask for."""

    now: datetime
    old: datetime  # outside --since 1h
    recent: datetime  # inside --since 1h, outside --since 10m


def moments() -> Moments:
    now = datetime.now(UTC).replace(tzinfo=None)
    return Moments(now, now - timedelta(hours=3), now - timedelta(minutes=30))


@dataclass(frozen=True)
class Monitored:
    url: str
    at: Moments


@pytest.fixture
def monitored(start_service: Callable[..., RunningService], tmp_path: Path) -> Monitored:
    """tests/sdk/apps/monitored_service.py with temperature stored 3 h and 30 min ago, then
    two calls of its monitored entrypoint (doubled, label, ...; threshold since its start)."""
    at = moments()
    db = tmp_path / "data" / "monitor.db"
    preload(db, temperature=[(at.old, 20.5), (at.recent, 21.25)])
    service = start_service(APPS / "monitored_service.py", env=monitored_env(db), cwd=tmp_path)
    for value in (1, 2.5):
        answer = httpx.post(f"{service.url}/double", json={"value": value}, timeout=10)
        assert answer.json() == {"result": value * 2}
    return Monitored(service.url, at)


def blocks(stdout: str) -> dict[str, list[str]]:
    """The tables by variable: the title ``name (N values)``, then the table's lines."""
    found: dict[str, list[str]] = {}
    for block in stdout.strip("\n").split("\n\n"):
        title, *lines = block.splitlines()
        found[title] = lines
    return found


def values_of(lines: list[str]) -> list[str]:
    """The VALUE column of a table's rows (after the timestamp's two words)."""
    return [line.split(None, 2)[2] for line in lines[2:]]


def run_ok(daeploy: Daeploy, *args: str) -> Any:
    result = daeploy("monitor", *args)
    assert result.exit_code == 0, result.output
    assert result.stderr == "", result.stderr
    return result


# --- tables ----------------------------------------------------------------------------------


def test_a_table_per_variable_newest_last(daeploy: Daeploy, monitored: Monitored) -> None:
    result = run_ok(daeploy, NAME, "--url", monitored.url)
    tables = blocks(result.stdout)
    assert list(tables) == [
        "double_request (2 values)",
        "double_response (2 values)",
        "doubled (2 values)",
        "label (2 values)",
        "raw (2 values)",
        "temperature (2 values)",
        "threshold (1 value)",
    ]
    # The stored times, in local time (UTC here), oldest first.
    assert tables["temperature (2 values)"] == [
        *TABLE_HEADER,
        f"{shown(monitored.at.old)}  20.5",
        f"{shown(monitored.at.recent)}  21.25",
    ]
    assert values_of(tables["doubled (2 values)"]) == ["2.0", "5.0"]
    assert values_of(tables["label (2 values)"]) == ["x1.0", "x2.5"]
    assert values_of(tables["double_request (2 values)"]) == ['{"value": 1.0}', '{"value": 2.5}']
    assert values_of(tables["threshold (1 value)"]) == ["3.0"]
    # Stored by the two calls just now, the first call's first.
    first, second = (line.split()[:2] for line in tables["doubled (2 values)"][2:])
    assert monitored.at.now.strftime("%Y-%m-%d %H:%M") <= " ".join(first) <= " ".join(second)


def test_times_are_shown_in_the_readers_zone(
    daeploy: Daeploy, monitored: Monitored, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "IST-5:30")  # POSIX: 5 h 30 min east of UTC, no tz database needed
    time.tzset()
    result = run_ok(daeploy, NAME, "--url", monitored.url, "-v", "temperature")
    east = timedelta(hours=5, minutes=30)
    assert blocks(result.stdout)["temperature (2 values)"][2:] == [
        f"{shown(monitored.at.old + east)}  20.5",
        f"{shown(monitored.at.recent + east)}  21.25",
    ]


def test_variable_filters_in_the_order_asked(daeploy: Daeploy, monitored: Monitored) -> None:
    result = run_ok(daeploy, NAME, "--url", monitored.url, "-v", "threshold", "--variable", "label")
    tables = blocks(result.stdout)
    assert list(tables) == ["threshold (1 value)", "label (2 values)"]
    assert values_of(tables["label (2 values)"]) == ["x1.0", "x2.5"]


def test_the_prefixed_route_answers_too(daeploy: Daeploy, monitored: Monitored) -> None:
    """What status.url holds: the version's ingress route, which the SDK also answers on."""
    url = f"{monitored.url}{version_path(NAME, VERSION)}/"
    result = run_ok(daeploy, NAME, VERSION, "--url", url, "-v", "threshold")
    tables = blocks(result.stdout)
    assert list(tables) == ["threshold (1 value)"]
    assert values_of(tables["threshold (1 value)"]) == ["3.0"]


# --- --since ---------------------------------------------------------------------------------


def test_since_a_duration_leaves_older_values_out(daeploy: Daeploy, monitored: Monitored) -> None:
    def temperatures(since: str) -> list[str]:
        out = run_ok(daeploy, NAME, "--url", monitored.url, "-v", "temperature", "--since", since)
        return out.stdout.splitlines()

    assert temperatures("4h")[3:] == [
        f"{shown(monitored.at.old)}  20.5",
        f"{shown(monitored.at.recent)}  21.25",
    ]
    assert temperatures("1h") == [
        "temperature (1 value)",
        *TABLE_HEADER,
        f"{shown(monitored.at.recent)}  21.25",
    ]
    assert temperatures("90m")[3:] == [f"{shown(monitored.at.recent)}  21.25"]
    assert temperatures("0.5d")[3:] == [
        f"{shown(monitored.at.old)}  20.5",
        f"{shown(monitored.at.recent)}  21.25",
    ]
    # Nothing since: one line that says since when (local time, seconds).
    began = datetime.now(UTC)
    (line,) = temperatures("600s")
    assert line.startswith("temperature: no values since ")
    cut = datetime.strptime(line.removeprefix("temperature: no values since "), "%Y-%m-%d %H:%M:%S")
    assert abs(cut.replace(tzinfo=UTC) - (began - timedelta(minutes=10))) < timedelta(seconds=30)


def test_since_a_time_is_utc_unless_it_names_its_offset(
    daeploy: Daeploy, monitored: Monitored, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not the reader's zone, as `daeploy logs --date`: a zone 5 h 30 min east must not count.
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    between = monitored.at.old + timedelta(hours=1)  # after the old value, before the recent

    def values(since: str) -> list[str]:
        out = run_ok(daeploy, NAME, "--url", monitored.url, "-v", "temperature", "--since", since)
        return values_of(out.stdout.splitlines()[1:])

    assert values(between.isoformat()) == ["21.25"]
    assert values(between.strftime("%Y-%m-%d %H:%M:%S")) == ["21.25"]
    # The same wall time two hours east of UTC is two hours earlier: the old value is in again.
    assert values(between.isoformat() + "+02:00") == ["20.5", "21.25"]
    assert values((between + timedelta(hours=2)).isoformat() + "+02:00") == ["21.25"]


@pytest.mark.parametrize("since", ["1x", "yesterday", "5 minutes", "-5m", "", "2024-13-01"])
def test_bad_since_is_a_usage_error_naming_the_option(
    daeploy: Daeploy, no_cluster: Path, since: str
) -> None:
    """Checked before any address or cluster is asked (there is none here)."""
    result = daeploy("monitor", NAME, "--since", since)
    assert result.exit_code == 2, result.output
    line = one_line_error(result)
    assert line.startswith(f"Error: invalid --since {since!r}: give a duration such as 30s"), line
    assert "15m, 1h or 2d" in line and "2024-05-01T13:30:00" in line, line
    assert result.stdout == ""


def test_a_zero_duration_is_refused(daeploy: Daeploy, no_cluster: Path) -> None:
    result = daeploy("monitor", NAME, "--since", "0m")
    assert result.exit_code == 2, result.output
    assert one_line_error(result) == (
        "Error: invalid --since '0m': give a duration longer than zero, such as 30s, 15m, 1h or 2d"
    )


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host", "http://", "http://h/?a=1"])
def test_bad_url_is_a_usage_error(daeploy: Daeploy, no_cluster: Path, url: str) -> None:
    result = daeploy("monitor", NAME, "--url", url)
    assert result.exit_code == 2, result.output
    line = one_line_error(result)
    assert line.startswith(f"Error: invalid --url {url!r}: give the version's address"), line
    assert "http://127.0.0.1:8000" in line, line


# --- CSV -------------------------------------------------------------------------------------


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_of_one_variable_is_its_file(daeploy: Daeploy, monitored: Monitored) -> None:
    result = run_ok(daeploy, NAME, "--url", monitored.url, "-v", "temperature", "--csv")
    assert rows_of(result.stdout) == [
        ["timestamp", "value"],
        [stamp(monitored.at.old), "20.5"],
        [stamp(monitored.at.recent), "21.25"],
    ]
    since = run_ok(
        daeploy, NAME, "--url", monitored.url, "-v", "temperature", "--csv", "--since", "1h"
    )
    assert rows_of(since.stdout) == [["timestamp", "value"], [stamp(monitored.at.recent), "21.25"]]


def test_csv_of_several_variables_is_one_file_with_a_variable_column(
    daeploy: Daeploy, monitored: Monitored
) -> None:
    args = ("--url", monitored.url, "--csv", "-v", "temperature", "-v", "raw")
    rows = rows_of(run_ok(daeploy, NAME, *args).stdout)
    assert rows[0] == ["variable", "timestamp", "value"]
    assert [row[0] for row in rows[1:]] == ["temperature", "temperature", "raw", "raw"]
    assert rows[1:3] == [
        ["temperature", stamp(monitored.at.old), "20.5"],
        ["temperature", stamp(monitored.at.recent), "21.25"],
    ]
    # A value with commas and quotes survives the round trip.
    assert [row[2] for row in rows[3:]] == ['{"v": 1.0}', '{"v": 2.5}']
    # Without --variable: every variable, each once, all rows under one header.
    every = rows_of(run_ok(daeploy, NAME, "--url", monitored.url, "--csv").stdout)
    assert every[0] == ["variable", "timestamp", "value"]
    assert sorted({row[0] for row in every[1:]}) == [
        "double_request", "double_response", "doubled", "label", "raw", "temperature", "threshold"
    ]  # fmt: skip
    assert len(every) == 1 + 2 * 6 + 1


# --- unknown variables and an empty store ----------------------------------------------------


@pytest.mark.parametrize("as_csv", [False, True])
def test_unknown_variable_is_one_line_listing_the_known(
    daeploy: Daeploy, monitored: Monitored, as_csv: bool
) -> None:
    args = ["monitor", NAME, VERSION, "--url", monitored.url, "-v", "doubled", "-v", "nothing"]
    result = daeploy(*args, *(["--csv"] if as_csv else []))
    assert result.exit_code == 1, result.output
    assert one_line_error(result) == (
        f"Error: no variable 'nothing' stored by {NAME} {VERSION} (it has: double_request, "
        "double_response, doubled, label, raw, temperature, threshold)"
    )
    assert result.stdout == ""


@pytest.fixture
def silent(start_service: Callable[..., RunningService], tmp_path: Path) -> RunningService:
    """The tutorial's die_roller: it stores nothing."""
    env = {
        SERVICE_NAME_ENV: "die_roller",
        SERVICE_VERSION_ENV: VERSION,
        MONITOR_DB_ENV: str(tmp_path / "silent" / "monitor.db"),
    }
    return start_service(SERVICES / "die_roller" / "service.py", env=env, cwd=tmp_path)


@pytest.mark.parametrize("as_csv", [False, True])
def test_a_store_without_values_is_a_note(
    daeploy: Daeploy, silent: RunningService, as_csv: bool
) -> None:
    result = daeploy("monitor", "die_roller", "--url", silent.url, *(["--csv"] if as_csv else []))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "die_roller has stored no values yet (service.store() and monitor=True store them)\n"
    )
    asked = daeploy("monitor", "die_roller", "--url", silent.url, "-v", "rolls")
    assert asked.exit_code == 1, asked.output
    assert one_line_error(asked) == (
        "Error: no variable 'rolls' stored by die_roller (it has stored nothing yet)"
    )


def test_an_address_without_a_service_is_one_line(daeploy: Daeploy, no_cluster: Path) -> None:
    port = free_port()
    result = daeploy("monitor", NAME, "--url", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1, result.output
    assert one_line_error(result) == (
        f"Error: cannot reach {NAME} at http://127.0.0.1:{port}: connection refused; is it "
        "running there?"
    )


def test_an_address_that_is_no_service_is_one_line(daeploy: Daeploy, monitored: Monitored) -> None:
    result = daeploy("monitor", NAME, "--url", f"{monitored.url}/somewhere")
    assert result.exit_code == 1, result.output
    assert one_line_error(result) == (
        f"Error: {NAME} at {monitored.url}/somewhere has no {MONITOR_PATH} (404 Not Found): is "
        "that the version's address? (a Daeploy service answers there)"
    )


# --- in a namespace: the version's address and the caller's token ------------------------------


@contextmanager
def access_gate(envtest: EnvTest, make_namespace: Callable[[str], str]) -> Iterator[str]:
    """The real gate, reviewing as its own ServiceAccount (auth-delegator), as in its pod."""
    admin = envtest.api
    home = make_namespace("gate")
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "gate"}}
    admin.request("POST", resource_path("v1", "ServiceAccount", home), body=body)
    binding_name = f"{home}-auth-delegator"
    admin.request(
        "POST",
        CLUSTER_ROLE_BINDINGS,
        body={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": binding_name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": AUTH_DELEGATOR,
            },
            "subjects": [{"kind": "ServiceAccount", "namespace": home, "name": "gate"}],
        },
    )
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    path = resource_path("v1", "ServiceAccount", home, "gate", "token")
    gate_token = str((admin.request("POST", path, body=request) or {})["status"]["token"])
    ca = yaml.safe_load(envtest.kubeconfig.read_text())["clusters"][0]["cluster"][
        "certificate-authority"
    ]
    api = KubeApi(envtest.server, gate_token, ca)
    audiences = [TOKEN_AUDIENCE, *token_audiences(gate_token)]
    reviewer = Reviewer(api, audiences, ttl=0, service_audiences=True)
    port = free_port()
    config = uvicorn.Config(Gate(reviewer), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="gate", daemon=True)
    thread.start()
    eventually(lambda: server.started, "the gate listening")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        api.close()
        admin.request("DELETE", f"{CLUSTER_ROLE_BINDINGS}/{binding_name}")


def caller_token(apiserver: ApiNamespace) -> str:
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"audiences": [service_audience(apiserver.namespace, NAME)]},
    }
    path = resource_path("v1", "ServiceAccount", apiserver.namespace, CALLER_ACCOUNT, "token")
    return str((apiserver.api.request("POST", path, body=request) or {})["status"]["token"])


def set_url(apiserver: ApiNamespace, url: str | None) -> None:
    """Where the ingress would route the version: the stand-in for an ingress is the service
    itself, which answers on its route's path as it does behind one."""
    path = resource_path(
        API_GROUP_VERSION, KIND, apiserver.namespace, version_object_name(NAME, VERSION)
    )
    apiserver.api.request(
        "PATCH", f"{path}/status", body={"status": {"url": url}}, content_type=MERGE_PATCH
    )


def test_reads_the_main_versions_route_with_a_caller_token(
    daeploy: Daeploy,
    apiserver: ApiNamespace,
    envtest_namespaces: Callable[[str], str],
    start_service: Callable[..., RunningService],
    tmp_path: Path,
) -> None:
    with access_gate(apiserver.envtest, envtest_namespaces) as gate:
        # The operator with access control on: it makes the caller account and its Role.
        loop = OperatorLoop(apiserver.envtest, apiserver.namespace, {ACCESS_GATE_URL_ENV: gate})
        apiserver.create(NAME, VERSION)
        loop.start()
        try:
            eventually(
                lambda: (
                    apiserver.must_get(version_object_name(NAME, VERSION))
                    .get("status", {})
                    .get("mainMark")
                    == "*"
                ),
                "the operator marking the version main",
            )
            loop.settle()
        finally:
            loop.stop()  # it would write its own status.url back
        at = moments()
        db = tmp_path / "cluster" / "monitor.db"
        preload(db, temperature=[(at.old, 20.5), (at.recent, 21.25)])
        service = start_service(
            APPS / "monitored_service.py",
            env=monitored_env(db, **{NAMESPACE_ENV: apiserver.namespace, ACCESS_URL_ENV: gate}),
            cwd=tmp_path,
        )
        route = f"{service.url}{version_path(NAME, VERSION)}"
        set_url(apiserver, route)
        # The gate learns of the operator's RoleBinding from a watch: wait until it allows.
        token = caller_token(apiserver)
        eventually(
            lambda: (
                httpx.get(
                    f"{route}{MONITOR_PATH}", headers={"Authorization": f"Bearer {token}"}
                ).status_code
                == 200
            ),
            "the gate letting the caller account read the values",
        )

        result = run_ok(daeploy, NAME, "-v", "temperature", "--since", "1h")
        assert result.stdout.splitlines() == [
            "temperature (1 value)",
            *TABLE_HEADER,
            f"{shown(at.recent)}  21.25",
        ]
        named = run_ok(daeploy, NAME, VERSION, "-v", "temperature", "--csv")
        assert rows_of(named.stdout)[1:] == [[stamp(at.old), "20.5"], [stamp(at.recent), "21.25"]]

        # The same address without a token: the service's guard refuses, and says how.
        bare = daeploy("monitor", NAME, "--url", route, "-v", "temperature")
        assert bare.exit_code == 1, bare.output
        line = one_line_error(bare)
        assert line.startswith(f"Error: {NAME} at {route} refused the call (401 Unauthorized: "), (
            line
        )
        assert line.endswith(
            f'it needs a token; give one with --token "$(daeploy token --service {NAME})"'
        ), line
        # ... and with one given, it is sent.
        given = run_ok(daeploy, NAME, "--url", route, "--token", token, "-v", "threshold")
        assert values_of(given.stdout.splitlines()[1:]) == ["3.0"]
        forged = daeploy("monitor", NAME, "--url", route, "--token", "not.a.token")
        assert forged.exit_code == 1, forged.output
        assert f"Error: {NAME} at {route} refused the token (401 Unauthorized" in one_line_error(
            forged
        )


def test_a_route_without_a_host_goes_under_the_active_host(
    daeploy: Daeploy, apiserver: ApiNamespace
) -> None:
    """No ingress host: status.url is the path alone, and goes under the address `deploy`
    prints (here the API server's, as nothing else is known), which is no service."""
    apiserver.create(NAME, VERSION, main=True)
    set_url(apiserver, version_path(NAME, VERSION))
    result = daeploy("monitor", NAME, VERSION)
    assert result.exit_code == 1, result.output
    line = one_line_error(result)
    assert f" {NAME} {VERSION} at {apiserver.server}{version_path(NAME, VERSION)}: " in line, line
    # envtest's own certificate authority is no one's: the CLI does not trust it either.
    assert "TLS error" in line, line
    set_url(apiserver, None)
    unrouted = daeploy("monitor", NAME)
    assert unrouted.exit_code == 1, unrouted.output
    assert one_line_error(unrouted) == (
        f"Error: {NAME} {VERSION} has no address yet (the operator has not routed it; see "
        f"`daeploy ls {NAME} {VERSION}`), or give its address with --url"
    )


def test_unknown_service_is_the_lookups_error(daeploy: Daeploy, apiserver: ApiNamespace) -> None:
    result = daeploy("monitor", "no_such_service")
    assert result.exit_code == 1, result.output
    assert one_line_error(result).startswith("Error: no service named 'no_such_service'")


def test_help_names_the_formats(daeploy: Daeploy) -> None:
    result = daeploy("monitor", "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert text.startswith("Usage: daeploy monitor [OPTIONS] NAME [VERSION]")
    for phrase in (
        "(timestamp,value)",
        "(variable,timestamp,value)",
        "-v, --variable NAME",
        "--since DURATION|TIME",
        "--url BASE",
        "--token TOKEN",
    ):
        assert phrase in text, phrase


def test_an_empty_variable_name_is_refused(daeploy: Daeploy, no_cluster: Path) -> None:
    result = daeploy("monitor", NAME, "-v", "doubled", "-v", " ")
    assert result.exit_code == 2, result.output
    assert one_line_error(result) == (
        "Error: invalid --variable ' ': give a variable's name, such as -v rolled"
    )
