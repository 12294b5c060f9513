"""The operator on the local cluster: the tutorial end to end, main switches under load, bad
manifests, self-healing and clean deletion.

Requests go only to the cluster's ingress address (the node in the project's own network
namespace); every loop is bounded in count and time.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube_helpers import (
    BAD_MANIFESTS,
    MANAGED,
    SteadyLoad,
    apply,
    bad_manifest,
    condition,
    dsvc,
    get_json,
    manifest,
    post,
    selected_version,
    wait_ready,
    wait_until,
)

from daeploy.contract import HOST_ANNOTATION, NOT_OWNED_REASON, OPERATOR_NAME, SHUTDOWN_DELAY_ENV
from daeploy.names import service_object_name, service_path, version_object_name, version_path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / OPERATOR_NAME
# The tutorial's entrypoints behind the ingress.
ROLL_DIE = f"{service_path('die_roller')}/roll_die"
ROLL_DIE_1 = f"{version_path('die_roller', '1.0.0')}/roll_die"
PLAY = f"{service_path('yatzee')}/play"

pytestmark = pytest.mark.cluster


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tutorial(cluster: Any, daeploy_operator: str) -> Iterator[str]:
    """The tutorial's die_roller and yatzee, applied with kubectl into a fresh namespace."""
    namespace = f"e2e-tutorial-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    for service in ("die_roller", "yatzee"):
        cluster.kubectl(
            "apply", "-n", namespace, "-f", str(REPO / "services" / service / "daeployservice.yaml")
        )
    wait_ready(
        cluster,
        namespace,
        version_object_name("die_roller", "1.0.0"),
        version_object_name("yatzee", "1.0.0"),
    )
    # Ready means the routes are in the Ingress; the ingress controller loads them a moment later.
    wait_until(
        lambda: all(post(cluster, path).status_code == 200 for path in (ROLL_DIE, PLAY)),
        "the ingress controller to route the tutorial",
        timeout=60,
    )
    yield namespace
    cluster.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=180s", timeout=200)


@pytest.fixture(scope="module")
def die_roller_2_image(cluster: Any, project_images: Any, tmp_path_factory: Any) -> str:
    """die_roller 2.0.0: the same folder and Dockerfile, a service that always rolls 6."""
    context = tmp_path_factory.mktemp("die_roller_2") / "die_roller"
    shutil.copytree(REPO / "services" / "die_roller", context)
    (context / "service.py").write_text(
        "from daeploy import service\n\n\n"
        "@service.entrypoint\n"
        "def roll_die() -> int:\n"
        "    return 6\n\n\n"
        'if __name__ == "__main__":\n'
        "    service.run()\n"
    )
    tag = "localhost/die-roller:2.0.0"
    cluster.build_image(context, tag)
    return tag


# --- the chart and the operator --------------------------------------------------------------


def test_chart_lints_clean(cluster: Any) -> None:
    cluster.helm("lint", "--strict", str(CHART))


def test_operator_logs_are_json(cluster: Any, daeploy_operator: str) -> None:
    logs = cluster.kubectl(
        "logs", "-n", daeploy_operator, f"deployment/{OPERATOR_NAME}", "--tail=20"
    ).stdout.splitlines()
    assert logs
    for line in logs:
        assert "message" in json.loads(line)


# --- the tutorial ----------------------------------------------------------------------------


def test_kubectl_get_dsvc_shows_main_version_status_running(cluster: Any, tutorial: str) -> None:
    table = cluster.kubectl("get", "dsvc", "-n", tutorial).stdout.splitlines()
    assert re.split(r"\s{2,}", table[0].strip()) == [
        "NAME", "MAIN", "TRAFFIC", "SERVICE", "VERSION", "STATUS", "RUNNING", "AGE",
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in table[1:]}
    row = rows[version_object_name("die_roller", "1.0.0")]
    assert re.search(
        r"\s\*\s+main 100%\s+die_roller\s+1\.0\.0\s+running\s+Running \(since \d{4}-", row
    ), row
    category = cluster.kubectl("get", "daeploy", "-n", tutorial).stdout
    assert version_object_name("yatzee", "1.0.0") in category


def test_status_carries_urls_and_conditions(cluster: Any, tutorial: str) -> None:
    obj = dsvc(cluster, tutorial, version_object_name("die_roller", "1.0.0"))
    status = obj["status"]
    assert status["url"].endswith(version_path("die_roller", "1.0.0"))
    assert status["serviceUrl"].endswith(service_path("die_roller"))
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    for kind in ("Ready", "Available", "Routed"):
        assert condition(obj, kind)["status"] == "True", condition(obj, kind)


