"""The Reconciler as the operator's own identity, with exactly the chart's RBAC (envtest).

The other envtest tests run as cluster-admin, so a verb the chart's ClusterRole forgets passes
there and fails every reconcile in a real cluster with HTTP 403. Here helm renders the chart's
ServiceAccount, ClusterRole and ClusterRoleBinding, they are applied to envtest, and a second
ApiServer impersonates that ServiceAccount. Covered: the operator's own calls (the Reconciler,
its Events, the resync pass). Not covered: kopf's own watches and patches, and the
``daeployservices/finalizers`` update that only the OwnerReferencesPermissionEnforcement admission
plugin asks for (neither envtest nor the local cluster enables it).
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from envtest import EnvTest
from kubernetes import client, config
from test_reconciler_envtest import _condition, _create_version, _mark_available, _version

from daeploy.contract import (
    API_GROUP_VERSION,
    KIND,
    NOT_OWNED_REASON,
    OPERATOR_NAME,
    ROUTE_HELD_REASON,
)
from daeploy.names import service_object_name
from daeploy_operator.api import ApiError, ApiServer
from daeploy_operator.events import EventPoster
from daeploy_operator.indexes import snapshot
from daeploy_operator.kinds import resource_path
from daeploy_operator.reconciler import Reconciler
from daeploy_operator.resync import resync_once
from daeploy_operator.settings import OperatorSettings
from localcluster.components import HELM, KUBERNETES

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / OPERATOR_NAME
# Where README.md and hack/demo.sh install the chart.
RELEASE_NAMESPACE = "daeploy-system"
RBAC_TEMPLATES = ("serviceaccount.yaml", "clusterrole.yaml", "clusterrolebinding.yaml")
RBAC_PROPAGATION_TIMEOUT = 10.0
SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SELF_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
NAME = "die_roller"


@dataclass(frozen=True)
class OperatorIdentity:
    """The chart's ServiceAccount as a user, and an ApiServer that acts as it."""

    api: ApiServer
    user: str


def _render_chart_rbac() -> list[dict[str, Any]]:
    """The chart's RBAC objects as ``helm install`` would create them (default values)."""
    helm = HELM.binary()
    if not helm.is_file():
        pytest.fail(f"{helm} not built: run `sudo hack/cluster build`", pytrace=False)
    argv = [str(helm), "template", OPERATOR_NAME, str(CHART), "--namespace", RELEASE_NAMESPACE]
    for template in RBAC_TEMPLATES:
        argv += ["--show-only", f"templates/{template}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        reason = " ".join(proc.stderr.split())
        pytest.fail(f"helm template exited {proc.returncode}: {reason}", pytrace=False)
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def _kubectl(envtest: EnvTest, *args: str, manifests: list[dict[str, Any]]) -> None:
    argv = [str(KUBERNETES.binary("kubectl")), f"--kubeconfig={envtest.kubeconfig}", *args]
    text = yaml.safe_dump_all(manifests)
    proc = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"


def _impersonating(envtest: EnvTest, user: str) -> tuple[ApiServer, client.ApiClient]:
    """An ApiServer on ``envtest`` whose every request the admin sends as ``user``.

    Only the user is named: the kubernetes client keeps one value per header, so two
    Impersonate-Group headers cannot be sent; for a ServiceAccount user the API server then
    adds the ServiceAccount's groups itself (which a test below checks).
    """
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(envtest.kubeconfig), client_configuration=configuration)
    configuration.proxy = None
    api_client = client.ApiClient(configuration)
    api_client.set_default_header("Impersonate-User", user)
    return ApiServer(api_client), api_client


def _allowed(api: ApiServer, verb: str, group: str, resource: str) -> bool:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource}},
    }
    answer = api.request("POST", SELF_ACCESS_REVIEWS, body=review) or {}
    return bool(answer.get("status", {}).get("allowed"))


def _wait_for_rbac(api: ApiServer, rules: list[dict[str, Any]]) -> None:
    """The authorizer learns of new roles and bindings from a watch: wait until it has."""
    rule = rules[0]
    probe = (rule["verbs"][0], rule["apiGroups"][0], rule["resources"][0])
    deadline = time.monotonic() + RBAC_PROPAGATION_TIMEOUT
    while not _allowed(api, *probe):
        if time.monotonic() > deadline:
            pytest.fail(f"the chart's ClusterRole never granted {probe}", pytrace=False)
        time.sleep(0.05)


def _remove_release_namespace(api: ApiServer) -> None:
    """No namespace controller runs: delete the namespace, then drop its finalizer by hand."""
    path = resource_path("v1", "Namespace", None, RELEASE_NAMESPACE)
    try:
        api.request("DELETE", path)
    except ApiError as error:
        if error.status == 404:
            return
        raise
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RELEASE_NAMESPACE},
            "spec": {"finalizers": []}}  # fmt: skip
    api.request("PUT", f"{path}/finalize", body=body)


