"""The 1.x-style examples in tests/compat_examples, each run as a real local process (issue 14).

Every example is started as a 1.x user would: ``python service.py`` in its own folder. Each is
then called over real HTTP at ``/services/<name>/<entrypoint>``, the path 1.x documented (the
SDK serves the ingress prefixes locally too), and checked against what 1.x documented for it.
The dice game finds the die roller through ``DAEPLOY_SERVICE_URLS`` (see daeploy/calls.py).

Each check is what 1.x documented or its own tests asserted (bare parameter values, "OK" on a
change, validated direct calls, a kept-alive connection that survives a 500).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sdk_support import RunningService, clean_env, make_starter

from daeploy.contract import (
    MONITOR_DB_ENV,
    SERVICE_NAME_ENV,
    SERVICE_URLS_ENV,
    SERVICE_VERSION_ENV,
)
from daeploy.names import service_path
from daeploy.parameters import PREFIX as PARAMETERS_PATH

EXAMPLES = Path(__file__).resolve().parents[1] / "compat_examples"
VERSION = "1.0.0"

Start = Callable[..., RunningService]


@pytest.fixture(scope="module")
def start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Start]:
    """Start ``compat_examples/<folder>/service.py`` from its folder as service ``name``."""
    started: list[RunningService] = []
    workdir = tmp_path_factory.mktemp("compat_examples")
    starter = make_starter(workdir, started)

    def start_example(name: str, folder: str, env: dict[str, str] | None = None) -> RunningService:
        script = EXAMPLES / folder / "service.py"
        return starter(
            script,
            cwd=script.parent,
            env={
                SERVICE_NAME_ENV: name,
                SERVICE_VERSION_ENV: VERSION,
                # Keep the monitoring store out of the example's folder.
                MONITOR_DB_ENV: str(workdir / f"{name}.db"),
                **(env or {}),
            },
        )

    yield start_example
    for service in started:
        service.stop(timeout=5)


def need_data_packages() -> None:
    """numpy and pandas come with the dev extra ``data``; without them these examples cannot run."""
    missing = [name for name in ("numpy", "pandas") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not importable by {sys.executable}: the typing examples "
            "need them; install the dev environment with the 'data' extra "
            "(pip install -e '.[dev,data]')",
            pytrace=False,
        )


def call(
    service: RunningService, name: str, entrypoint: str, body: Any = None, method: str = "POST"
) -> httpx.Response:
    """Call ``entrypoint`` of service ``name`` where 1.x documented it: /services/<name>/..."""
    url = f"{service.url}{service_path(name)}/{entrypoint}"
    return httpx.request(method, url, json=body, timeout=15)


# --- cross-service communication ------------------------------------------------------------


@pytest.fixture(scope="module")
def dice(start: Start) -> dict[str, RunningService]:
    die_roller = start("die_roller", "cross_service/die_roller")
    game = start(
        "dice_game",
        "cross_service/dice_game",
        env={SERVICE_URLS_ENV: json.dumps({"die_roller": die_roller.url})},
    )
    return {"die_roller": die_roller, "dice_game": game}


def test_die_roller_answers_a_roll(dice: dict[str, RunningService]) -> None:
    for _ in range(10):
        answer = call(dice["die_roller"], "die_roller", "roll_die")
        assert answer.status_code == 200, answer.text
        assert answer.json() in range(1, 7)
    coins = {
        call(dice["die_roller"], "die_roller", "roll_die", {"sides": 2}).json() for _ in range(30)
    }
    assert coins <= {1, 2}
    # Run locally, 1.x served the entrypoints at the root as well.
    assert httpx.post(dice["die_roller"].url + "/roll_die").json() in range(1, 7)


def test_dice_game_rolls_through_the_die_roller(dice: dict[str, RunningService]) -> None:
    for _ in range(10):
        answer = call(dice["dice_game"], "dice_game", "throw_pair")
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert len(result["dice"]) == 2
        assert all(value in range(1, 7) for value in result["dice"])
        assert result["total"] == sum(result["dice"])
    # The rolls really came from the other process.
    assert "/roll_die" in dice["die_roller"].log()


# --- notifications --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def booking(start: Start) -> RunningService:
    return start("booking", "notifications")


def test_an_ordinary_booking_is_answered(booking: RunningService) -> None:
    answer = call(booking, "booking", "book_room", {"room": "Room 4"})
    assert answer.status_code == 200
    assert answer.json() == "Booked Room 4"
    assert "notification" not in booking.log()


def test_a_restricted_booking_notifies_and_is_refused_with_403(booking: RunningService) -> None:
    answer = call(booking, "booking", "book_room", {"room": "Vault"})
    assert answer.status_code == 403
    message = "Refused a booking of the restricted room: Vault"
    assert answer.json() == {"detail": message}
    # Outside a cluster a notification is logged, with its severity.
    deadline = time.monotonic() + 5
    while not [line for line in booking.log().splitlines() if message in line]:
        assert time.monotonic() < deadline, booking.log()
        time.sleep(0.1)
    (line,) = [line for line in booking.log().splitlines() if message in line]
    assert "WARNING" in line


# --- status codes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def notes(start: Start) -> RunningService:
    return start("notes", "status_codes")


def test_status_codes_as_documented(notes: RunningService) -> None:
    note = {"title": "shopping", "text": "milk, eggs"}
    created = call(notes, "notes", "create_note", note)
    assert created.status_code == 201
    assert created.json() == "Created"
    again = call(notes, "notes", "create_note", note)
    assert again.status_code == 409
    assert again.json() == {"detail": "A note called shopping exists already"}

    read = call(notes, "notes", "read_note", {"title": "shopping"})
    assert (read.status_code, read.json()) == (200, "milk, eggs")
    missing = call(notes, "notes", "read_note", {"title": "holiday"})
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No note called holiday"}

    assert call(notes, "notes", "note_length", {"title": "shopping"}).json() == 10
    # An exception the entrypoint does not turn into an HTTPException answers 500.
    assert call(notes, "notes", "note_length", {"title": "holiday"}).status_code == 500
    # Missing or mistyped input is refused before the function runs.
    assert call(notes, "notes", "create_note", {"title": "x"}).status_code == 422


def _exchange(sock: socket.socket, path: str, body: str) -> bytes:
    """One HTTP/1.1 request on a kept-alive connection; its whole answer, b"" if none came."""
    head = f"POST {path} HTTP/1.1\r\nHost: notes\r\nContent-Type: application/json\r\n"
    try:
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                return answer
            answer += chunk
        headers, _, rest = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?im)^content-length:\s*(\d+)", headers).group(1))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return headers + b"\r\n\r\n" + rest
    except OSError:
        return b""


def test_a_kept_alive_connection_survives_an_unhandled_error(notes: RunningService) -> None:
    path = f"{service_path('notes')}/note_length"
    with socket.create_connection(("127.0.0.1", notes.port), timeout=5) as sock:
        first = _exchange(sock, path, '{"title": "nowhere"}')
        assert first.startswith(b"HTTP/1.1 500"), first
        if re.search(rb"(?im)^connection:\s*close", first):
            return  # the server said it closes the connection: a client will not reuse it
        second = _exchange(sock, path, '{"title": "nowhere"}')
        assert second.startswith(b"HTTP/1.1 500"), "no answer on the same connection"


# --- typing: numpy arrays -------------------------------------------------------------------


@pytest.fixture(scope="module")
def arrays(start: Start) -> RunningService:
    need_data_packages()
    return start("arrays", "arrays")


def test_arrays_are_added_element_by_element(arrays: RunningService) -> None:
    answer = call(arrays, "arrays", "elementwise_sum", {"first": [1, 2, 3], "second": [4, 5, 6]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == [5, 7, 9]  # lists would have been concatenated
    floats = call(arrays, "arrays", "elementwise_sum", {"first": [0.5, 1], "second": [1, 2.25]})
    assert floats.json() == [1.5, 3.25]


def test_nested_lists_are_matrices(arrays: RunningService) -> None:
    answer = call(arrays, "arrays", "transpose", {"matrix": [[1, 2, 3], [4, 5, 6]]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == [[1, 4], [2, 5], [3, 6]]


# --- typing: pandas DataFrames --------------------------------------------------------------


@pytest.fixture(scope="module")
def frames(start: Start) -> RunningService:
    need_data_packages()
    return start("frames", "dataframes")


def test_a_pydantic_model_becomes_a_dataframe(frames: RunningService) -> None:
    readings = {"temperature": [20, 22, 24], "humidity": [40, 50, 60]}
    answer = call(frames, "frames", "column_means", {"readings": readings})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"temperature": 22.0, "humidity": 50.0}


def test_a_column_that_is_not_numbers_is_a_422(frames: RunningService) -> None:
    readings = {"temperature": [20, "warm"], "humidity": [40, 50]}
    answer = call(frames, "frames", "column_means", {"readings": readings})
    assert answer.status_code == 422
    locations = [error["loc"] for error in answer.json()["detail"]]
    assert ["body", "readings", "temperature", 1] in locations


def test_dataframe_input_and_output_in_1x_shapes(frames: RunningService) -> None:
    # Columns as lists in; DataFrame.to_dict() out: per column, index to value.
    answer = call(frames, "frames", "add_total", {"table": {"a": [1, 2], "b": [3, 4]}})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "a": {"0": 1, "1": 2},
        "b": {"0": 3, "1": 4},
        "total": {"0": 4, "1": 6},
    }
    # Columns as objects of index to value in: the index is kept.
    indexed = {"a": {"mon": 1.5, "tue": 2.0}, "b": {"mon": 2.5, "tue": 1.0}}
    answer = call(frames, "frames", "add_total", {"table": indexed})
    assert answer.json() == {**indexed, "total": {"mon": 4.0, "tue": 3.0}}


# --- parameters -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def thermostat(start: Start) -> RunningService:
    return start("thermostat", "parameters")


def parameter_url(service: RunningService, parameter: str = "") -> str:
    tail = f"/{parameter}" if parameter else ""
    return f"{service.url}{service_path('thermostat')}{PARAMETERS_PATH}{tail}"


def test_parameters_are_listed_and_changed_over_http(thermostat: RunningService) -> None:
    listing = httpx.get(parameter_url(thermostat), timeout=10)
    assert listing.json() == {"target_temperature": 21.5, "unit": "celsius"}
    advice = call(thermostat, "thermostat", "advise", {"current": 19})
    assert advice.json() == "Heat: 19.0 is below 21.5 celsius"

    changed = httpx.post(parameter_url(thermostat, "target_temperature"), json={"value": 18})
    assert changed.status_code == 200, changed.text
    httpx.post(parameter_url(thermostat, "unit"), json={"value": "degrees"}).raise_for_status()
    advice = call(thermostat, "thermostat", "advise", {"current": 19})
    assert advice.json() == "Cool: 19.0 is above 18.0 degrees"
    listing = httpx.get(parameter_url(thermostat), timeout=10)
    assert listing.json() == {"target_temperature": 18.0, "unit": "degrees"}

    # The new value must have the type of the first one.
    refused = httpx.post(parameter_url(thermostat, "target_temperature"), json={"value": "warm"})
    assert refused.status_code == 422
    # service.set_parameter from inside the service.
    assert call(thermostat, "thermostat", "reset_target").json() == 21.5
    advice = call(thermostat, "thermostat", "advise", {"current": 21.5})
    assert advice.json() == "Keep: 21.5 is 21.5 degrees"
    httpx.post(parameter_url(thermostat, "unit"), json={"value": "celsius"}).raise_for_status()


def test_reading_one_parameter_answers_its_bare_value_as_in_1x(thermostat: RunningService) -> None:
    assert httpx.get(parameter_url(thermostat, "unit"), timeout=10).json() == "celsius"


def test_changing_a_parameter_answers_ok_as_in_1x(thermostat: RunningService) -> None:
    answer = httpx.post(parameter_url(thermostat, "unit"), json={"value": "celsius"}, timeout=10)
    assert answer.json() == "OK"


# --- scheduled calls ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ticker(start: Start) -> RunningService:
    return start("ticker", "ticker")


def test_call_every_changes_state_on_a_schedule(ticker: RunningService) -> None:
    def state() -> dict[str, Any]:
        answer = call(ticker, "ticker", "ticks", method="GET")
        assert answer.status_code == 200, answer.text
        return answer.json()

    began = time.monotonic()
    first = state()
    while (now := state())["ticks"] < first["ticks"] + 3:
        assert time.monotonic() - began < 10, f"the ticker did not tick: {first} then {now}"
        time.sleep(0.2)
    # Once a second, not faster.
    assert now["ticks"] - first["ticks"] <= time.monotonic() - began + 1
    assert abs(now["last_tick"] - time.time()) < 5
    # It is a GET entrypoint: POST is not served.
    assert call(ticker, "ticker", "ticks").status_code == 405


def test_calling_an_entrypoint_function_directly_validates_as_in_1x() -> None:
    need_data_packages()
    folder = EXAMPLES / "arrays"
    code = "import service; print(repr(service.elementwise_sum([1, 2, 3], [4, 5, 6])))"
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        env=clean_env({MONITOR_DB_ENV: os.devnull, "PYTHONDONTWRITEBYTECODE": "1"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "array([5, 7, 9])"
