"""Images not built on the SDK (spec.probe, spec.runAsUser): pods, routes, status, CRD; no cluster.

The cluster tests (tests/cluster/test_plain_image.py) run the same with a real kubelet and Traefik.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dsvc_objects import dsvc_object, service_version

from daeploy.contract import (
    ACCESS_MIDDLEWARE,
    LIVE_PATH,
    PERMANENT_REASONS,
    PLURAL,
    READY_PATH,
    ROUTE_PREFIX,
    RUN_AS_USER_NEEDED_REASON,
    RUNTIME_IMAGE,
    TRAEFIK_API_VERSION,
)
from daeploy.names import service_path, version_object_name, version_path
from daeploy_operator import status as st
from daeploy_operator.resources.deployment import RUN_AS_USER, build_version_deployment
from daeploy_operator.resources.strip_prefix import (
    ROUTE_SEGMENT_PATTERN,
    build_strip_middleware,
    strip_name,
)
from daeploy_operator.resources.traffic import (
    VERSION_ROUTE_PRIORITY,
    build_name_ingress_route,
    path_match,
    route_match,
    strips_main,
)
from daeploy_operator.routing import MainRoute, Traffic
from daeploy_operator.spec import ServiceVersion

RUNTIME = RUNTIME_IMAGE
NAME = "files"
CRD = Path(__file__).resolve().parents[2] / "crds" / f"{PLURAL}.yaml"
# What the kubelet (pkg/kubelet/kuberuntime) says when runAsNonRoot cannot be met.
ROOT_REFUSAL = (
    'container has runAsNonRoot and image will run as root (pod: "files-v1-0-0-abc_demo(uid)", '
    "container: service)"
)
NAMED_USER_REFUSAL = (
    "container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is "
    'non-root (pod: "files-v1-0-0-abc_demo(uid)", container: service)'
)


def _pod_and_container(version: ServiceVersion) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = build_version_deployment(version, RUNTIME)["spec"]["template"]["spec"]
    [container] = pod["containers"]
    return pod, container


# --- pods ------------------------------------------------------------------------------------


def test_a_tcp_probe_checks_the_port_and_leaves_the_user_to_the_image() -> None:
    version = service_version(NAME, "1.0.0", image="r/files:1", port=8080, probe={"type": "tcp"})
    pod, container = _pod_and_container(version)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["tcpSocket"] == {"port": "http"}, probe
        assert "httpGet" not in container[probe]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    # Never root, but whichever non-root user the image names: the kubelet checks it.
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert "runAsUser" not in container["securityContext"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # The rest of a zero-loss switch stays: a stopping pod serves on for a few seconds.
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0


@pytest.mark.parametrize(("path", "expected"), [("/healthz", "/healthz"), (None, "/")])
def test_an_http_probe_asks_its_path(path: str | None, expected: str) -> None:
    probe = {"type": "http", **({"path": path} if path else {})}
    _, container = _pod_and_container(service_version(NAME, "1.0.0", image="r/f:1", probe=probe))
    for name in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[name]["httpGet"] == {"path": expected, "port": "http"}, name


def test_run_as_user_is_the_pods_user_for_any_image() -> None:
    plain = service_version(NAME, "1.0.0", image="r/f:1", probe={"type": "tcp"}, runAsUser=1000)
    pod, container = _pod_and_container(plain)
    assert pod["securityContext"]["runAsUser"] == 1000
    assert "runAsGroup" not in pod["securityContext"]  # the image's own group, or 0
    assert container["securityContext"]["runAsUser"] == 1000
    sdk = service_version(NAME, "2.0.0", image="r/sdk:1", runAsUser=2000)
    pod, container = _pod_and_container(sdk)
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
        2000,
        2000,
    )


@pytest.mark.parametrize(
    "spec",
    [
        {"image": "r/sdk:1"},
        {"image": "r/sdk:1", "probe": {"type": "sdk"}},
        # A folder runs on the runtime image, the SDK, whatever the spec says.
        {"source": {"configMap": "src"}, "probe": {"type": "tcp"}},
    ],
)
def test_sdk_images_keep_the_sdks_probes_and_user(spec: dict[str, Any]) -> None:
    version = service_version(NAME, "1.0.0", **spec)
    assert version.probe.sdk
    pod, container = _pod_and_container(version)
    assert container["startupProbe"]["httpGet"]["path"] == LIVE_PATH
    assert container["readinessProbe"]["httpGet"]["path"] == READY_PATH
    assert container["livenessProbe"]["httpGet"]["path"] == LIVE_PATH
    assert pod["securityContext"]["runAsUser"] == RUN_AS_USER
    assert pod["securityContext"]["runAsGroup"] == RUN_AS_USER
    assert container["securityContext"]["runAsUser"] == RUN_AS_USER


# --- routes ----------------------------------------------------------------------------------


def test_the_strip_middleware_takes_off_the_route_segment() -> None:
    owners = [service_version(NAME, "1.0.0", probe={"type": "tcp"})]
    middleware = build_strip_middleware(NAME, "demo", owners)
    assert middleware["apiVersion"] == TRAEFIK_API_VERSION
    assert middleware["kind"] == "Middleware"
    assert middleware["metadata"]["name"] == strip_name(NAME)
    assert middleware["metadata"]["ownerReferences"][0]["uid"] == owners[0].uid
    assert middleware["spec"] == {"stripPrefixRegex": {"regex": [ROUTE_SEGMENT_PATTERN]}}


@pytest.mark.parametrize(
    ("path", "left"),
    [
        (f"{version_path(NAME, '1.0.0')}/x/y", "/x/y"),
        (f"{service_path(NAME)}/", "/"),
        (service_path(NAME), ""),  # Traefik sends "/" for an empty path
        (f"{version_path(NAME, '1.0.0-rc.1+b.5')}/a", "/a"),
    ],
)
def test_the_strip_pattern_leaves_the_path_below_the_route(path: str, left: str) -> None:
    # Go's RE2 and Python's re agree on this pattern (no look-arounds or back-references).
    match = re.match(ROUTE_SEGMENT_PATTERN, path)
    assert match is not None
    assert path[match.end() :] == left
    assert ROUTE_SEGMENT_PATTERN.startswith(f"^{ROUTE_PREFIX}")


def test_plain_versions_get_their_own_path_with_the_prefix_stripped() -> None:
    versions = [
        service_version(NAME, "1.0.0"),
        service_version(NAME, "2.0.0", probe={"type": "tcp"}),
    ]
    traffic = Traffic("1.0.0", {"1.0.0": 100}, ())
    route = build_name_ingress_route(
        NAME, "demo", versions, traffic, hosts=["", "demo.daeploy.local"], guarded=True,
        plain_versions=["2.0.0"],
    )  # fmt: skip
    guard = {"name": ACCESS_MIDDLEWARE, "namespace": "demo"}
    strip = {"name": strip_name(NAME), "namespace": "demo"}
    routes = route["spec"]["routes"]
    assert [r["match"] for r in routes] == [
        route_match(NAME, ""),
        path_match(version_path(NAME, "2.0.0"), ""),
        route_match(NAME, "demo.daeploy.local"),
        path_match(version_path(NAME, "2.0.0"), "demo.daeploy.local"),
    ]
    main, own = routes[0], routes[1]
    # The SDK main keeps its whole path: the plain version is not in /services/<name>'s traffic.
    assert main["middlewares"] == [guard]
    assert "priority" not in main
    # The gate sees the whole path (it names the service), then the prefix goes.
    assert own["middlewares"] == [guard, strip]
    assert own["priority"] == VERSION_ROUTE_PRIORITY
    assert own["services"] == [{"name": version_object_name(NAME, "2.0.0"), "port": 80}]


def test_a_plain_main_or_shadow_strips_the_main_path_too() -> None:
    assert strips_main(Traffic("2.0.0", {"2.0.0": 100}, ()), ["2.0.0"])
    assert strips_main(Traffic("1.0.0", {"1.0.0": 100}, ("2.0.0",)), ["2.0.0"])
    assert strips_main(Traffic("1.0.0", {"1.0.0": 90, "2.0.0": 10}, ()), ["2.0.0"])
    assert not strips_main(Traffic("1.0.0", {"1.0.0": 100}, ()), ["2.0.0"])
    assert not strips_main(Traffic(None, {}, ()), ["2.0.0"])
    versions = [service_version(NAME, "2.0.0", probe={"type": "tcp"})]
    route = build_name_ingress_route(
        NAME, "demo", versions, Traffic("2.0.0", {"2.0.0": 100}, ()), hosts=[""],
        guarded=False, plain_versions=["2.0.0"],
    )  # fmt: skip
    main, own = route["spec"]["routes"]
    assert (
        main["middlewares"]
        == own["middlewares"]
        == [{"name": strip_name(NAME), "namespace": "demo"}]
    )


def test_without_a_main_only_the_plain_versions_paths_are_routed() -> None:
    versions = [service_version(NAME, "1.0.0", probe={"type": "tcp"})]
    route = build_name_ingress_route(
        NAME, "demo", versions, Traffic(None, {}, ()), hosts=[""], guarded=False,
        plain_versions=["1.0.0"],
    )  # fmt: skip
    [own] = route["spec"]["routes"]
    assert own["match"] == path_match(version_path(NAME, "1.0.0"), "")


# --- status ----------------------------------------------------------------------------------


def _waiting(message: str, reason: str = "CreateContainerConfigError") -> dict[str, Any]:
    return {
        "metadata": {"name": "files-v1-0-0-abc"},
        "status": {
            "containerStatuses": [
                {
                    "name": "service",
                    "image": "r/files:1",
                    "restartCount": 0,
                    "state": {"waiting": {"reason": reason, "message": message}},
                }
            ]
        },
    }


@pytest.mark.parametrize(
    ("kubelet", "why"),
    [
        (ROOT_REFUSAL, "the image runs as root"),
        (NAMED_USER_REFUSAL, "the image's USER is a name, not a number"),
    ],
)
def test_an_image_that_would_run_as_root_is_refused_naming_the_fix(kubelet: str, why: str) -> None:
    version = service_version(NAME, "1.0.0", image="r/files:1", probe={"type": "tcp"})
    available = st.availability(version, None, [_waiting(kubelet)])
    assert available.status is False
    assert available.reason == RUN_AS_USER_NEEDED_REASON
    assert why in available.message
    assert "spec.runAsUser" in available.message
    assert "--run-as-user" in available.message
    assert kubelet in available.message  # the kubelet's own words stay
    assert st.phase(available) == "failed"
    # A person must act: the CLI stops waiting, and a Warning Event is posted.
    assert RUN_AS_USER_NEEDED_REASON in PERMANENT_REASONS
    assert RUN_AS_USER_NEEDED_REASON in st.PROBLEM_REASONS


def test_once_a_user_is_set_a_refused_pod_is_an_old_one_the_rollout_replaces() -> None:
    """Deploying the fix (--run-as-user) must not stop at the old pod's refusal."""
    fixed = service_version(NAME, "1.0.0", image="r/files:1", probe={"type": "tcp"}, runAsUser=1000)
    available = st.availability(fixed, None, [_waiting(ROOT_REFUSAL)])
    assert (available.status, available.reason) == (False, "Deploying")
    sdk = service_version(NAME, "1.0.0", image="r/sdk:1")
    assert st.availability(sdk, None, [_waiting(ROOT_REFUSAL)]).reason == "Deploying"