@pytest.fixture(scope="module")
def operator(envtest: EnvTest) -> Iterator[OperatorIdentity]:
    """The chart's RBAC applied to envtest, and the operator's ServiceAccount to act as."""
    rendered = _render_chart_rbac()
    by_kind = {obj["kind"]: obj for obj in rendered}
    assert sorted(by_kind) == ["ClusterRole", "ClusterRoleBinding", "ServiceAccount"]
    account = by_kind["ServiceAccount"]["metadata"]
    assert account["namespace"] == RELEASE_NAMESPACE
    # The binding gives the ClusterRole to this very ServiceAccount.
    binding = by_kind["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == by_kind["ClusterRole"]["metadata"]["name"]
    subjects = [(s["kind"], s["namespace"], s["name"]) for s in binding["subjects"]]
    assert subjects == [("ServiceAccount", RELEASE_NAMESPACE, account["name"])]

    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RELEASE_NAMESPACE}}
    _kubectl(envtest, "apply", "--server-side", "--filename=-", manifests=[namespace, *rendered])
    user = f"system:serviceaccount:{RELEASE_NAMESPACE}:{account['name']}"
    api, api_client = _impersonating(envtest, user)
    try:
        _wait_for_rbac(api, by_kind["ClusterRole"]["rules"])
        yield OperatorIdentity(api, user)
    finally:
        api_client.close()
        _kubectl(envtest, "delete", "--ignore-not-found", "--wait=false", "--filename=-",
                 manifests=rendered)  # fmt: skip
        _remove_release_namespace(envtest.api)


def _reconciler(operator: OperatorIdentity, **env: str) -> Reconciler:
    """The Reconciler as handlers.py builds it, Events included, acting as the operator."""
    return Reconciler(
        operator.api,
        lambda: snapshot(operator.api),
        OperatorSettings.from_env(env),
        post_event=EventPoster(operator.api, "rbac-envtest"),
    )


def _operator_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the operator only logs (a lost Event, a failed resync) instead of raising."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("daeploy_operator") and r.levelno >= logging.WARNING
    ]


def test_the_operator_client_is_the_charts_service_account(operator: OperatorIdentity) -> None:
    """Not the admin the request is sent by: the ServiceAccount with its groups only."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    answer = operator.api.request("POST", SELF_SUBJECT_REVIEWS, body=review) or {}
    user_info = answer["status"]["userInfo"]
    assert user_info["username"] == operator.user
    assert sorted(user_info["groups"]) == [
        "system:authenticated",
        "system:serviceaccounts",
        f"system:serviceaccounts:{RELEASE_NAMESPACE}",
    ]


def test_a_new_service_becomes_ready_under_the_charts_rbac(
    envtest: EnvTest,
    envtest_namespace: str,
    operator: OperatorIdentity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every child is read (ownership check), applied and observed; status and Events written."""
    admin, ns = envtest.api, envtest_namespace
    _create_version(admin, ns, NAME, "1.0.0", main=True)
    reconciler = _reconciler(operator)

    reconciler.reconcile(ns, NAME)
    assert _condition(_version(admin, ns, NAME, "1.0.0"), "Ready") == ("False", "Deploying")
    _mark_available(admin, ns, NAME, "1.0.0")
    reconciler.reconcile(ns, NAME)
    reconciler.reconcile_namespace_access(ns, force=True)

    obj = _version(admin, ns, NAME, "1.0.0")
    assert _condition(obj, "Ready") == ("True", "Ready")
    assert _condition(obj, "Routed") == ("True", "MainVersion")
    assert admin.get("networking.k8s.io/v1", "Ingress", ns, service_object_name(NAME))
    posted = {e["reason"] for e in admin.list("v1", "Event", ns)}
    assert "MinimumReplicasAvailable" in posted
    assert _operator_warnings(caplog) == []


