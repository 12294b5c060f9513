"""The 1.x-style examples in tests/compat_examples as folder deploys on the real cluster (issue 14).

Every example folder is deployed unchanged with the installed ``daeploy`` command, one version
(1.0.0) per name, into a fresh namespace with its own ingress host; then each is called through
the ingress at ``/services/<name>/<entrypoint>`` as 1.x documented it. The dice game finds the
die roller by name inside the cluster; notifications are read back with ``daeploy
notifications``; parameter writes use the tests' caller, which has the right to change them.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube_helpers import ServiceNamespace, service_namespace, wait_until

from daeploy.names import service_path
from daeploy.parameters import PREFIX as PARAMETERS_PATH

EXAMPLES = Path(__file__).resolve().parents[1] / "compat_examples"
VERSION = "1.0.0"
# Service name -> example folder, in deploy order (the die roller before its caller).
DEPLOYS = {
    "die_roller": "cross_service/die_roller",
    "dice_game": "cross_service/dice_game",
    "booking": "notifications",
    "notes": "status_codes",
    "arrays": "arrays",
    "frames": "dataframes",
    "thermostat": "parameters",
    "ticker": "ticker",
}
# A call each example answers once its route is in place: (entrypoint, method, body).
FIRST_CALLS: dict[str, tuple[str, str, Any]] = {
    "die_roller": ("roll_die", "POST", {}),
    "dice_game": ("throw_pair", "POST", {}),
    "booking": ("book_room", "POST", {"room": "Room 1"}),
    "notes": ("read_note", "POST", {"title": "-"}),  # 404 from the service itself
    "arrays": ("elementwise_sum", "POST", {"first": [1], "second": [2]}),
    "frames": ("add_total", "POST", {"table": {"a": [1]}}),
    "thermostat": ("advise", "POST", {"current": 20}),
    "ticker": ("ticks", "GET", None),
}

IGNORED = shutil.ignore_patterns("__pycache__", "*.db")

pytestmark = pytest.mark.cluster


@dataclass
class Examples:
    cluster: Any
    place: ServiceNamespace
    client: httpx.Client
    deploy_output: dict[str, str] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.place.name

    def daeploy(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.place.daeploy(*args)

    def call(
        self, name: str, entrypoint: str, body: Any = None, method: str = "POST"
    ) -> httpx.Response:
        url = f"{self.cluster.ingress_url}{service_path(name)}/{entrypoint}"
        return self.client.request(method, url, json=body)

    def parameters_url(self, name: str, parameter: str = "") -> str:
        tail = f"/{parameter}" if parameter else ""
        return f"{self.cluster.ingress_url}{service_path(name)}{PARAMETERS_PATH}{tail}"


def _routed(examples: Examples, name: str) -> bool:
    entrypoint, method, body = FIRST_CALLS[name]
    status = examples.call(name, entrypoint, body, method).status_code
    return status in (200, 404) if name == "notes" else status == 200


@pytest.fixture(scope="module")
def examples(
    cluster: Any, project_images: Any, daeploy_operator: Any, tmp_path_factory: Any
) -> Iterator[Examples]:
    with (
        service_namespace(cluster, "examples") as place,
        httpx.Client(headers=place.headers, timeout=30) as client,
    ):
        here = Examples(cluster, place, client)
        folders = tmp_path_factory.mktemp("compat_examples")
        for name, example in DEPLOYS.items():
            folder = folders / name
            shutil.copytree(EXAMPLES / example, folder, ignore=IGNORED)
            run = here.daeploy("deploy", name, VERSION, str(folder))
            here.deploy_output[name] = run.stdout + run.stderr
        # Ready means routed in Kubernetes; the ingress controller applies a route a moment
        # after, so every example is polled for its first answer.
        for name in DEPLOYS:
            wait_until(
                lambda name=name: _routed(here, name),
                f"{name} to answer through the ingress", timeout=120, every=0.5,
            )  # fmt: skip
        yield here


def test_the_1x_requirement_pins_are_left_out(examples: Examples) -> None:
    # As 1.x projects pinned it: the image build leaves the old SDK out and says so.
    assert "'daeploy==1.4.0' left out" in examples.deploy_output["frames"]


def test_1x_array_code_without_requirements_gets_numpy(examples: Examples) -> None:
    # As 1.x's ndarray example: no requirements.txt, numpy through daeploy.data_types.
    assert "added numpy>=1.24, pandas>=2" in examples.deploy_output["arrays"]


def test_one_service_calls_another_by_name(examples: Examples) -> None:
    for _ in range(10):
        answer = examples.call("dice_game", "throw_pair")
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert len(result["dice"]) == 2
        assert all(value in range(1, 7) for value in result["dice"])
        assert result["total"] == sum(result["dice"])
    assert examples.call("die_roller", "roll_die", {"sides": 1}).json() == 1


def test_a_notification_is_posted_and_the_request_refused(examples: Examples) -> None:
    answer = examples.call("booking", "book_room", {"room": "Room 2"})
    assert (answer.status_code, answer.json()) == (200, "Booked Room 2")
    refused = examples.call("booking", "book_room", {"room": "Server Room"})
    message = "Refused a booking of the restricted room: Server Room"
    assert refused.status_code == 403
    assert refused.json() == {"detail": message}

    def row() -> list[str] | None:
        listing = examples.daeploy("notifications", "booking").stdout
        for line in listing.splitlines()[2:]:
            if line.endswith(message):
                return line.split()
        return None

    found = wait_until(row, "the notification in `daeploy notifications`", timeout=60)
    assert found[:3] == ["WARNING", "booking", VERSION]
    assert int(found[3]) >= 1


def test_status_codes_through_the_ingress(examples: Examples) -> None:
    note = {"title": "plan", "text": "ship it"}
    created = examples.call("notes", "create_note", note)
    assert (created.status_code, created.json()) == (201, "Created")
    again = examples.call("notes", "create_note", note)
    assert again.status_code == 409
    assert again.json() == {"detail": "A note called plan exists already"}
    read = examples.call("notes", "read_note", {"title": "plan"})
    assert (read.status_code, read.json()) == (200, "ship it")
    missing = examples.call("notes", "read_note", {"title": "other"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "No note called other"})
    assert examples.call("notes", "create_note", {"title": "x"}).status_code == 422
    # Last: an unhandled exception answers 500 (and see the next test).
    assert examples.call("notes", "note_length", {"title": "other"}).status_code == 500


def test_a_call_right_after_a_500_is_answered(examples: Examples) -> None:
    for _ in range(5):
        assert examples.call("notes", "note_length", {"title": "nowhere"}).status_code == 500
        after = examples.call("notes", "read_note", {"title": "plan"})
        assert after.status_code in (200, 404), after.text  # not 502 Bad Gateway


def test_numpy_arrays_in_and_out(examples: Examples) -> None:
    summed = examples.call("arrays", "elementwise_sum", {"first": [1, 2, 3], "second": [4, 5, 6]})
    assert (summed.status_code, summed.json()) == (200, [5, 7, 9])
    turned = examples.call("arrays", "transpose", {"matrix": [[1, 2, 3], [4, 5, 6]]})
    assert turned.json() == [[1, 4], [2, 5], [3, 6]]


def test_dataframes_in_and_out(examples: Examples) -> None:
    readings = {"temperature": [20, 22, 24], "humidity": [40, 50, 60]}
    means = examples.call("frames", "column_means", {"readings": readings})
    assert (means.status_code, means.json()) == (200, {"temperature": 22.0, "humidity": 50.0})
    bad = examples.call("frames", "column_means", {"readings": {**readings, "humidity": ["x"]}})
    assert bad.status_code == 422
    table = examples.call("frames", "add_total", {"table": {"a": [1, 2], "b": [3, 4]}})
    assert table.json() == {"a": {"0": 1, "1": 2}, "b": {"0": 3, "1": 4}, "total": {"0": 4, "1": 6}}


def test_parameters_are_read_and_changed_through_the_ingress(examples: Examples) -> None:
    listing = examples.client.get(examples.parameters_url("thermostat"))
    assert listing.json() == {"target_temperature": 21.5, "unit": "celsius"}
    target = examples.parameters_url("thermostat", "target_temperature")
    # Changing a parameter is a stronger right than calling the service.
    anonymous = httpx.post(target, json={"value": 18}, headers={"Host": examples.place.host})
    assert anonymous.status_code == 401
    changed = examples.client.post(target, json={"value": 18})
    assert changed.status_code == 200, changed.text
    advice = examples.call("thermostat", "advise", {"current": 19})
    assert advice.json() == "Cool: 19.0 is above 18.0 celsius"
    assert examples.client.post(target, json={"value": "warm"}).status_code == 422
    assert examples.call("thermostat", "reset_target").json() == 21.5
    listing = examples.client.get(examples.parameters_url("thermostat"))
    assert listing.json() == {"target_temperature": 21.5, "unit": "celsius"}


def test_the_ticker_ticks_on_its_schedule(examples: Examples) -> None:
    def ticks() -> int:
        answer = examples.call("ticker", "ticks", method="GET")
        assert answer.status_code == 200, answer.text
        return int(answer.json()["ticks"])

    began = time.monotonic()
    first = ticks()
    now = wait_until(lambda: (n := ticks()) >= first + 3 and n, "three more ticks", timeout=20)
    assert now - first <= time.monotonic() - began + 1
