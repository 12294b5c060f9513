"""A real Prometheus server (built from its Go module, run as a pod) scrapes a service's
``/~metrics`` inside the cluster, and PromQL counts the calls made through the ingress (issue 14).

Prometheus reaches the version's own Service, as any in-cluster Prometheus would; it sends a
caller token (``authorization.credentials_file``) because the app checks every caller itself.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube_helpers import RESTRICTED_CONTAINER, service_namespace, wait_until

from daeploy.contract import METRICS_PATH
from daeploy.names import service_path, version_object_name
from localcluster import images

APP = Path(__file__).parents[1] / "sdk" / "apps" / "monitored_service.py"
CALLS = 7
PROMETHEUS_PORT = 9090

pytestmark = pytest.mark.cluster


def prometheus_objects(namespace: str, image: str, target: str, token: str) -> list[dict]:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "daeploy",
                "metrics_path": METRICS_PATH,
                "authorization": {"credentials_file": "/etc/prometheus-secret/token"},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "prometheus", "namespace": namespace},
            "data": {"prometheus.yml": json.dumps(config)},  # JSON is YAML
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "prometheus", "namespace": namespace},
            "stringData": {"token": token},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "prometheus", "namespace": namespace},
            "spec": {
                "automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65534},
                "containers": [
                    {
                        "name": "prometheus",
                        "image": image,
                        "imagePullPolicy": "Never",
                        "args": [
                            "--config.file=/etc/prometheus/prometheus.yml",
                            "--storage.tsdb.path=/data",
                            f"--web.listen-address=:{PROMETHEUS_PORT}",
                        ],
                        "ports": [{"containerPort": PROMETHEUS_PORT}],
                        "readinessProbe": {
                            "httpGet": {"path": "/-/ready", "port": PROMETHEUS_PORT},
                            "periodSeconds": 1,
                        },
                        "securityContext": {**RESTRICTED_CONTAINER, "readOnlyRootFilesystem": True},
                        "volumeMounts": [
                            {"name": "config", "mountPath": "/etc/prometheus"},
                            {"name": "secret", "mountPath": "/etc/prometheus-secret"},
                            {"name": "data", "mountPath": "/data"},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "config", "configMap": {"name": "prometheus"}},
                    {"name": "secret", "secret": {"secretName": "prometheus"}},
                    {"name": "data", "emptyDir": {}},
                ],
            },
        },
    ]


def promql(cluster: Any, namespace: str, query: str) -> list[dict]:
    """An instant query, through the API server's proxy to the pod (no route to it from here)."""
    path = (
        f"/api/v1/namespaces/{namespace}/pods/prometheus:{PROMETHEUS_PORT}/proxy/api/v1/query"
        f"?query={urllib.parse.quote(query)}"
    )
    answer = json.loads(cluster.kubectl("get", "--raw", path).stdout)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_scrapes_the_request_count(
    cluster: Any, project_images: Any, daeploy_operator: Any, tmp_path: Path
) -> None:
    image = images.ensure_prometheus_image(cluster.layout)
    with service_namespace(cluster, "prom") as space:
        namespace = space.name
        folder = tmp_path / "monitored"
        folder.mkdir()
        shutil.copy(APP, folder / "service.py")
        space.daeploy("deploy", "monitored", "1.0.0", str(folder))
        token = cluster.auth_headers["Authorization"].removeprefix("Bearer ")
        target = f"{version_object_name('monitored', '1.0.0')}.{namespace}.svc:80"
        objects = {"apiVersion": "v1", "kind": "List",
                   "items": prometheus_objects(namespace, image, target, token)}  # fmt: skip
        cluster.kubectl("apply", "-f", "-", input=json.dumps(objects))
        cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/prometheus",
                        "--timeout=120s", timeout=140)  # fmt: skip

        base = f"{cluster.ingress_url}{service_path('monitored')}"
        headers = space.headers

        def doubled() -> bool:
            answer = httpx.post(f"{base}/double", json={"value": 1}, headers=headers, timeout=10)
            return answer.status_code == 200

        wait_until(doubled, "the monitored service to answer through the ingress", timeout=120)
        for value in range(CALLS - 1):
            answer = httpx.post(f"{base}/double", json={"value": value}, headers=headers)
            assert answer.status_code == 200, answer.text

        up = wait_until(
            lambda: promql(cluster, namespace, 'up{job="daeploy"}'), "a first scrape", timeout=60
        )
        assert up[0]["value"][1] == "1", f"Prometheus could not scrape {target}: {up}"
        query = 'sum(daeploy_entrypoint_calls_total{entrypoint="double",code="200"})'

        def counted() -> bool:
            result = promql(cluster, namespace, query)
            return bool(result) and float(result[0]["value"][1]) == CALLS

        wait_until(counted, f"PromQL {query} to return {CALLS}", timeout=60)
        stored = promql(cluster, namespace, 'daeploy_stored_value{variable="doubled"}')
        assert float(stored[0]["value"][1]) == 2.0 * (CALLS - 2)
