"""Monitored data: the dashboard reads a real service's GET /~monitor (the SDK's own app on a
loopback port, with values its store wrote) with the user's token, and charts the numbers."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from envtest import EnvTest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk"))

from dashboard_support import HTML, People, ca_file
from sdk_support import APPS, RunningService, make_starter

from daeploy.contract import (
    DASHBOARD_PATH,
    MONITOR_DB_ENV,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
)
from daeploy.monitoring.store import STAMP, MonitorStore
from daeploy_dashboard.app import create_app
from daeploy_dashboard.settings import Settings


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    """tests/sdk/apps/monitored_service.py with temperature stored 3 h and 30 min ago, and
    one call of its monitored entrypoint."""
    db = tmp_path / "data" / "monitor.db"
    now = datetime.now(UTC).replace(tzinfo=None)
    store = MonitorStore(db)
    store.start()
    for moment, value in ((now - timedelta(hours=3), 20.5), (now - timedelta(minutes=30), 21.25)):
        store.put("temperature", value, moment.strftime(STAMP))
    store.flush()
    store.close()
    started: list[RunningService] = []
    start: Callable[..., RunningService] = make_starter(tmp_path, started)
    env = {SERVICE_NAME_ENV: "monitored", SERVICE_VERSION_ENV: "1.0.0", MONITOR_DB_ENV: str(db)}
    running = start(APPS / "monitored_service.py", env=env, cwd=tmp_path)
    answer = httpx.post(f"{running.url}/double", json={"value": 2.5}, timeout=10)
    assert answer.status_code == 200
    yield running
    for one in started:
        one.stop(timeout=5)


def test_numeric_variables_are_charted_since_the_time_asked(
    envtest: EnvTest, people: People, service: RunningService
) -> None:
    asked: list[tuple[str, str, str]] = []

    def address(name: str, namespace: str, version: str) -> str:
        asked.append((name, namespace, version))
        return service.url

    settings = Settings(api_url=envtest.server, ca_file=ca_file(envtest), address_of=address)
    headers = {"Authorization": f"Bearer {people.viewer}", **HTML}
    path = f"{DASHBOARD_PATH}/ns/{people.namespace}/monitor/monitored/1.0.0"
    with TestClient(create_app(settings)) as client:
        page = client.get(f"{path}?since=6h", headers=headers)
        recent = client.get(f"{path}?since=1h", headers=headers)
        bad = client.get(f"{path}?since=soon", headers=headers)
    assert asked[0] == ("monitored", people.namespace, "1.0.0")
    assert page.status_code == 200, page.text
    charted = re.findall(r'<figure class="chart" id="var-([^"]+)">', page.text)
    assert "temperature" in charted and "doubled" in charted
    assert re.search(r"temperature</strong> · 2 values, latest 21.25", page.text)
    assert "<polyline" in page.text
    assert "label" in page.text.split("Not numeric")[1]  # text values are listed, not charted
    assert re.search(r"temperature</strong> · 1 value, latest 21.25", recent.text)
    assert bad.status_code == 400