def test_other_config_errors_keep_the_kubelets_reason() -> None:
    failure = st.pod_failure([_waiting('secret "x" not found')])
    assert failure == ("CreateContainerConfigError", 'container service: secret "x" not found')


def test_without_traefik_routes_a_plain_version_is_told_its_path_keeps_the_prefix() -> None:
    plain = service_version(NAME, "1.0.0", probe={"type": "tcp"})
    route = MainRoute(target="1.0.0", winner="1.0.0")
    bare = st.routed(plain, route, holder_namespace="demo", host="")
    assert bare.status is True
    assert "traffic.traefikRoutes" in bare.message
    assert version_path(NAME, "1.0.0") in bare.message
    with_routes = st.routed(
        plain, route, holder_namespace="demo", host="", traffic=Traffic("1.0.0", {"1.0.0": 100}, ())
    )
    assert "traefikRoutes" not in with_routes.message
    sdk = st.routed(service_version(NAME, "1.0.0"), route, holder_namespace="demo", host="")
    assert "traefikRoutes" not in sdk.message


# --- the CRD ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    crd = yaml.safe_load(CRD.read_text())
    [entry] = crd["spec"]["versions"]
    return jsonschema.Draft7Validator(entry["schema"]["openAPIV3Schema"])


def _object(**spec: Any) -> dict[str, Any]:
    obj = copy.deepcopy(dsvc_object(NAME, "1.0.0", image="r/files:1"))
    del obj["status"]
    obj["spec"].update(spec)
    return obj


