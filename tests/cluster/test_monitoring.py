"""The monitoring store in a real pod (read-only root file system, the store on /tmp), read back
through the ingress as a 1.x user would (issue 14)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube_helpers import service_namespace, wait_until

from daeploy.contract import HEALTH_PREFIX, METRICS_PATH, MONITOR_PATH
from daeploy.names import service_path

APP = Path(__file__).parents[1] / "sdk" / "apps" / "monitored_service.py"

pytestmark = pytest.mark.cluster


def test_a_1x_monitored_service_records_in_its_pod(
    cluster: Any, project_images: Any, daeploy_operator: Any, tmp_path: Path
) -> None:
    with service_namespace(cluster, "monitor") as space:
        namespace, host = space.name, space.host
        folder = tmp_path / "monitored"
        folder.mkdir()
        shutil.copy(APP, folder / "service.py")
        space.daeploy("deploy", "monitored", "1.0.0", str(folder))
        base = f"{cluster.ingress_url}{service_path('monitored')}"
        headers = {"Host": host, **cluster.auth_headers}

        def doubled() -> bool:
            answer = httpx.post(f"{base}/double", json={"value": 4}, headers=headers, timeout=10)
            return answer.status_code == 200 and answer.json() == {"result": 8}

        wait_until(doubled, "the monitored service to answer through the ingress", timeout=120)
        data = httpx.get(f"{base}{MONITOR_PATH}", headers=headers, timeout=10).json()
        assert data["doubled"]["value"][-1] == 8.0
        assert data["double_request"]["value"][-1] == '{"value": 4.0}'
        assert data["threshold"]["value"] == [3.0]
        db = tmp_path / "download.db"
        db.write_bytes(httpx.get(f"{base}{MONITOR_PATH}/db", headers=headers, timeout=10).content)
        with sqlite3.connect(db) as copy:
            assert copy.execute('SELECT max(value) FROM "doubled"').fetchone() == (8.0,)
        assert httpx.get(f"{base}{MONITOR_PATH}", headers={"Host": host}).status_code == 401
        metrics = httpx.get(f"{base}{METRICS_PATH}", headers=headers, timeout=10).text
        assert 'daeploy_entrypoint_calls_total{code="200",entrypoint="double"}' in metrics
        assert 'daeploy_stored_value{variable="doubled"} 8.0' in metrics
        pods = cluster.kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.split()
        log = cluster.kubectl("logs", "-n", namespace, pods[0]).stdout
        assert HEALTH_PREFIX not in log and "/double HTTP" in log
