"""Entrypoints, parameters and periodic tasks of a real service process (apps/options_service)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import Field, ValidationError
from sdk_support import APPS, RunningService, free_port, make_starter

from daeploy._service import Service, validating
from daeploy.contract import (
    CALL_RETRIES_ENV,
    SERVICE_NAME_ENV,
    SERVICE_URLS_ENV,
    SERVICE_VERSION_ENV,
)
from daeploy.entrypoints import EntrypointError
from daeploy.names import service_path, version_path


@pytest.fixture(scope="module")
def options(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    started: list[RunningService] = []
    start = make_starter(tmp_path_factory.mktemp("options"), started)
    port = free_port()
    urls = {
        "callee": f"http://127.0.0.1:{port}",
        "nobody": f"http://127.0.0.1:{free_port()}",
    }
    yield start(
        APPS / "options_service.py",
        port=port,
        env={
            SERVICE_NAME_ENV: "options",
            SERVICE_VERSION_ENV: "2.1.0",
            SERVICE_URLS_ENV: json.dumps(urls),
            CALL_RETRIES_ENV: "0",
        },
    )
    for service in started:
        service.stop(timeout=5)


def post(service: RunningService, path: str, body: Any = None) -> httpx.Response:
    return httpx.post(service.url + path, json=body, timeout=10)


def test_typed_arguments_come_from_a_json_body(options: RunningService) -> None:
    assert post(options, "/add", {"a": 2, "b": 5}).json() == 7
    assert post(options, "/add", {"a": 2}).json() == 3
    assert post(options, service_path("options") + "/add", {"a": 1}).json() == 2
    assert post(options, version_path("options", "2.1.0") + "/add", {"a": 1}).json() == 2


def test_bad_input_gets_422_naming_the_field(options: RunningService) -> None:
    response = post(options, "/add", {"a": "not a number"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "a"]
    missing = post(options, "/add", {"b": 1})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "a"]
    nested = post(options, "/length", {"point": {"y": 1}})
    assert nested.status_code == 422
    assert nested.json()["detail"][0]["loc"] == ["body", "point", "x"]


def test_get_entrypoint_with_route_options(options: RunningService) -> None:
    response = httpx.get(options.url + "/greet", params={"name": "ada"})
    assert response.status_code == 201  # status_code given to the decorator wins
    assert response.json() == "hello ada"
    assert httpx.get(options.url + "/greet").json() == "hello world"
    assert post(options, "/greet").status_code == 405


def test_a_get_entrypoint_takes_a_json_body_as_1x_did(options: RunningService) -> None:
    # 1.x read every entrypoint's arguments from a JSON body, GET ones too.
    response = httpx.request("GET", options.url + "/greet", json={"name": "grace"})
    assert (response.status_code, response.json()) == (201, "hello grace")
    wrong = httpx.request("GET", options.url + "/greet", json={"name": ["a", "b"]})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "name"]
    # A query string wins: the body is then not read.
    both = httpx.request("GET", options.url + "/greet?name=q", json={"name": "body"})
    assert both.json() == "hello q"


def test_async_and_model_arguments(options: RunningService) -> None:
    assert post(options, "/async_double", {"value": 2.5}).json() == 5.0
    assert post(options, "/length", {"point": {"x": 3, "y": 4}, "scale": 2}).json() == 10.0
    assert post(options, "/nothing").json() is None
    assert post(options, "/untyped", {"items": [1, 2, 3]}).json() == {"total": 6}


def test_openapi_has_models_from_annotations(options: RunningService) -> None:
    schema = httpx.get(options.url + "/openapi.json").json()
    add = schema["paths"]["/add"]["post"]
    assert add["description"] == "Adds two numbers."
    body_ref = add["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert body["required"] == ["a"]
    assert body["properties"]["a"]["type"] == "integer"
    response_schema = add["responses"]["200"]["content"]["application/json"]["schema"]
    assert response_schema["type"] == "integer"
    assert schema["paths"]["/untyped"]["post"]["tags"] == ["custom"]


def test_callee_http_error_maps_to_502_with_its_detail(options: RunningService) -> None:
    response = post(
        options, "/relay", {"callee": "callee", "entrypoint": "refuse", "arguments": {"code": 409}}
    )
    assert response.status_code == 502
    body = response.json()
    assert body["callee_status_code"] == 409
    assert body["callee_detail"] == "refused with 409"
    assert "refused with 409" in body["detail"]
    invalid = post(options, "/relay", {"callee": "callee", "entrypoint": "add", "arguments": {}})
    assert invalid.status_code == 502
    assert invalid.json()["callee_detail"][0]["loc"] == ["body", "a"]


def test_unreachable_callee_maps_to_503(options: RunningService) -> None:
    response = post(
        options, "/relay", {"callee": "nobody", "entrypoint": "add", "arguments": {"a": 1}}
    )
    assert response.status_code == 503
    assert "cannot connect" in response.json()["detail"]


def test_slow_callee_maps_to_504(options: RunningService) -> None:
    response = post(
        options,
        "/relay",
        {"callee": "callee", "entrypoint": "slow", "arguments": {"seconds": 3}, "timeout": 0.3},
    )
    assert response.status_code == 504
    assert "did not answer within 0.3 s" in response.json()["detail"]


def test_relay_success(options: RunningService) -> None:
    response = post(
        options, "/relay", {"callee": "callee", "entrypoint": "add", "arguments": {"a": 40, "b": 2}}
    )
    assert response.json() == 42


def test_parameters_over_http(options: RunningService) -> None:
    # As in 1.x: every parameter is listed and read, numbers as floats, the bare value.
    listing = httpx.get(options.url + "/~parameters").json()
    assert listing == {"label": "first", "secret": "hidden", "threshold": 5.0}
    assert isinstance(listing["threshold"], float)
    threshold = httpx.get(options.url + service_path("options") + "/~parameters/threshold")
    assert threshold.json() == 5.0
    assert httpx.get(options.url + "/~parameters/secret").json() == "hidden"
    assert httpx.get(options.url + "/~parameters/nothing").status_code == 404
    # expose=False: not changed over HTTP (1.x served no POST there).
    refused = post(options, "/~parameters/secret", {"value": "x"})
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET")
    assert post(options, "/~parameters/nothing", {"value": "x"}).status_code == 404

    bad = post(options, "/~parameters/threshold", {"value": "many"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "value"]

    changed = post(options, "/~parameters/threshold", {"value": 10})
    assert changed.json() == "OK"  # as in 1.x
    assert post(options, "/threshold_plus", {"value": 1}).json() == 11
    # A number parameter created from an int takes a fraction (1.x kept numbers as floats).
    assert post(options, "/~parameters/threshold", {"value": 2.5}).json() == "OK"
    assert httpx.get(options.url + "/~parameters/threshold").json() == 2.5
    post(options, "/~parameters/threshold", {"value": 5})


def test_call_every_runs_in_the_background(options: RunningService) -> None:
    first = post(options, "/tick_count").json()
    deadline = time.monotonic() + 10
    while post(options, "/tick_count").json() < first + 3:
        assert time.monotonic() < deadline, "periodic task did not run"
        time.sleep(0.05)


def test_mounted_asgi_app_is_served_under_the_prefix_too(options: RunningService) -> None:
    assert httpx.get(options.url + "/extra/").text == "mounted app"
    assert httpx.get(options.url + service_path("options") + "/extra/").text == "mounted app"


def test_bad_entrypoints_are_refused_with_the_fix() -> None:
    service = Service()

    def star(*values: int) -> int:
        return sum(values)

    with pytest.raises(EntrypointError, match=r"\*args and \*\*kwargs"):
        service.entrypoint(star)
    with pytest.raises(EntrypointError, match="method='FETCH' is not supported"):
        service.entrypoint(method="FETCH")

    def twice() -> int:
        return 2

    service.entrypoint(twice)
    with pytest.raises(ValueError, match="already served"):
        service.entrypoint(twice)
    with pytest.raises(ValueError, match="seconds > 0"):
        service.call_every(0)(twice)

    def needs(value: int) -> None:
        del value

    with pytest.raises(TypeError, match="needs arguments"):
        service.call_every(1)(needs)
    with pytest.raises(ValueError, match="not valid"):
        service.add_parameter("bad name", 1)


# A pattern pydantic cannot compile: it refuses to build a validator for this annotation.
UNCOMPILABLE = Annotated[str, Field(pattern="[")]


def test_a_direct_call_of_an_entrypoint_validates_its_arguments_as_in_1x() -> None:
    service = Service()

    @service.entrypoint
    def add(a: int, b: int = 1) -> int:
        return a + b

    @service.entrypoint(method="GET")
    async def half(value: float) -> float:
        return value / 2

    # 1.x returned pydantic's validate_arguments(func): arguments are converted or refused.
    assert add("2", b="3") == 5
    assert add.__name__ == "add"
    with pytest.raises(ValidationError):
        add("two")
    assert asyncio.run(half("3")) == 1.5
    # Requests still go to the function itself, with the same JSON and query shapes.
    client = TestClient(service.app)
    assert client.post("/add", json={"a": 2}).json() == 3
    assert client.get("/half", params={"value": 3}).json() == 1.5

    # What pydantic cannot validate is returned as it is, not refused.
    def shout(text: UNCOMPILABLE) -> str:
        return text.upper()

    assert validating(shout) is shout
