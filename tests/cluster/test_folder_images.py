"""Folder deploys with dependencies (issue 13): an image built on this machine without Docker,
pushed to the cluster's own registry, pulled by digest, no pip when a pod starts.

The steps share one namespace with its own ingress host and run in file order, through the
installed ``daeploy`` command. PyPI is the only place the numpy and pandas wheels come from
(pip's own cache keeps them for the next run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube_helpers import dsvc, get_json, wait_until

sys.path.insert(0, str(Path(__file__).parents[1] / "images"))
from image_artifacts import make_sdist

from daeploy.contract import BUILT_IMAGE_ANNOTATION, HOST_ANNOTATION, SERVICE_LABEL, VERSION_LABEL
from daeploy.names import service_path, version_object_name
from localcluster import node, registry

DAEPLOY = Path(sys.executable).parent / "daeploy"
TIMEOUT = 600

pytestmark = pytest.mark.cluster

STATS_APP = Path(__file__).parents[1] / "sdk" / "apps" / "stats_service.py"
NUMPY_SERVICE = STATS_APP.read_text()

PLAIN_SERVICE = """\
from pathlib import Path

from daeploy import service


@service.entrypoint
def size() -> int:
    return Path("weights.bin").stat().st_size


if __name__ == "__main__":
    service.run()