def test_a_restarted_operator_forces_every_child_and_resyncs_under_the_charts_rbac(
    envtest: EnvTest,
    envtest_namespace: str,
    operator: OperatorIdentity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A new process knows nothing it applied: it reads every existing child before writing."""
    admin, ns = envtest.api, envtest_namespace
    _create_version(admin, ns, NAME, "1.0.0", main=True)
    _create_version(admin, ns, NAME, "2.0.0")
    _reconciler(operator).reconcile(ns, NAME)
    for version in ("1.0.0", "2.0.0"):
        _mark_available(admin, ns, NAME, version)

    restarted = _reconciler(operator)
    restarted.reconcile_namespace_access(ns, force=True)
    restarted.reconcile(ns, NAME, force=True)
    assert _condition(_version(admin, ns, NAME, "1.0.0"), "Ready") == ("True", "Ready")
    assert _condition(_version(admin, ns, NAME, "2.0.0"), "Ready") == ("True", "Ready")

    # The safety net as handlers.py starts it, its names read from the operator's view.
    again = _reconciler(operator)

    def forced_access(namespace: str) -> None:
        again.reconcile_namespace_access(namespace, force=True)

    def forced(key: tuple[str, str]) -> None:
        again.reconcile_key(key, force=True)

    names = [key for key in again.view().names() if key[0] == ns]
    assert names == [(ns, NAME)]
    assert resync_once(names, forced, reconcile_namespace=forced_access) == 1
    assert _operator_warnings(caplog) == []


def test_a_users_service_with_the_per_name_childs_name_is_left_alone_under_the_charts_rbac(
    envtest: EnvTest,
    envtest_namespace: str,
    operator: OperatorIdentity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin, ns = envtest.api, envtest_namespace
    name = service_object_name(NAME)
    users = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": "mine"}, "ports": [{"port": 80}]},
    }
    before = admin.request("POST", resource_path("v1", "Service", ns), body=users)
    _create_version(admin, ns, NAME, "1.0.0", main=True)
    reconciler = _reconciler(operator)

    reconciler.reconcile(ns, NAME)
    _mark_available(admin, ns, NAME, "1.0.0")
    reconciler.reconcile(ns, NAME)
    _reconciler(operator).reconcile(ns, NAME, force=True)

    assert admin.get("v1", "Service", ns, name) == before
    obj = _version(admin, ns, NAME, "1.0.0")
    assert _condition(obj, "Ready") == ("False", NOT_OWNED_REASON)
    assert NOT_OWNED_REASON in {e["reason"] for e in admin.list("v1", "Event", ns)}
    assert _operator_warnings(caplog) == []


def test_a_namespace_that_loses_the_shared_route_deletes_its_ingress_under_the_charts_rbac(
    envtest: EnvTest,
    envtest_namespaces: Callable[[str], str],
    operator: OperatorIdentity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Claims are read across namespaces; the later namespace's Ingress goes when it learns of
    the earlier claim ('team-a' deployed first, or in the same second and wins by name)."""
    admin = envtest.api
    team_a, team_b = envtest_namespaces("team-a"), envtest_namespaces("team-b")
    for ns in (team_a, team_b):
        _create_version(admin, ns, NAME, "1.0.0", main=True)
    reconciler = _reconciler(operator)
    ingress = ("networking.k8s.io/v1", "Ingress")

    reconciler.reconcile(team_b, NAME)
    assert admin.get(*ingress, team_b, service_object_name(NAME))
    reconciler.reconcile(team_a, NAME)
    reconciler.reconcile(team_b, NAME)

    assert admin.get(*ingress, team_a, service_object_name(NAME))
    assert admin.get(*ingress, team_b, service_object_name(NAME)) is None
    obj = _version(admin, team_b, NAME, "1.0.0")
    assert _condition(obj, "Routed") == ("False", ROUTE_HELD_REASON)
    assert _operator_warnings(caplog) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", lambda ns: f"/api/v1/namespaces/{ns}/secrets"),
        ("GET", lambda ns: "/api/v1/secrets"),
        ("GET", lambda ns: f"/api/v1/namespaces/{ns}/configmaps"),
        ("DELETE", lambda ns: resource_path("apps/v1", "Deployment", ns, "x")),
        ("PUT", lambda ns: resource_path("apps/v1", "Deployment", ns, "x")),
        ("DELETE", lambda ns: resource_path("v1", "Service", ns, "x")),
        ("DELETE", lambda ns: resource_path("v1", "ServiceAccount", ns, "x")),
        ("DELETE", lambda ns: resource_path(API_GROUP_VERSION, KIND, ns, "x")),
        ("PATCH", lambda ns: resource_path("v1", "Namespace", None, ns)),
        ("POST", lambda ns: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
    ],
    ids=[
        "read-secrets",
        "list-secrets-everywhere",
        "read-configmaps",
        "delete-deployment",
        "update-deployment",
        "delete-service",
        "delete-serviceaccount",
        "delete-user-resource",
        "patch-namespace",
        "create-clusterrolebinding",
    ],
)
def test_the_operator_is_refused_what_the_chart_does_not_grant(
    envtest_namespace: str, operator: OperatorIdentity, method: str, path: Callable[[str], str]
) -> None:
    """Refused by the authorizer (403 naming the ServiceAccount), whether or not the object
    exists: the garbage collector deletes children, users delete their own resources."""
    with pytest.raises(ApiError) as refused:
        operator.api.request(method, path(envtest_namespace))
    assert refused.value.status == 403
    assert f'User "{operator.user}" cannot' in str(refused.value)