@pytest.mark.parametrize(
    "spec",
    [
        {"probe": {"type": "tcp"}, "runAsUser": 1000},
        {"probe": {"type": "http", "path": "/healthz?full=1"}},
        {"probe": {"type": "sdk"}},
        {"runAsUser": 2147483647},
    ],
)
def test_the_crd_takes_probes_and_users(validator: jsonschema.Draft7Validator, spec: dict) -> None:
    assert list(validator.iter_errors(_object(**spec))) == []


@pytest.mark.parametrize(
    "spec",
    [
        {"probe": {"type": "exec"}},
        {"probe": {}},
        {"probe": {"type": "http", "path": "healthz"}},
        {"probe": {"type": "http", "path": "/a b"}},
        {"runAsUser": 0},
        {"runAsUser": -1},
        {"runAsUser": "1000"},
    ],
)
def test_the_crd_refuses_bad_probes_and_users(
    validator: jsonschema.Draft7Validator, spec: dict
) -> None:
    assert list(validator.iter_errors(_object(**spec)))


def test_the_crd_says_path_is_for_http_and_folders_run_on_the_sdk() -> None:
    crd = yaml.safe_load(CRD.read_text())
    [entry] = crd["spec"]["versions"]
    spec = entry["schema"]["openAPIV3Schema"]["properties"]["spec"]
    [path_rule] = spec["properties"]["probe"]["x-kubernetes-validations"]
    assert path_rule["rule"] == "self.type == 'http' || !has(self.path)"
    assert "spec.probe.path" in path_rule["message"]
    [folder_rule] = [r for r in spec["x-kubernetes-validations"] if "probe" in r["rule"]]
    assert "spec.source" in folder_rule["message"] and "spec.probe" in folder_rule["message"]


def test_an_unknown_probe_type_from_an_older_object_runs_as_the_sdk() -> None:
    version = ServiceVersion.from_object(dsvc_object(NAME, "1.0.0", probe={"type": "grpc"}))
    assert version.probe.sdk
