"""daeploy.exceptions: a 1.x service's ``raise HTTPException(...)`` answers with that status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fastapi
import pytest
from fastapi.testclient import TestClient

from daeploy._service import Service
from daeploy.contract import SERVICE_NAME_ENV, SERVICE_VERSION_ENV
from daeploy.exceptions import HTTPException
from daeploy.names import version_path


@pytest.fixture
def client(sdk_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Service, TestClient]]:
    """A fresh Service in a scratch folder (its monitoring store is a file in the cwd)."""
    sdk_env.chdir(tmp_path)
    sdk_env.setenv(SERVICE_NAME_ENV, "teapot")
    sdk_env.setenv(SERVICE_VERSION_ENV, "1.0.0")
    service = Service()
    with TestClient(service.app) as test_client:
        yield service, test_client


def test_it_is_fastapis_class() -> None:
    assert HTTPException is fastapi.HTTPException


def test_raised_in_a_sync_entrypoint_it_answers_its_status_and_detail(
    client: tuple[Service, TestClient],
) -> None:
    service, http = client

    @service.entrypoint
    def brew(drink: str) -> str:
        if drink == "coffee":
            raise HTTPException(418, "x")
        return drink

    response = http.post("/brew", json={"drink": "coffee"})
    assert response.status_code == 418
    assert response.json() == {"detail": "x"}
    assert http.post("/brew", json={"drink": "tea"}).json() == "tea"
    # Through the ingress's path the same.
    routed = http.post(version_path("teapot", "1.0.0") + "/brew", json={"drink": "coffee"})
    assert (routed.status_code, routed.json()) == (418, {"detail": "x"})


def test_raised_in_an_async_get_entrypoint_with_headers_and_structured_detail(
    client: tuple[Service, TestClient],
) -> None:
    service, http = client

    @service.entrypoint(method="GET")
    async def lookup(key: str) -> dict[str, str]:
        raise HTTPException(
            status_code=404,
            detail={"missing": key},
            headers={"X-Reason": "not stored"},
        )

    response = http.get("/lookup", params={"key": "k1"})
    assert response.status_code == 404
    assert response.json() == {"detail": {"missing": "k1"}}
    assert response.headers["x-reason"] == "not stored"


def test_1x_status_code_example_created_then_conflict(client: tuple[Service, TestClient]) -> None:
    """1.x's status-code tutorial: 201 for a new entry, 409 when it already exists."""
    service, http = client
    store: dict[str, dict[str, int]] = {}

    @service.entrypoint(status_code=201)
    def create_new_dict(name: str) -> str:
        if name in store:
            raise HTTPException(status_code=409, detail=f"Dictionary {name} already exists")
        store[name] = {}
        return f"Dictionary {name} created"

    first = http.post("/create_new_dict", json={"name": "a"})
    assert (first.status_code, first.json()) == (201, "Dictionary a created")
    again = http.post("/create_new_dict", json={"name": "a"})
    assert (again.status_code, again.json()) == (409, {"detail": "Dictionary a already exists"})
