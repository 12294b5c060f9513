"""An image not built on the SDK (issue 14): `python3 -m http.server`, root by default.

Deployed with the installed ``daeploy`` command into a namespace that enforces PodSecurity
``restricted``: without a user it is refused with the fix, with ``--run-as-user 1000 --probe tcp``
it becomes Ready, and its directory listing answers through the ingress at both of its paths,
the route prefix stripped, the access check kept.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube_helpers import condition, dsvc, get_json, wait_until

from daeploy.contract import HOST_ANNOTATION, RUN_AS_USER_NEEDED_REASON
from daeploy.names import service_path, version_object_name, version_path

DAEPLOY = Path(sys.executable).parent / "daeploy"
IMAGE = "localhost/plain-files:1.0.0"
# The local stand-in for Docker Hub's python:3.11-slim (hack/localcluster/images.py), whose user
# is root; nothing of the Daeploy SDK in it.
DOCKERFILE = """\
FROM docker.io/library/python:3.11-slim
WORKDIR /srv/files
COPY hello.txt /srv/files/hello.txt
EXPOSE 8080
CMD ["python3", "-m", "http.server", "8080"]
"""
HELLO = "served by a plain http.server\n"

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def plain_image(cluster: Any, project_images: Any, tmp_path_factory: Any) -> str:
    context = tmp_path_factory.mktemp("plain-files")
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "hello.txt").write_text(HELLO)
    cluster.build_image(context, IMAGE)
    return IMAGE


def _daeploy(cluster: Any, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DAEPLOY), "--namespace", namespace, *args],
        env=cluster.env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_a_plain_http_server_is_refused_as_root_then_served_as_user_1000(
    cluster: Any, daeploy_operator: Any, plain_image: str
) -> None:
    namespace = f"plain-{uuid.uuid4().hex[:6]}"
    host = f"{namespace}.daeploy.test"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("annotate", "namespace", namespace, f"{HOST_ANNOTATION}={host}")
    # PodSecurity admission refuses any pod of this namespace that is not `restricted`.
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    try:
        deploy = ["deploy", "files", "1.0.0", "--image", plain_image, "--probe", "tcp"]
        refused = _daeploy(cluster, namespace, *deploy, "--port", "8080", "--timeout", "240")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        error = refused.stderr.strip().splitlines()[-1]
        assert error.startswith(f"Error: files 1.0.0 failed to start: {RUN_AS_USER_NEEDED_REASON}")
        assert "the image runs as root" in error and "--run-as-user" in error
        assert "container has runAsNonRoot and image will run as root" in error  # the kubelet
        obj = dsvc(cluster, namespace, version_object_name("files", "1.0.0"))
        available = condition(obj, "Available")
        assert (available["status"], available["reason"]) == ("False", RUN_AS_USER_NEEDED_REASON)
        assert "spec.runAsUser" in available["message"]
        assert condition(obj, "Ready")["reason"] == RUN_AS_USER_NEEDED_REASON
        listing = _daeploy(cluster, namespace, "ls", "files")
        assert f"Not running ({RUN_AS_USER_NEEDED_REASON})" in listing.stdout, listing.stdout

        served = _daeploy(
            cluster, namespace, *deploy, "--port", "8080", "--run-as-user", "1000",
            "--timeout", "240",
        )  # fmt: skip
        assert served.returncode == 0, served.stdout + served.stderr
        obj = dsvc(cluster, namespace, version_object_name("files", "1.0.0"))
        assert condition(obj, "Ready")["status"] == "True"
        pods = get_json(cluster, "get", "pods", "-n", namespace)["items"]
        running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        assert [p["spec"]["securityContext"]["runAsUser"] for p in running] == [1000]

        headers = {"Host": host, **cluster.auth_headers}
        for path in (version_path("files", "1.0.0"), service_path("files")):

            def listed(path: str = path) -> bool:
                answer = httpx.get(f"{cluster.ingress_url}{path}/", headers=headers, timeout=10)
                return answer.status_code == 200 and "hello.txt" in answer.text

            wait_until(listed, f"the directory listing at {path}/", timeout=60)
            answer = httpx.get(f"{cluster.ingress_url}{path}/hello.txt", headers=headers)
            assert (answer.status_code, answer.text) == (200, HELLO)
            # The prefix is gone before the server sees the path, and the gate still asks.
            assert (
                "Directory listing for /"
                in httpx.get(f"{cluster.ingress_url}{path}/", headers=headers, timeout=10).text
            )
            anonymous = httpx.get(f"{cluster.ingress_url}{path}/", headers={"Host": host})
            assert anonymous.status_code == 401
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
