"""Fixtures of the dashboard's tests: people with tokens and Roles on envtest's real API
server, and the dashboard built for it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from envtest import EnvTest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_support import READ_RULES, WRITE_RULES, People, ca_file, person

from daeploy_dashboard.app import create_app
from daeploy_dashboard.settings import Settings


@pytest.fixture
def people(envtest: EnvTest, envtest_namespace: str) -> People:
    ns = envtest_namespace
    return People(
        ns,
        viewer=person(envtest, ns, "viewer", READ_RULES),
        editor=person(envtest, ns, "editor", READ_RULES + WRITE_RULES),
        nobody=person(envtest, ns, "nobody", []),
    )


@pytest.fixture
def settings(envtest: EnvTest) -> Settings:
    return Settings(api_url=envtest.server, ca_file=ca_file(envtest))


@pytest.fixture
def dashboard(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://dash.test") as client:
        yield client