def test_yatzee_plays_five_sorted_dice(cluster: Any, tutorial: str) -> None:
    response = post(cluster, PLAY)
    assert response.status_code == 200, response.text
    dice = response.json()
    assert len(dice) == 5
    assert dice == sorted(dice)
    assert all(isinstance(d, int) and 1 <= d <= 6 for d in dice)


def test_a_version_answers_at_its_own_path(cluster: Any, tutorial: str) -> None:
    response = post(cluster, ROLL_DIE_1)
    assert response.status_code == 200, response.text
    assert 1 <= response.json() <= 6


def test_docs_render_and_the_openapi_document_loads(cluster: Any, tutorial: str) -> None:
    docs = httpx.get(
        f"{cluster.ingress_url}{service_path('yatzee')}/docs",
        timeout=15,
        headers=cluster.auth_headers,
    )
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    match = re.search(r"""url:\s*['"]([^'"]+openapi\.json)['"]""", docs.text)
    assert match, docs.text[:500]
    assert match.group(1).startswith(service_path("yatzee"))
    spec = httpx.get(
        f"{cluster.ingress_url}{match.group(1)}", timeout=15, headers=cluster.auth_headers
    )
    assert spec.status_code == 200
    assert "/play" in spec.json()["paths"]


def test_main_switches_both_ways_under_load_without_losing_a_request(
    cluster: Any, tutorial: str, die_roller_2_image: str
) -> None:
    v1 = version_object_name("die_roller", "1.0.0")
    v2 = version_object_name("die_roller", "2.0.0")
    with SteadyLoad(f"{cluster.ingress_url}{ROLL_DIE}", headers=cluster.auth_headers) as load:
        wait_until(lambda: len(load.answers) >= 20, "the load to get going", timeout=60)

        apply(
            cluster, tutorial, manifest("die_roller", "2.0.0", main=True, image=die_roller_2_image)
        )
        wait_ready(cluster, tutorial, v2)
        assert selected_version(cluster, tutorial, "die_roller") == "2.0.0"
        assert dsvc(cluster, tutorial, v2)["status"]["mainMark"] == "*"
        assert dsvc(cluster, tutorial, v1)["status"]["mainMark"] == ""
        assert condition(dsvc(cluster, tutorial, v1), "Routed")["reason"] == "MainClaimSuperseded"
        wait_until(
            lambda: all(post(cluster, ROLL_DIE).json() == 6 for _ in range(10)),
            f"{service_path('die_roller')} to answer 6",
            timeout=60,
        )
        wait_until(
            lambda: post(cluster, PLAY).json() == [6, 6, 6, 6, 6],
            "yatzee to throw five sixes",
            timeout=60,
        )
        wait_until(
            lambda: any(
                e.get("message") == "YATZEE!!!"
                for e in get_json(cluster, "get", "events", "-n", tutorial)["items"]
            ),
            "the YATZEE!!! event",
            timeout=60,
        )
        seen_before_switch_back = len(load.answers)

        # Switch back: 2.0.0 gives up its claim; 1.0.0 still claims main and is available.
        cluster.kubectl(
            "patch", "dsvc", v2, "-n", tutorial, "--type=merge", "-p", '{"spec":{"main":false}}'
        )
        cluster.kubectl(
            "wait", "--for=jsonpath={.status.mainMark}=*", f"dsvc/{v1}", "-n", tutorial,
            "--timeout=120s", timeout=140,
        )  # fmt: skip
        assert selected_version(cluster, tutorial, "die_roller") == "1.0.0"
        wait_until(
            lambda: any(a != 6 for a in load.answers[seen_before_switch_back:]),
            "1.0.0 to roll something other than 6 again",
            timeout=90,
        )
        wait_until(lambda: len(load.answers) >= seen_before_switch_back + 100, "more load")
    assert load.failures == [], load.failures[:10]
    assert 6 in load.answers and any(a != 6 for a in load.answers)
    cluster.kubectl("delete", "dsvc", v2, "-n", tutorial, "--wait=true", timeout=120)


