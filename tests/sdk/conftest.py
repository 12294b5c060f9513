"""Fixtures for the SDK tests: real service processes on 127.0.0.1, stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sdk_support import SDK_VARIABLES, SERVICES, RunningService, Starter, make_starter

from daeploy.contract import SERVICE_NAME_ENV, SERVICE_URLS_ENV, SERVICE_VERSION_ENV


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Starter]:
    started: list[RunningService] = []
    yield make_starter(tmp_path, started)
    for service in started:
        service.stop(timeout=5)


@pytest.fixture(scope="session")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningService]]:
    """The tutorial's two services, version 1.0.0, yatzee finding die_roller by URL map."""
    started: list[RunningService] = []
    start = make_starter(tmp_path_factory.mktemp("tutorial"), started)
    die_roller = start(
        SERVICES / "die_roller" / "service.py",
        env={SERVICE_NAME_ENV: "die_roller", SERVICE_VERSION_ENV: "1.0.0"},
    )
    yatzee = start(
        SERVICES / "yatzee" / "service.py",
        env={
            SERVICE_NAME_ENV: "yatzee",
            SERVICE_VERSION_ENV: "1.0.0",
            SERVICE_URLS_ENV: f'{{"die_roller": "{die_roller.url}"}}',
        },
    )
    yield {"die_roller": die_roller, "yatzee": yatzee}
    for service in started:
        service.stop(timeout=5)


@pytest.fixture
def sdk_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """In-process tests start from an environment without any Daeploy variables."""
    for name in SDK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
