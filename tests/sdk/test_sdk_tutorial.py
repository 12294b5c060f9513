"""The tutorial's two services as real processes: yatzee plays with dice from die_roller."""

from __future__ import annotations

import hashlib
import re

import httpx
from sdk_support import SERVICES, RunningService, Starter, free_port

from daeploy.contract import (
    CALL_RETRIES_ENV,
    LIVE_PATH,
    READY_PATH,
    SERVICE_NAME_ENV,
    SERVICE_URLS_ENV,
)
from daeploy.names import service_path, version_path

# The tutorial's service.py files, byte for byte (see the seed tutorial).
TUTORIAL_SHA256 = {
    "die_roller": "42f35e0b2895927e6306145a392581518fef0ef95a126a8910d9a113ce66690e",
    "yatzee": "1218deded9eaf8dc74ae4399b60fb4bb7cf434f87abc9ac0b41076ddb80fa053",
}


def test_service_files_are_the_tutorial_code() -> None:
    for name, digest in TUTORIAL_SHA256.items():
        data = (SERVICES / name / "service.py").read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"services/{name}/service.py changed"


def test_roll_die_answers_an_int(tutorial: dict[str, RunningService]) -> None:
    for _ in range(20):
        response = httpx.post(tutorial["die_roller"].url + "/roll_die")
        assert response.status_code == 200
        assert response.json() in range(1, 7)


def test_play_calls_die_roller_and_returns_five_sorted_dice(
    tutorial: dict[str, RunningService],
) -> None:
    for _ in range(10):
        response = httpx.post(tutorial["yatzee"].url + "/play")
        assert response.status_code == 200, response.text
        dice = response.json()
        assert len(dice) == 5
        assert all(isinstance(d, int) and 1 <= d <= 6 for d in dice)
        assert dice == sorted(dice)


def test_same_app_answers_under_the_ingress_prefixes(tutorial: dict[str, RunningService]) -> None:
    yatzee = tutorial["yatzee"].url
    for prefix in ("", service_path("yatzee"), version_path("yatzee", "1.0.0")):
        response = httpx.post(f"{yatzee}{prefix}/play")
        assert response.status_code == 200, (prefix, response.text)
        assert len(response.json()) == 5
    # Another service's prefix is not ours.
    assert httpx.post(f"{yatzee}{service_path('die_roller')}/play").status_code == 404
    assert httpx.post(f"{yatzee}{version_path('yatzee', '2.0.0')}/play").status_code == 404


def test_docs_page_loads_its_openapi_from_the_prefix(tutorial: dict[str, RunningService]) -> None:
    base = tutorial["die_roller"].url
    for prefix in (service_path("die_roller"), version_path("die_roller", "1.0.0"), ""):
        page = httpx.get(f"{base}{prefix}/docs")
        assert page.status_code == 200
        match = re.search(r"url: '([^']+)'", page.text)
        assert match, page.text
        openapi_url = match.group(1)
        assert openapi_url == f"{prefix}/openapi.json"
        schema = httpx.get(base + openapi_url).json()
        assert "/roll_die" in schema["paths"]
        assert schema["info"]["title"] == "die_roller"
        assert schema["info"]["version"] == "1.0.0"
        if prefix:
            # "Try it out" sends requests to the server URL, which must carry the prefix.
            assert schema["servers"][0]["url"] == prefix
            roll = httpx.post(base + schema["servers"][0]["url"] + "/roll_die")
            assert roll.json() in range(1, 7)


def test_index_under_prefix_points_at_docs(tutorial: dict[str, RunningService]) -> None:
    base = tutorial["die_roller"].url
    prefix = service_path("die_roller")
    answer = httpx.get(f"{base}{prefix}/").json()
    assert answer == {
        "service": "die_roller",
        "version": "1.0.0",
        "docs": f"{prefix}/docs",
        "openapi": f"{prefix}/openapi.json",
    }
    redirect = httpx.get(f"{base}{prefix}")
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith(f"{prefix}/")


def test_health_endpoints(tutorial: dict[str, RunningService]) -> None:
    base = tutorial["die_roller"].url
    for prefix in ("", service_path("die_roller")):
        assert httpx.get(f"{base}{prefix}{LIVE_PATH}").json() == {"status": "alive"}
        assert httpx.get(f"{base}{prefix}{READY_PATH}").json() == {"status": "ready"}


def test_play_with_die_roller_down_gives_a_clear_503(start_service: Starter) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    yatzee = start_service(
        SERVICES / "yatzee" / "service.py",
        env={
            SERVICE_NAME_ENV: "yatzee",
            SERVICE_URLS_ENV: f'{{"die_roller": "{dead}"}}',
            CALL_RETRIES_ENV: "1",
        },
    )
    response = httpx.post(yatzee.url + "/play", timeout=20)
    assert response.status_code == 503
    body = response.json()
    assert body["service"] == "die_roller"
    assert body["entrypoint"] == "roll_die"
    assert "cannot connect" in body["detail"]
    assert dead in body["detail"]
