"""Images not built on the SDK against a real kube-apiserver with Traefik's CRDs (envtest).

What the API server itself checks here: the CRD's CEL rules on spec.probe, Traefik's schemas
for the IngressRoute's priority and the stripPrefixRegex Middleware, and the chart's RBAC for
the Middleware's watch and delete. The kubelet's refusal is a pod status written as the kubelet
would; tests/cluster/test_plain_image.py gets it from a real kubelet.
"""

from __future__ import annotations

from typing import Any

import pytest
from envtest import EnvTest
from test_operator_rbac_envtest import OperatorIdentity, _operator_warnings
from test_operator_rbac_envtest import _reconciler as _operator_reconciler
from test_operator_rbac_envtest import operator as operator  # a fixture
from test_persistence_envtest import _release_claims
from test_reconciler_envtest import (
    _condition,
    _create_version,
    _ingress_paths,
    _mark_available,
    _message,
    _patch_spec,
    _reconciler,
    _recorded_writes,
    _start_pod,
    _traefik,
    _version,
)

from daeploy.contract import (
    ACCESS_GATE_URL_ENV,
    ACCESS_MIDDLEWARE,
    ACCESS_TRAEFIK_MIDDLEWARE_ENV,
    API_GROUP_VERSION,
    KIND,
    RUN_AS_USER_NEEDED_REASON,
    TRAFFIC_ROUTES_ENV,
)
from daeploy.names import service_object_name, version_object_name, version_path
from daeploy_operator.api import ApiError
from daeploy_operator.kinds import resource_path
from daeploy_operator.resources.strip_prefix import ROUTE_SEGMENT_PATTERN, strip_name
from daeploy_operator.resources.traffic import VERSION_ROUTE_PRIORITY, mirror_name

NAME = "files"
TRAEFIK = {TRAFFIC_ROUTES_ENV: "traefik"}
ROOT_REFUSAL = (
    'container has runAsNonRoot and image will run as root (pod: "files-v1-0-0-abc12_ns(uid)", '
    "container: service)"
)


def _routes(api: Any, ns: str) -> list[dict[str, Any]]:
    route = _traefik(api, "IngressRoute", ns, service_object_name(NAME))
    assert route is not None
    return list(route["spec"]["routes"])


def test_a_plain_version_gets_a_stripped_route_until_none_is_left(
    envtest: EnvTest, envtest_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, NAME, "1.0.0", main=True)
    plain = {"probe": {"type": "tcp"}, "runAsUser": 1000, "port": 8080}
    _create_version(api, ns, NAME, "2.0.0", image="localhost/files:2", shadow=False, **plain)
    reconciler, _ = _reconciler(api, **TRAEFIK)
    reconciler.reconcile(ns, NAME)
    for version in ("1.0.0", "2.0.0"):
        _mark_available(api, ns, NAME, version)
    reconciler.reconcile(ns, NAME)

    middleware = _traefik(api, "Middleware", ns, strip_name(NAME))
    assert middleware is not None
    assert middleware["spec"] == {"stripPrefixRegex": {"regex": [ROUTE_SEGMENT_PATTERN]}}
    main, own = _routes(api, ns)
    assert "middlewares" not in main  # an SDK main, no plain version shares its traffic
    assert own["priority"] == VERSION_ROUTE_PRIORITY  # kept by Traefik's own schema
    assert own["middlewares"] == [{"name": strip_name(NAME), "namespace": ns}]
    assert own["services"] == [{"name": version_object_name(NAME, "2.0.0"), "port": 80}]
    # Both own paths stay in the Ingress (the name's route claim); the route outranks it.
    assert _ingress_paths(api, ns, NAME) == [version_path(NAME, v) for v in ("1.0.0", "2.0.0")]
    deployment = api.get("apps/v1", "Deployment", ns, version_object_name(NAME, "2.0.0"))
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert pod["securityContext"]["runAsUser"] == 1000
    obj = _version(api, ns, NAME, "2.0.0")
    assert _condition(obj, "Ready") == ("True", "Ready")
    assert "traefikRoutes" not in _message(obj, "Routed")

    writes = _recorded_writes(api, monkeypatch)
    reconciler.reconcile(ns, NAME)
    assert writes == []  # the Middleware is watched like the routes: nothing to re-apply
    monkeypatch.undo()

    # The plain version becomes main: /services/<name> strips too, and the SDK version, now a
    # shadow, gets its copies stripped as well (an SDK app answers at / too).
    _patch_spec(api, ns, NAME, "2.0.0", main=True)
    reconciler.reconcile(ns, NAME)
    main, own = _routes(api, ns)
    assert main["services"] == [{"name": mirror_name(NAME), "kind": "TraefikService"}]
    assert main["middlewares"] == [{"name": strip_name(NAME), "namespace": ns}]

    # No plain version left: the Middleware and the extra route go.
    api.request(
        "PATCH",
        resource_path(API_GROUP_VERSION, KIND, ns, version_object_name(NAME, "2.0.0")),
        body=[{"op": "remove", "path": "/spec/probe"}],
        content_type="application/json-patch+json",
    )
    _mark_available(api, ns, NAME, "2.0.0")
    reconciler.reconcile(ns, NAME)
    [main] = _routes(api, ns)
    assert "middlewares" not in main
    assert _traefik(api, "Middleware", ns, strip_name(NAME)) is None


