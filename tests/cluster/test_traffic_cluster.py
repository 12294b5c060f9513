"""Shadows and canary weights on the real cluster, through the real Traefik (issue 12).

One service, ``recorder``, in four versions that count the requests they receive: 1.0.0 (main)
and 2.0.0 answer, 3.0.0 fails every request with HTTP 500 and 4.0.0 takes 2 s to answer. A
second service, ``relay``, calls ``recorder`` with ``call_service``. How fast callers are served
with and without shadows is a benchmark (bench/traffic.py); here only what they got, and that a
failing or sleeping shadow never reaches them.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube_helpers import ServiceNamespace, SteadyLoad, dsvc, service_namespace, wait_until

from daeploy.names import service_path, version_object_name, version_path

REQUESTS = 1000
# Above the 4 MiB that was once the copying limit: the chart's default copies any size.
LARGE_BODY_BYTES = 5 * 1024 * 1024
SPLIT_REQUESTS = 2000
# (version, RECORDER_MODE): what each version does with a request it receives.
VERSIONS = (("1.0.0", ""), ("2.0.0", ""), ("3.0.0", "fail"), ("4.0.0", "slow"))

APPS = Path(__file__).parents[1] / "sdk" / "apps"
RECORDER = APPS / "recorder_service.py"
RELAY = APPS / "relay_service.py"

pytestmark = pytest.mark.cluster


@dataclass
class Place:
    cluster: Any
    space: ServiceNamespace
    client: httpx.Client

    @property
    def namespace(self) -> str:
        return self.space.name

    @property
    def host(self) -> str:
        return self.space.host

    def url(self, path: str) -> str:
        return f"{self.cluster.ingress_url}{path}"

    def daeploy(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.space.daeploy(*args)

    def count(self, version: str) -> int:
        answer = self.client.get(self.url(f"{version_path('recorder', version)}/count"))
        assert answer.status_code == 200, answer.text
        return int(answer.json())

    def counts(self) -> dict[str, int]:
        return {version: self.count(version) for version, _ in VERSIONS}

    def hit(self, path: str = "") -> httpx.Response:
        return self.client.post(self.url(path or f"{service_path('recorder')}/hit"), json={})

    def traffic(self, version: str) -> str:
        obj = dsvc(self.cluster, self.namespace, version_object_name("recorder", version))
        return str(obj.get("status", {}).get("traffic", ""))


@pytest.fixture(scope="module")
def place(cluster: Any, project_images: Any, daeploy_operator: Any, tmp_path_factory: Any
          ) -> Iterator[Place]:  # fmt: skip
    with (
        service_namespace(cluster, "traffic") as space,
        httpx.Client(headers=space.headers, timeout=30) as client,
    ):
        here = Place(cluster, space, client)
        folders = tmp_path_factory.mktemp("traffic")
        for name, app in (("recorder", RECORDER), ("relay", RELAY)):
            (folders / name).mkdir()
            shutil.copy(app, folders / name / "service.py")
        for version, mode in VERSIONS:
            extra = ["-e", f"RECORDER_MODE={mode}"] if mode else []
            here.daeploy("deploy", "recorder", version, str(folders / "recorder"), *extra)
        here.daeploy("deploy", "relay", "1.0.0", str(folders / "relay"))
        wait_until(
            lambda: (
                [here.traffic(v) for v, _ in VERSIONS]
                == ["main 100%", "shadow", "shadow", "shadow"]
            ),
            "1.0.0 to be main and the other versions shadows",
        )
        # Traefik applies the routes a moment after the operator wrote them.
        wait_until(lambda: here.hit().status_code == 200, "the main route to answer")
        yield here


def _quiet_counts(place: Place) -> dict[str, int]:
    """The counts once no copy of an earlier request is still on its way."""
    last: dict[str, int] = {}

    def unchanged() -> dict[str, int] | None:
        now = place.counts()
        same = now == last
        last.clear()
        last.update(now)
        return now if same else None

    return wait_until(unchanged, "the counts to stop moving", every=1.0)


def _settled_counts(place: Place, expected: dict[str, int], timeout: float = 60) -> dict[str, int]:
    """The counts once every copy has arrived (copies go out after the callers' answers)."""
    last: dict[str, int] = {}

    def arrived() -> bool:
        last.update(place.counts())
        return all(last[v] >= n for v, n in expected.items())

    try:
        wait_until(arrived, f"the counts to reach {expected}", timeout=timeout)
    finally:
        time.sleep(1)  # nothing more may arrive after that: no request is copied twice
    return place.counts()


def test_every_request_reaches_the_main_and_every_shadow_and_callers_see_only_the_main(
    place: Place,
) -> None:
    before = _quiet_counts(place)
    answers = [place.hit() for _ in range(REQUESTS)]
    assert {(a.status_code, a.text) for a in answers} == {(200, "1")}
    expected = {v: before[v] + REQUESTS for v, _ in VERSIONS}
    assert _settled_counts(place, expected) == expected


def test_a_large_body_reaches_every_shadow_too(place: Place) -> None:
    before = _quiet_counts(place)
    body = {"n": 1, "pad": "x" * LARGE_BODY_BYTES}
    answer = place.client.post(place.url(f"{service_path('recorder')}/hit"), json=body)
    assert (answer.status_code, answer.text) == (200, "1")
    expected = {v: before[v] + 1 for v, _ in VERSIONS}
    assert _settled_counts(place, expected) == expected


def test_call_service_is_mirrored_like_the_ingress(place: Place) -> None:
    relay = f"{service_path('relay')}/relay"
    wait_until(lambda: place.hit(relay).status_code == 200, "relay to answer")
    before = _quiet_counts(place)
    answers = [place.hit(relay) for _ in range(50)]
    assert {(a.status_code, a.text) for a in answers} == {(200, "1")}
    expected = {v: before[v] + 50 for v, _ in VERSIONS}
    assert _settled_counts(place, expected) == expected


def test_weights_split_the_answers_and_moving_them_under_load_loses_nothing(
    place: Place,
) -> None:
    place.daeploy("assign", "recorder", "2.0.0", "--weight", "10")
    for version in ("3.0.0", "4.0.0"):
        place.daeploy("assign", "recorder", version, "--no-shadow")
    wait_until(
        lambda: [place.traffic(v) for v, _ in VERSIONS] == ["main 90%", "canary 10%", "", ""],
        "the split to be 90/10 with no shadows",
    )
    listing = place.daeploy("ls", "recorder").stdout
    assert "canary 10%" in listing and "main 90%" in listing

    def split_applied() -> bool:
        return {place.hit().text for _ in range(20)} == {"1", "2"}

    wait_until(split_applied, "Traefik to apply the split")
    answers = [place.hit() for _ in range(SPLIT_REQUESTS)]
    assert {a.status_code for a in answers} == {200}
    canary = sum(a.text == "2" for a in answers) / SPLIT_REQUESTS
    assert 0.07 <= canary <= 0.13, f"the canary answered {canary:.1%}, not 10% +/- 3%"

    headers = dict(place.client.headers)
    with SteadyLoad(place.url(f"{service_path('recorder')}/hit"), interval=0.01,
                    max_requests=20000, max_seconds=300, headers=headers) as load:  # fmt: skip
        for weight in ("50", "0", "30", "0"):
            place.daeploy("assign", "recorder", "2.0.0", "--weight", weight)
            time.sleep(2)
    assert load.failures == []
    assert len(load.answers) > 100 and set(load.answers) <= {1, 2}
    assert 2 in load.answers


def test_a_version_that_stops_being_available_loses_its_share(place: Place) -> None:
    place.daeploy("assign", "recorder", "2.0.0", "--weight", "40")
    wait_until(lambda: place.traffic("2.0.0") == "canary 40%", "2.0.0 to be a 40% canary")
    obj = version_object_name("recorder", "2.0.0")
    place.cluster.kubectl("-n", place.namespace, "patch", "daeployservice", obj,
                          "--type=merge", "-p", '{"spec": {"replicas": 0}}')  # fmt: skip
    wait_until(lambda: place.traffic("1.0.0") == "main 100%", "the main to take the share back")
    assert place.traffic("2.0.0") == ""
    # Traefik applies the operator's new route a moment later.
    wait_until(lambda: {place.hit().text for _ in range(20)} == {"1"}, "Traefik to follow")
    answers = [place.hit() for _ in range(100)]
    assert {(a.status_code, a.text) for a in answers} == {(200, "1")}