def test_a_new_main_that_cannot_start_leaves_the_old_main_serving(
    cluster: Any, tutorial: str
) -> None:
    v3 = version_object_name("die_roller", "3.0.0")
    apply(
        cluster,
        tutorial,
        manifest("die_roller", "3.0.0", main=True, image="localhost/missing:3.0.0"),
    )
    failing = wait_until(
        lambda: (
            condition(dsvc(cluster, tutorial, v3), "Available").get("reason")
            in {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"}
            and dsvc(cluster, tutorial, v3)
        ),
        "the image pull failure in the status",
        timeout=180,
    )
    assert "localhost/missing:3.0.0" in condition(failing, "Available")["message"]
    assert condition(failing, "Ready")["status"] == "False"
    assert condition(failing, "Routed")["reason"] == "MainPendingAvailability"
    assert failing["status"]["phase"] == "failed"
    assert selected_version(cluster, tutorial, "die_roller") == "1.0.0"
    assert post(cluster, ROLL_DIE).status_code == 200
    cluster.kubectl("delete", "dsvc", v3, "-n", tutorial, "--wait=true", timeout=120)


def test_a_crash_loop_reports_the_containers_last_words(
    cluster: Any, daeploy_operator: str, fresh_namespace: Callable[[str], str]
) -> None:
    namespace = fresh_namespace("e2e-crash")
    name = version_object_name("crasher", "1.0.0")
    apply(
        cluster,
        namespace,
        manifest(
            "crasher",
            "1.0.0",
            image="localhost/die-roller:1.0.0",
            env=[{"name": SHUTDOWN_DELAY_ENV, "value": "never"}],
        ),
    )
    crashed = wait_until(
        lambda: (
            condition(dsvc(cluster, namespace, name), "Available").get("reason")
            == "CrashLoopBackOff"
            and dsvc(cluster, namespace, name)
        ),
        "CrashLoopBackOff in the status",
        timeout=240,
    )
    assert SHUTDOWN_DELAY_ENV in condition(crashed, "Available")["message"]
    assert crashed["status"]["running"] == "Not running (CrashLoopBackOff)"


def test_same_name_in_two_namespaces_is_ready_in_both_without_configuration(
    cluster: Any, tutorial: str, fresh_namespace: Callable[[str], str]
) -> None:
    """The tutorial's namespace keeps the shared host; the second is Ready on its own host
    (<namespace>.daeploy.local, the chart's default namespaceDomain), nobody annotates anything."""
    namespace = fresh_namespace("e2e-second")
    name = version_object_name("die_roller", "1.0.0")
    apply(
        cluster,
        namespace,
        manifest("die_roller", "1.0.0", main=True, image="localhost/die-roller:1.0.0"),
    )
    wait_ready(cluster, namespace, name, timeout=120)
    host = f"{namespace}.daeploy.local"
    assert dsvc(cluster, namespace, name)["status"]["serviceUrl"] == (
        f"http://{host}{service_path('die_roller')}"
    )
    # Ready means routed in Kubernetes; Traefik serves the route a moment later (503 until it
    # has the new version's endpoints).
    own = wait_until(
        lambda: _answered(post(cluster, ROLL_DIE, headers={"Host": host})),
        "the second namespace's own host to answer",
        timeout=60,
    )
    assert 1 <= own.json() <= 6
    # The first namespace keeps the shared host, and answers on its own host as well.
    assert post(cluster, ROLL_DIE_1).status_code == 200
    wait_until(
        lambda: _answered(post(cluster, ROLL_DIE, headers={"Host": f"{tutorial}.daeploy.local"})),
        "the tutorial namespace's own host to answer",
        timeout=60,
    )

    # A host given by hand still wins over the namespace domain.
    given = f"{namespace}.daeploy.test"
    cluster.kubectl("annotate", "namespace", namespace, f"{HOST_ANNOTATION}={given}")
    wait_until(
        lambda: (
            dsvc(cluster, namespace, name)["status"].get("serviceUrl")
            == f"http://{given}{service_path('die_roller')}"
        ),
        "the annotated host in the status",
    )
    answered = wait_until(
        lambda: post(cluster, ROLL_DIE, headers={"Host": given}),
        "the annotated host to answer",
        timeout=60,
    )
    assert answered.status_code == 200


def test_a_users_service_with_a_childs_name_survives_a_deploy_and_its_deletion(
    cluster: Any, daeploy_operator: str, fresh_namespace: Callable[[str], str]
) -> None:
    """Knative's IsControlledBy: the operator leaves a user's object alone and says so."""
    namespace = fresh_namespace("e2e-owned")
    taken = service_object_name("die_roller")
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": taken, "labels": {"app": "mine"}},
            "spec": {"selector": {"app": "mine"}, "ports": [{"port": 80}]},
        },
    )
    before = get_json(cluster, "get", "service", taken, "-n", namespace)
    name = version_object_name("die_roller", "1.0.0")
    apply(
        cluster,
        namespace,
        manifest("die_roller", "1.0.0", main=True, image="localhost/die-roller:1.0.0"),
    )
    reported = wait_until(
        lambda: (
            condition(dsvc(cluster, namespace, name), "Routed").get("reason") == NOT_OWNED_REASON
            and dsvc(cluster, namespace, name)
        ),
        "the conflict in the status",
    )
    assert f"Service {taken!r} already exists" in condition(reported, "Routed")["message"]
    assert condition(reported, "Ready")["status"] == "False"
    after = get_json(cluster, "get", "service", taken, "-n", namespace)
    for key in ("uid", "resourceVersion", "labels"):
        assert after["metadata"].get(key) == before["metadata"].get(key), key
    assert after["spec"] == before["spec"]
    assert "ownerReferences" not in after["metadata"]

    cluster.kubectl("delete", "dsvc", name, "-n", namespace, "--wait=true")
    wait_until(
        lambda: not get_json(cluster, "get", "deployment", "-n", namespace)["items"],
        "the version's Deployment to be collected",
    )
    survivor = get_json(cluster, "get", "service", taken, "-n", namespace)
    assert survivor["metadata"]["uid"] == before["metadata"]["uid"]