def test_with_access_control_the_gate_comes_before_the_strip(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, NAME, "1.0.0", main=True, probe={"type": "http", "path": "/"})
    settings = {
        **TRAEFIK,
        ACCESS_GATE_URL_ENV: "http://gate.daeploy-system.svc",
        ACCESS_TRAEFIK_MIDDLEWARE_ENV: "true",
    }
    reconciler, _ = _reconciler(api, **settings)
    reconciler.reconcile(ns, NAME)
    for route in _routes(api, ns):
        assert [m["name"] for m in route["middlewares"]] == [ACCESS_MIDDLEWARE, strip_name(NAME)]


def test_an_image_that_would_run_as_root_says_to_set_run_as_user(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, NAME, "1.0.0", main=True, probe={"type": "tcp"}, port=8080)
    reconciler, events = _reconciler(api, **TRAEFIK)
    reconciler.reconcile(ns, NAME)
    waiting = {"waiting": {"reason": "CreateContainerConfigError", "message": ROOT_REFUSAL}}
    _start_pod(api, ns, NAME, "1.0.0", waiting)
    reconciler.reconcile(ns, NAME)
    obj = _version(api, ns, NAME, "1.0.0")
    assert _condition(obj, "Available") == ("False", RUN_AS_USER_NEEDED_REASON)
    assert _condition(obj, "Ready") == ("False", RUN_AS_USER_NEEDED_REASON)
    message = _message(obj, "Available")
    assert "the image runs as root" in message and "spec.runAsUser" in message
    assert obj["status"]["running"] == f"Not running ({RUN_AS_USER_NEEDED_REASON})"
    assert ("Warning", RUN_AS_USER_NEEDED_REASON) in [(e.type, e.reason) for _, e in events]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (
            {"source": {"configMap": "src"}, "image": None, "probe": {"type": "tcp"}},
            "spec.probe: a folder deploy (spec.source) runs on the SDK",
        ),
        ({"probe": {"type": "tcp", "path": "/x"}}, "spec.probe.path is for type http only"),
        ({"probe": {"type": "exec"}}, "spec.probe.type: Unsupported value"),
        ({"runAsUser": 0}, "spec.runAsUser: Invalid value"),
        ({"persistence": {"size": "lots"}}, "spec.persistence.size"),
    ],
)
def test_the_api_server_refuses_bad_probes_users_and_sizes(
    envtest: EnvTest, envtest_namespace: str, spec: dict[str, Any], says: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    body = {"name": NAME, "version": "1.0.0", "image": "localhost/files:1", **spec}
    manifest = {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": {"name": "refused", "namespace": ns},
        "spec": {k: v for k, v in body.items() if v is not None},
    }
    with pytest.raises(ApiError) as refused:
        api.request("POST", resource_path(API_GROUP_VERSION, KIND, ns), body=manifest)
    assert refused.value.status == 422
    assert says in str(refused.value)


def test_plain_versions_and_claims_under_the_charts_rbac(
    envtest: EnvTest,
    envtest_namespace: str,
    operator: OperatorIdentity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Middleware is applied, watched and deleted, the claim applied, as the chart's
    ServiceAccount: with the traffic routes the chart turns on by default."""
    admin, ns = envtest.api, envtest_namespace
    _create_version(admin, ns, NAME, "1.0.0", main=True, probe={"type": "tcp"}, persistence={})
    reconciler = _operator_reconciler(operator, **TRAEFIK)
    reconciler.reconcile(ns, NAME)
    _mark_available(admin, ns, NAME, "1.0.0")
    reconciler.reconcile(ns, NAME, force=True)
    assert _condition(_version(admin, ns, NAME, "1.0.0"), "Ready") == ("True", "Ready")
    assert _traefik(admin, "Middleware", ns, strip_name(NAME)) is not None
    assert admin.list("v1", "PersistentVolumeClaim", ns)
    _patch_spec(admin, ns, NAME, "1.0.0", probe={"type": "sdk"})
    reconciler.reconcile(ns, NAME)
    assert _traefik(admin, "Middleware", ns, strip_name(NAME)) is None
    assert _operator_warnings(caplog) == []
    _release_claims(admin, ns)