"""


@dataclass
class Project:
    cluster: Any
    namespace: str
    host: str
    workdir: Path
    timings: dict[str, float] = field(default_factory=dict)

    def daeploy(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DAEPLOY), "--namespace", self.namespace, *args],
            cwd=self.workdir,
            env=self.cluster.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        run = self.daeploy(*args)
        assert run.returncode == 0, f"daeploy {' '.join(args)}\n{run.stdout}\n{run.stderr}"
        return run

    def call(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(
            f"{self.cluster.ingress_url}{path}",
            json=body,
            headers={"Host": self.host, **self.cluster.auth_headers},
            timeout=30,
        )

    def pods(self, name: str, version: str) -> list[dict[str, Any]]:
        selector = f"{SERVICE_LABEL}={name},{VERSION_LABEL}={version}"
        return get_json(self.cluster, "get", "pods", "-n", self.namespace, "-l", selector)["items"]


@pytest.fixture(scope="module")
def project(
    cluster: Any,
    project_images: Any,
    daeploy_operator: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Project]:
    namespace = f"images-{uuid.uuid4().hex[:6]}"
    host = f"{namespace}.daeploy.test"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("annotate", "namespace", namespace, f"{HOST_ANNOTATION}={host}")
    state = Project(cluster, namespace, host, tmp_path_factory.mktemp("images"))
    yield state
    if state.timings:
        print(f"\nfolder image deploy seconds: {json.dumps(state.timings)}")
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _numpy_folder(root: Path) -> Path:
    folder = root / "np_service"
    folder.mkdir(exist_ok=True)
    (folder / "service.py").write_text(NUMPY_SERVICE)
    # As a 1.x project writes it: the old SDK pinned, which must not replace ours.
    (folder / "requirements.txt").write_text("daeploy==1.4.0\nnumpy\npandas\n")
    return folder


def _answered(response: httpx.Response) -> httpx.Response | None:
    return response if response.status_code == 200 else None


def _registry_tags(project: Project, repository: str) -> int:
    url = f"{registry.url(project.cluster.layout)}/v2/{repository}/tags/list"
    return httpx.get(url, timeout=10).status_code


def test_numpy_and_pandas_service_from_a_folder(project: Project) -> None:
    folder = _numpy_folder(project.workdir)
    start = time.monotonic()
    run = project.ok("deploy", "npstats", "1.0.0", str(folder))
    project.timings["first_deploy_to_ready"] = round(time.monotonic() - start, 2)
    assert "'daeploy==1.4.0' left out" in run.stderr
    assert "uploaded: dependencies" in run.stderr
    obj = dsvc(project.cluster, project.namespace, version_object_name("npstats", "1.0.0"))
    image = obj["spec"]["image"]
    address = registry.address(project.cluster.layout)
    assert image.startswith(f"{address}/{project.namespace}/npstats@sha256:")
    assert obj["metadata"]["annotations"][BUILT_IMAGE_ANNOTATION].endswith("/npstats:1.0.0")
    assert "source" not in obj["spec"]

    # Ready means routed in Kubernetes; the ingress controller applies the route a moment later.
    stats = f"{service_path('npstats')}/stats"
    answer = wait_until(
        lambda: _answered(project.call(stats, {"values": [1, 2, 3.5]})),
        "npstats to answer through the ingress", timeout=60, every=0.5,
    )  # fmt: skip
    assert answer.json() == {"mean": pytest.approx(13 / 6), "max": 3.5, "edit": 0}

    (pod,) = project.pods("npstats", "1.0.0")
    container = pod["spec"]["containers"][0]
    assert container["image"] == image
    assert pod["status"]["containerStatuses"][0]["imageID"].endswith(image.split("@")[1])
    log = project.cluster.kubectl("logs", "-n", project.namespace, pod["metadata"]["name"]).stdout
    assert "pip" not in log.lower() and "installing" not in log.lower(), log
    assert "serving npstats 1.0.0" in log

    listing = project.ok("ls", "--wide", "npstats").stdout
    assert f"npstats@sha256:{image.split('@sha256:')[1][:12]}" in listing


def _is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_a_restarted_pod_serves_at_once(project: Project) -> None:
    (pod,) = project.pods("npstats", "1.0.0")
    start = time.monotonic()
    project.cluster.kubectl("delete", "pod", "-n", project.namespace, pod["metadata"]["name"])

    def serving() -> bool:
        fresh = [
            p
            for p in project.pods("npstats", "1.0.0")
            if p["metadata"]["uid"] != pod["metadata"]["uid"]
        ]
        ready = [p for p in fresh if _is_ready(p)]
        return (
            bool(ready)
            and project.call(f"{service_path('npstats')}/stats", {"values": [4]}).status_code == 200
        )

    wait_until(serving, "the new pod to serve", timeout=120, every=0.5)
    project.timings["restart_to_serving"] = round(time.monotonic() - start, 2)
    (fresh,) = project.pods("npstats", "1.0.0")
    log = project.cluster.kubectl("logs", "-n", project.namespace, fresh["metadata"]["name"]).stdout
    assert "pip" not in log.lower(), log


def test_a_one_line_change_uploads_only_the_code(project: Project) -> None:
    folder = _numpy_folder(project.workdir)
    (folder / "service.py").write_text(NUMPY_SERVICE.replace("EDIT = 0", "EDIT = 1"))
    start = time.monotonic()
    run = project.ok("deploy", "npstats", "1.0.1", str(folder), "--main")
    project.timings["second_deploy_to_ready"] = round(time.monotonic() - start, 2)
    assert "uploaded: code" in run.stderr and "already in the registry: dependencies" in run.stderr
    assert "installing requirements" not in run.stderr

    def edited() -> bool:
        answer = project.call(f"{service_path('npstats')}/stats", {"values": [1]})
        return answer.status_code == 200 and answer.json()["edit"] == 1

    wait_until(edited, "the main version to answer with the edit", timeout=60)


def test_a_20_mb_folder_deploys(project: Project) -> None:
    folder = project.workdir / "big_service"
    folder.mkdir()
    (folder / "service.py").write_text(PLAIN_SERVICE)
    (folder / "weights.bin").write_bytes(os.urandom(20_000_000))
    run = project.ok("deploy", "bigweights", "1.0.0", str(folder))
    assert "Building an image" in run.stderr
    assert "uploaded: code 20.0 MB" in run.stderr
    answer = wait_until(
        lambda: _answered(project.call(f"{service_path('bigweights')}/size", {})),
        "bigweights to answer through the ingress", timeout=60, every=0.5,
    )  # fmt: skip
    assert answer.json() == 20_000_000


def test_a_package_without_a_wheel_fails_before_any_push(project: Project) -> None:
    folder = project.workdir / "nowheel_service"
    (folder / "wheels").mkdir(parents=True)
    (folder / "service.py").write_text(PLAIN_SERVICE)
    make_sdist(folder / "wheels", "onlysource", "1.0")
    (folder / "requirements.txt").write_text("--no-index\n--find-links ./wheels\nonlysource\n")
    run = project.daeploy("deploy", "nowheel", "1.0.0", str(folder))
    assert run.returncode == 1
    assert "onlysource has no wheel for Linux x86_64 / CPython 3.11" in run.stderr
    assert _registry_tags(project, f"{project.namespace}/nowheel") == 404
    assert project.daeploy("ls", "nowheel").returncode != 0


def test_kill_removes_the_image_unless_kept(project: Project) -> None:
    kept = dsvc(project.cluster, project.namespace, version_object_name("npstats", "1.0.0"))
    gone = dsvc(project.cluster, project.namespace, version_object_name("bigweights", "1.0.0"))
    project.ok("kill", "npstats", "1.0.0", "--yes", "--keep-image")
    run = project.ok("kill", "bigweights", "--yes")
    assert "Removed image" in run.stdout
    repo_kept, digest_kept = kept["spec"]["image"].split("/", 1)[1].split("@")
    repo_gone, digest_gone = gone["spec"]["image"].split("/", 1)[1].split("@")
    base = registry.url(project.cluster.layout)
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    assert (
        httpx.head(f"{base}/v2/{repo_kept}/manifests/{digest_kept}", headers=accept).status_code
        == 200
    )
    assert (
        httpx.head(f"{base}/v2/{repo_gone}/manifests/{digest_gone}", headers=accept).status_code
        == 404
    )


@pytest.mark.lifecycle
def test_the_registry_keeps_its_images_across_down_and_up(
    cluster: Any, project_images: Any
) -> None:
    """Down wipes the node's image store; the pod after up can only get the image by pulling."""
    layout = cluster.layout
    runtime = project_images and registry.digest(layout, "daeploy-runtime", "0.1.0")
    assert runtime, "the runtime image was not pushed to the registry"
    node.down(layout)
    node.up(layout)
    assert registry.digest(layout, "daeploy-runtime", "0.1.0") == runtime
    image = f"{registry.address(layout)}/daeploy-runtime@{runtime}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pulled-by-digest", "namespace": "default"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": image,
                    "command": ["python", "-c", "import time; time.sleep(600)"],
                }
            ],
            "terminationGracePeriodSeconds": 0,
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    cluster.kubectl(
        "wait", "--for=condition=Ready", "pod/pulled-by-digest", "--timeout=180s", timeout=200
    )
    events = cluster.kubectl(
        "get", "events", "-n", "default",
        "--field-selector", "involvedObject.name=pulled-by-digest",
        "-o", "jsonpath={.items[*].reason}",
    ).stdout.split()  # fmt: skip
    assert "Pulled" in events and "Pulling" in events, events
    cluster.kubectl("delete", "pod", "pulled-by-digest", "--wait=false")