# --- validation ------------------------------------------------------------------------------


def test_bad_manifests_are_rejected_naming_the_field(
    cluster: Any, daeploy_operator: str, fresh_namespace: Callable[[str], str]
) -> None:
    assert len(BAD_MANIFESTS) >= 8
    namespace = fresh_namespace("e2e-bad")
    apply(cluster, namespace, bad_manifest("base", "checked", "1.0.0"))
    before = get_json(cluster, "get", "dsvc", "-n", namespace)["items"]

    accepted = []
    for what, obj, field in BAD_MANIFESTS:
        result = apply(cluster, namespace, obj, check=False)
        if result.returncode == 0 or field not in result.stderr:
            accepted.append((what, result.returncode, result.stderr.strip()))
    assert accepted == []

    after = get_json(cluster, "get", "dsvc", "-n", namespace)["items"]
    assert [(o["metadata"]["name"], o["metadata"]["generation"], o["spec"]) for o in after] == [
        (o["metadata"]["name"], o["metadata"]["generation"], o["spec"]) for o in before
    ]


# --- healing and deletion (last: they change the tutorial namespace) ------------------------


def test_children_deleted_by_hand_come_back(cluster: Any, tutorial: str) -> None:
    per_name = service_object_name("die_roller")
    deployment = version_object_name("yatzee", "1.0.0")
    old_service = get_json(cluster, "get", "service", per_name, "-n", tutorial)["metadata"]["uid"]
    old_deployment = get_json(cluster, "get", "deployment", deployment, "-n", tutorial)["metadata"][
        "uid"
    ]
    cluster.kubectl("delete", "service", per_name, "-n", tutorial)
    cluster.kubectl("delete", "deployment", deployment, "-n", tutorial)
    ingress = service_object_name("yatzee")
    misroute = (
        '[{"op": "replace", "path": "/spec/rules/0/http/paths/0/backend/service/name",'
        ' "value": "nowhere"}]'
    )
    cluster.kubectl("patch", "ingress", ingress, "-n", tutorial, "--type=json", "-p", misroute)
    cluster.kubectl("delete", "ingressroute", ingress, "-n", tutorial)

    def restored() -> bool:
        service = get_json(cluster, "get", "service", per_name, "-n", tutorial)
        again = get_json(cluster, "get", "deployment", deployment, "-n", tutorial)
        routes = get_json(cluster, "get", "ingress", ingress, "-n", tutorial)
        main_route = get_json(cluster, "get", "ingressroute", ingress, "-n", tutorial)
        backend = routes["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        return (
            service["metadata"]["uid"] != old_service
            and again["metadata"]["uid"] != old_deployment
            and backend == deployment
            and main_route["spec"]["routes"][0]["services"][0]["name"] == deployment
        )

    wait_until(restored, "the deleted and edited children to come back", timeout=60)
    wait_until(
        lambda: post(cluster, PLAY).status_code == 200,
        "yatzee to play again on its new pods",
        timeout=180,
    )
    wait_ready(cluster, tutorial, deployment)


def test_deleting_the_services_removes_every_child(cluster: Any, tutorial: str) -> None:
    cluster.kubectl("delete", "dsvc", "--all", "-n", tutorial, "--wait=true", timeout=120)

    def leftovers() -> list[str]:
        return cluster.kubectl(
            "get",
            "deployments,services,ingresses,ingressroutes,traefikservices,serviceaccounts,roles,"
            "rolebindings",
            "-n", tutorial, "-l", MANAGED, "-o", "name",
        ).stdout.split()  # fmt: skip

    wait_until(
        lambda: leftovers() == [], "the garbage collector to remove every child", timeout=120
    )
    wait_until(
        lambda: (
            cluster.kubectl(
                "get", "pods", "-n", tutorial, "-l", MANAGED, "-o", "name"
            ).stdout.strip()
            == ""
        ),
        "the pods to go",
        timeout=120,
    )


def _answered(response: Any) -> Any:
    """The response if it is a 200, for wait_until; anything else is waited past."""
    return response if response.status_code == 200 else None
