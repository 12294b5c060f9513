"""The monitoring store on the version's own volume (issue 14): `daeploy deploy --persist`.

What a 1.x service stored is read back through the ingress after its pod was deleted and the
Deployment made a new one, which mounts the same PersistentVolumeClaim. Needs a default
StorageClass whose volumes the service's user can write (the local cluster's ``standard``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube_helpers import get_json, wait_until

from daeploy.contract import (
    HOST_ANNOTATION,
    MONITOR_DB_ENV,
    MONITOR_PATH,
    PERSISTENT_MONITOR_DB_FILE,
)
from daeploy.names import service_path

DAEPLOY = Path(sys.executable).parent / "daeploy"
APP = Path(__file__).parents[1] / "sdk" / "apps" / "monitored_service.py"

pytestmark = pytest.mark.cluster


def _pods(cluster: Any, namespace: str) -> list[dict[str, Any]]:
    items = get_json(cluster, "get", "pods", "-n", namespace)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_what_was_stored_is_read_back_after_the_pod_is_replaced(
    cluster: Any, project_images: Any, daeploy_operator: Any, tmp_path: Path
) -> None:
    namespace = f"persist-{uuid.uuid4().hex[:6]}"
    host = f"{namespace}.daeploy.test"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("annotate", "namespace", namespace, f"{HOST_ANNOTATION}={host}")
    try:
        folder = tmp_path / "monitored"
        folder.mkdir()
        shutil.copy(APP, folder / "service.py")
        deploy = subprocess.run(
            [str(DAEPLOY), "--namespace", namespace, "deploy", "monitored", "1.0.0", str(folder),
             "--persist", "--timeout", "300"],
            env=cluster.env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        [claim] = get_json(cluster, "get", "pvc", "-n", namespace)["items"]
        assert claim["status"]["phase"] == "Bound"
        [pod] = _pods(cluster, namespace)
        [container] = pod["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env[MONITOR_DB_ENV] == PERSISTENT_MONITOR_DB_FILE

        base = f"{cluster.ingress_url}{service_path('monitored')}"
        headers = {"Host": host, **cluster.auth_headers}

        def doubled(value: float) -> bool:
            answer = httpx.post(
                f"{base}/double", json={"value": value}, headers=headers, timeout=10
            )
            return answer.status_code == 200 and answer.json() == {"result": value * 2}

        def stored() -> dict[str, Any]:
            answer = httpx.get(f"{base}{MONITOR_PATH}", headers=headers, timeout=10)
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        wait_until(lambda: doubled(4), "the monitored service to answer through the ingress")
        # store() queues and a thread writes: wait until the value is in the file.
        wait_until(lambda: 8.0 in stored().get("doubled", {}).get("value", []), "8.0 stored")

        old = pod["metadata"]["name"]
        cluster.kubectl("delete", "pod", old, "-n", namespace, "--wait=true", timeout=120)

        def replaced() -> bool:
            pods = _pods(cluster, namespace)
            return len(pods) == 1 and pods[0]["metadata"]["name"] != old and _ready(pods[0])

        wait_until(replaced, "a new Ready pod", timeout=180)
        # The new pod has no memory of the old one's values: only the volume does.
        data = wait_until(stored, f"{MONITOR_PATH} from the new pod", timeout=60)
        assert 8.0 in data["doubled"]["value"], data
        assert '{"value": 4.0}' in data["double_request"]["value"], data
        wait_until(lambda: doubled(5), "the new pod to answer")
        wait_until(
            lambda: {8.0, 10.0} <= set(stored()["doubled"]["value"]), "8.0 and 10.0 together"
        )
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
