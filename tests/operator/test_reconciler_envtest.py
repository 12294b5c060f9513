"""A whole reconcile against a real kube-apiserver (envtest): what gets applied, routed, reported.

No node and no controller-manager run, so:

- Deployments never become available by themselves: ``_mark_available`` writes their status as
  the Deployment controller would, and ``_start_pod`` makes a pod as the ReplicaSet controller
  and the kubelet would;
- nothing is garbage-collected: ``_collect_garbage`` deletes dependents as the collector would;
- creationTimestamps have one-second resolution: a test whose outcome depends on which object
  came first waits ``_next_second`` between the creates.

Each test works in a fresh namespace. The one stand-in left is ``_FailingApplies``: a transient
server failure, which a real API server cannot be made to answer on demand.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from dsvc_objects import T0
from envtest import EnvTest
from kubernetes import client, config

from daeploy.contract import (
    API_GROUP_VERSION,
    CHILD_REFUSED_REASON,
    DUPLICATE_VERSION_REASON,
    EVENTS_ROLE,
    FIELD_MANAGER,
    HOST_ANNOTATION,
    KIND,
    NAMESPACE_DOMAIN_ENV,
    NOT_OWNED_REASON,
    RECONCILE_FAILED_REASON,
    ROUTE_HELD_REASON,
    SERVICE_NAME_ENV,
    TRAEFIK_API_VERSION,
    TRAFFIC_ANNOTATION,
    TRAFFIC_ROUTES_ENV,
    VERSION_LABEL,
)
from daeploy.names import (
    service_account_name,
    service_object_name,
    service_path,
    version_object_name,
    version_path,
)
from daeploy_operator.api import ApiError, ApiServer
from daeploy_operator.applied import AppliedRecord, child_key
from daeploy_operator.apply import APPLY_PATCH
from daeploy_operator.indexes import snapshot
from daeploy_operator.kinds import KINDS, resource_path
from daeploy_operator.reconciler import Reconciler
from daeploy_operator.resources.traffic import mirror_name, split_name
from daeploy_operator.settings import OperatorSettings
from daeploy_operator.status import Event

MERGE_PATCH = "application/merge-patch+json"
# creationTimestamps are whole seconds: wait this long for a later create to be seen as later.
CREATION_TICK = 1.1


class Clock:
    """A second later at each reading, from T0: status times a test can spell out."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _reconciler(
    api: ApiServer,
    *,
    cluster: ApiServer | None = None,
    clock: Callable[[], datetime] | None = None,
    **env: str,
) -> tuple[Reconciler, list[tuple[str, Event]]]:
    """The Reconciler as tools build it: reads list through ``api``, writes go to ``cluster``
    (``api`` unless a test wraps it), Events are kept in the returned list."""
    events: list[tuple[str, Event]] = []
    reconciler = Reconciler(
        cluster or api,
        lambda: snapshot(api),
        OperatorSettings.from_env(env),
        post_event=lambda ref, ev: events.append((ref["metadata"]["name"], ev)),
        **({"clock": clock} if clock else {}),
    )
    return reconciler, events


def _create_version(
    api: ApiServer,
    ns: str,
    name: str,
    version: str,
    *,
    resource_name: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """POST a DaeployService as the CLI would; the server fills in the CRD's defaults."""
    body = {"name": name, "version": version, **spec}
    if "image" not in body and "source" not in body:
        body["image"] = f"localhost/{name.replace('_', '-')}:{version}"
    manifest = {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": {"name": resource_name or version_object_name(name, version), "namespace": ns},
        "spec": body,
    }
    return api.request("POST", resource_path(API_GROUP_VERSION, KIND, ns), body=manifest) or {}


def _next_second() -> None:
    """Make the next create's creationTimestamp (whole seconds) later than the last one's."""
    time.sleep(CREATION_TICK)


def _version(api: ApiServer, ns: str, name: str, version: str) -> dict[str, Any]:
    obj = api.get(API_GROUP_VERSION, KIND, ns, version_object_name(name, version))
    assert obj is not None
    return obj


def _set_main(api: ApiServer, ns: str, name: str, version: str, main: bool) -> None:
    """Claim or give up main as the CLI does: a change of the version's spec.main."""
    path = resource_path(API_GROUP_VERSION, KIND, ns, version_object_name(name, version))
    api.request("PATCH", path, body={"spec": {"main": main}}, content_type=MERGE_PATCH)


def _condition(obj: dict[str, Any], kind: str) -> tuple[str, str]:
    [cond] = [c for c in obj["status"]["conditions"] if c["type"] == kind]
    return cond["status"], cond["reason"]


def _message(obj: dict[str, Any], kind: str) -> str:
    [cond] = [c for c in obj["status"]["conditions"] if c["type"] == kind]
    return str(cond["message"])


def _mark_available(api: ApiServer, ns: str, name: str, version: str, replicas: int = 1) -> None:
    """What the Deployment controller reports once every pod runs the current spec.

    The real server validates a Deployment's status too: availableReplicas may not exceed
    readyReplicas, so this says readyReplicas as well.
    """
    path = resource_path("apps/v1", "Deployment", ns, version_object_name(name, version))
    deployment = api.request("GET", path) or {}
    status = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    }
    api.request("PATCH", f"{path}/status", body={"status": status}, content_type=MERGE_PATCH)


def _start_pod(api: ApiServer, ns: str, name: str, version: str, state: dict[str, Any]) -> None:
    """A pod of the version's Deployment as the ReplicaSet controller would create it, its
    containers in ``state`` as the kubelet would report them."""
    deployment = api.get("apps/v1", "Deployment", ns, version_object_name(name, version))
    assert deployment is not None
    template = deployment["spec"]["template"]
    pod_name = f"{deployment['metadata']['name']}-abc12"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod_name, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }
    api.request("POST", resource_path("v1", "Pod", ns), body=pod)
    containers = [
        {
            "name": c["name"],
            "image": c["image"],
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "state": state,
        }
        for c in template["spec"]["containers"]
    ]
    api.request(
        "PATCH",
        resource_path("v1", "Pod", ns, pod_name, "status"),
        body={"status": {"containerStatuses": containers}},
        content_type=MERGE_PATCH,
    )


def _objects(api: ApiServer, ns: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of the kinds the operator touches in ``ns`` but Events, by (kind, name)."""
    found = {}
    for (api_version, kind), (_, namespaced) in KINDS.items():
        # Events are the API server's too (e.g. its ClusterIP allocator's, under load): not
        # children; the reconciler's own Events go to the test's list.
        if namespaced and kind != "Event":
            for obj in api.list(api_version, kind, ns):
                found[(kind, obj["metadata"]["name"])] = obj
    return found


def _api_kind(kind: str) -> tuple[str, str]:
    [key] = [key for key in KINDS if key[1] == kind]
    return key


def _collect_garbage(api: ApiServer, ns: str) -> None:
    """What the garbage collector (which does not run here) does in ``ns``: delete every object
    whose owners are all gone, until none is left.

    The collector would also drop references to gone owners from objects that keep another;
    the operator's next apply of those objects drops them too, so this leaves them.
    """
    while True:
        objects = _objects(api, ns)
        uids = {obj["metadata"]["uid"] for obj in objects.values()}
        doomed = [
            key
            for key, obj in objects.items()
            if obj["metadata"].get("ownerReferences")
            and not any(ref["uid"] in uids for ref in obj["metadata"]["ownerReferences"])
        ]
        if not doomed:
            return
        for kind, name in doomed:
            api.delete(*_api_kind(kind), ns, name)


def _resource_versions(api: ApiServer, ns: str) -> dict[tuple[str, str], str]:
    return {key: obj["metadata"]["resourceVersion"] for key, obj in _objects(api, ns).items()}


def _recorded_writes(api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, ``METHOD path`` of every request to ``api`` but GETs, in order."""
    writes: list[str] = []
    send = api.request

    def recording(method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
        if method != "GET":
            writes.append(f"{method} {path}")
        return send(method, path, **kwargs)

    monkeypatch.setattr(api, "request", recording)
    return writes


def _child_applies(writes: list[str]) -> list[str]:
    """The server-side applies of children among ``writes`` (a status is applied as well)."""
    return [w for w in writes if w.startswith("PATCH ") and not w.endswith("/status")]


def _applied_by_operator(obj: dict[str, Any], subresource: str = "") -> bool:
    """True when the operator's field manager wrote ``obj`` (or its subresource) by apply."""
    return any(
        entry["manager"] == FIELD_MANAGER
        and entry["operation"] == "Apply"
        and entry.get("subresource", "") == subresource
        for entry in obj["metadata"].get("managedFields") or []
    )


def _selector(api: ApiServer, ns: str, name: str) -> dict[str, str] | None:
    """The selector of the per-name Service, which says which version is main."""
    service = api.get("v1", "Service", ns, service_object_name(name))
    return None if service is None else service["spec"].get("selector")


def _selected(api: ApiServer, ns: str, name: str) -> str | None:
    return ((_selector(api, ns, name) or {}).get(VERSION_LABEL)) or None


def _ingress_paths(api: ApiServer, ns: str, name: str) -> list[str] | None:
    ingress = api.get("networking.k8s.io/v1", "Ingress", ns, service_object_name(name))
    if ingress is None:
        return None
    return sorted(p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"])


def _ingress_hosts(api: ApiServer, ns: str, name: str) -> set[str] | None:
    ingress = api.get("networking.k8s.io/v1", "Ingress", ns, service_object_name(name))
    return None if ingress is None else {r.get("host", "") for r in ingress["spec"]["rules"]}


def _users_service(api: ApiServer, ns: str, name: str) -> dict[str, Any]:
    """A Service a user made by hand, not owned by any DaeployService."""
    users = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": "mine"}, "ports": [{"port": 80}]},
    }
    return api.request("POST", resource_path("v1", "Service", ns), body=users) or {}


class _FailingApplies(ApiServer):
    """The real API server, but applies of ``kind`` fail with HTTP 500 while ``failing``.

    A stand-in for the one failure a real API server cannot be made to answer on demand: a
    transient error of the server itself (here etcd timing out), not a refusal of the spec.
    """

    def __init__(self, api_client: client.ApiClient, kind: str) -> None:
        super().__init__(api_client)
        self.kind = kind
        self.failing = False

    def apply(self, manifest: Any) -> dict[str, Any]:
        if self.failing and manifest["kind"] == self.kind:
            raise ApiError(500, "etcdserver: request timed out")
        return super().apply(manifest)


@pytest.fixture
def admin_client(envtest: EnvTest) -> Iterator[client.ApiClient]:
    """A second admin client of envtest, for an ApiServer a test wraps."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(envtest.kubeconfig), client_configuration=configuration)
    configuration.proxy = None  # loopback only, as envtest.connect does
    with client.ApiClient(configuration) as api_client:
        yield api_client


# --- applying and reporting --------------------------------------------------------------------


def test_first_version_gets_every_child_by_server_side_apply_and_is_ready_once_available(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    owner = _create_version(api, ns, "die_roller", "1.0.0", main=True)
    reconciler, events = _reconciler(api, clock=Clock())

    reconciler.reconcile(ns, "die_roller")
    v1 = version_object_name("die_roller", "1.0.0")
    objects = _objects(api, ns)
    children = {
        ("Deployment", v1),
        ("Service", v1),
        ("Service", service_object_name("die_roller")),
        ("Ingress", service_object_name("die_roller")),
        ("ServiceAccount", service_account_name("die_roller")),
        ("Role", EVENTS_ROLE),
        ("RoleBinding", EVENTS_ROLE),
    }
    assert set(objects) == children | {(KIND, v1)}
    for key in children:
        assert _applied_by_operator(objects[key]), key
        owners = [ref["uid"] for ref in objects[key]["metadata"]["ownerReferences"]]
        assert owners == [owner["metadata"]["uid"]], key
    # The server allocated what the builders leave to it.
    assert objects[("Service", v1)]["spec"]["clusterIP"].startswith("10.0.0.")
    assert _ingress_paths(api, ns, "die_roller") == [
        service_path("die_roller"),
        version_path("die_roller", "1.0.0"),
    ]

    obj = _version(api, ns, "die_roller", "1.0.0")
    assert _applied_by_operator(obj, "status")
    assert obj["metadata"]["generation"] == 1  # a status write is no spec change
    assert _condition(obj, "Ready") == ("False", "Deploying")
    assert obj["status"]["phase"] == "pending"

    reconciler.reconcile(ns, "die_roller")
    assert _condition(_version(api, ns, "die_roller", "1.0.0"), "Ready") == ("False", "Deploying")

    _mark_available(api, ns, "die_roller", "1.0.0")
    reconciler.reconcile(ns, "die_roller")
    obj = _version(api, ns, "die_roller", "1.0.0")
    assert _condition(obj, "Ready") == ("True", "Ready")
    assert obj["status"]["mainMark"] == "*"
    assert obj["status"]["availableReplicas"] == 1
    assert obj["status"]["serviceUrl"] == service_path("die_roller")
    assert obj["status"]["running"].startswith("Running (since 2024-05-01 12:00:0")
    assert _selected(api, ns, "die_roller") == "1.0.0"
    assert "MinimumReplicasAvailable" in [e.reason for _, e in events]


def test_an_unchanged_second_reconcile_writes_nothing(
    envtest: EnvTest, envtest_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same reconciler sends no write at all (no status either) and posts no Event; a
    restarted one (which knows nothing it applied) sends its applies, and the server stores
    nothing new, as apply.py says."""
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    _create_version(api, ns, "die_roller", "2.0.0")
    reconciler, first_events = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    for version in ("1.0.0", "2.0.0"):
        _mark_available(api, ns, "die_roller", version)
    reconciler.reconcile(ns, "die_roller")
    before = _resource_versions(api, ns)
    assert len(before) == 11  # 2 of: DaeployService, Deployment, Service; 5 shared children
    seen = len(first_events)

    writes = _recorded_writes(api, monkeypatch)
    reconciler.reconcile(ns, "die_roller")
    assert writes == []
    assert _resource_versions(api, ns) == before
    assert len(first_events) == seen

    restarted, events = _reconciler(api)
    restarted.reconcile(ns, "die_roller")
    restarted.reconcile(ns, "die_roller", force=True)
    restarted.reconcile_namespace_access(ns, force=True)
    # A restarted operator applies each of the 9 children once (no-ops, so nothing changes);
    # the forced pass (the resync) re-applies only the 3 unwatched namespace children, as the
    # watched ones did not drift from that apply. No status write.
    children = [key for key in before if key[0] != KIND]
    assert sorted(set(writes)) == sorted(
        f"PATCH {resource_path(*_api_kind(kind), ns, name)}" for kind, name in children
    )
    assert len(writes) == len(children) + 3 == 12
    assert _resource_versions(api, ns) == before
    assert events == []


def test_an_unchanged_name_is_not_applied_again(
    envtest: EnvTest, envtest_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, ns = envtest.api, envtest_namespace
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        _create_version(api, ns, "die_roller", version, main=version == "1.0.0")
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    writes = _recorded_writes(api, monkeypatch)
    reconciler.reconcile(ns, "die_roller")
    assert _child_applies(writes) == []

    _create_version(api, ns, "die_roller", "4.0.0")
    writes.clear()
    reconciler.reconcile(ns, "die_roller")
    # Only the new version's Deployment and Service, and the per-name children that gain it as
    # an owner: the Service, the Ingress and the name's ServiceAccount.
    v4 = version_object_name("die_roller", "4.0.0")
    per_name = service_object_name("die_roller")
    assert sorted(_child_applies(writes)) == sorted(
        f"PATCH {resource_path(api_version, kind, ns, name)}"
        for api_version, kind, name in [
            ("apps/v1", "Deployment", v4),
            ("v1", "Service", v4),
            ("v1", "Service", per_name),
            ("networking.k8s.io/v1", "Ingress", per_name),
            ("v1", "ServiceAccount", service_account_name("die_roller")),
        ]
    )


# --- which version is main ---------------------------------------------------------------------


def test_new_main_takes_the_route_only_once_available(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    """Claims are ordered by the reconciler's clock (microseconds), not by creationTimestamps."""
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    reconciler, events = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    _mark_available(api, ns, "die_roller", "1.0.0")
    reconciler.reconcile(ns, "die_roller")

    _create_version(api, ns, "die_roller", "2.0.0", main=True)
    reconciler.reconcile(ns, "die_roller")
    assert _selected(api, ns, "die_roller") == "1.0.0"
    assert _condition(_version(api, ns, "die_roller", "2.0.0"), "Routed") == (
        "False",
        "MainPendingAvailability",
    )
    assert _version(api, ns, "die_roller", "1.0.0")["status"]["mainMark"] == "*"

    _mark_available(api, ns, "die_roller", "2.0.0")
    reconciler.reconcile(ns, "die_roller")
    assert _selected(api, ns, "die_roller") == "2.0.0"
    v2 = _version(api, ns, "die_roller", "2.0.0")
    v1 = _version(api, ns, "die_roller", "1.0.0")
    assert _condition(v2, "Ready") == ("True", "Ready")
    assert v2["status"]["mainMark"] == "*"
    assert v1["status"]["mainMark"] == ""
    assert _condition(v1, "Routed") == ("True", "MainClaimSuperseded")
    assert _ingress_paths(api, ns, "die_roller") == [
        service_path("die_roller"),
        version_path("die_roller", "1.0.0"),
        version_path("die_roller", "2.0.0"),
    ]
    assert (version_object_name("die_roller", "2.0.0"), "MainVersion") in [
        (name, e.reason) for name, e in events
    ]

    # Switching back: 2.0.0 gives up its claim; 1.0.0 (available) serves again at once.
    _set_main(api, ns, "die_roller", "2.0.0", False)
    reconciler.reconcile(ns, "die_roller")
    assert _selected(api, ns, "die_roller") == "1.0.0"
    assert "mainClaimedAt" not in _version(api, ns, "die_roller", "2.0.0")["status"]


def test_a_new_main_that_never_comes_up_leaves_the_old_one_serving(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    _mark_available(api, ns, "die_roller", "1.0.0")
    reconciler.reconcile(ns, "die_roller")
    # The old main gives up its claim as the CLI does; the new one cannot pull its image.
    _set_main(api, ns, "die_roller", "1.0.0", False)
    _create_version(api, ns, "die_roller", "2.0.0", main=True, image="nowhere/x:1")
    reconciler.reconcile(ns, "die_roller")
    waiting = {"reason": "ErrImageNeverPull", "message": "never"}
    _start_pod(api, ns, "die_roller", "2.0.0", {"waiting": waiting})
    for _ in range(3):
        reconciler.reconcile(ns, "die_roller")
    assert _selected(api, ns, "die_roller") == "1.0.0"
    v2 = _version(api, ns, "die_roller", "2.0.0")
    assert _condition(v2, "Available") == ("False", "ErrImageNeverPull")
    assert "nowhere/x:1" in _message(v2, "Available")
    assert v2["status"]["phase"] == "failed"


def test_with_no_claim_the_first_version_deployed_is_main(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    """The one default for every client (kubectl, helm, the CLI), as in Daeploy 1.x."""
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=False)
    _next_second()
    _create_version(api, ns, "die_roller", "2.0.0", main=False)
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    for version in ("1.0.0", "2.0.0"):
        _mark_available(api, ns, "die_roller", version)
    reconciler.reconcile(ns, "die_roller")
    assert _ingress_paths(api, ns, "die_roller") == [
        service_path("die_roller"),
        version_path("die_roller", "1.0.0"),
        version_path("die_roller", "2.0.0"),
    ]
    assert _selected(api, ns, "die_roller") == "1.0.0"
    assert _version(api, ns, "die_roller", "1.0.0")["status"]["mainMark"] == "*"
    assert _version(api, ns, "die_roller", "2.0.0")["status"]["mainMark"] == ""


def test_duplicate_version_objects(envtest: EnvTest, envtest_namespace: str) -> None:
    """Two objects deploy the same name and version: the older keeps the children."""
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    _next_second()
    _create_version(api, ns, "die_roller", "1.0.0", main=True, resource_name="my-copy")
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    copy_obj = api.get(API_GROUP_VERSION, KIND, ns, "my-copy")
    assert copy_obj is not None
    assert _condition(copy_obj, "Ready") == ("False", DUPLICATE_VERSION_REASON)
    deployments = api.list("apps/v1", "Deployment", ns)
    assert [d["metadata"]["ownerReferences"][0]["name"] for d in deployments] == [
        version_object_name("die_roller", "1.0.0")
    ]


# --- what is not ours, and what fails ----------------------------------------------------------


def test_a_users_service_with_the_per_name_childs_name_is_left_byte_identical(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    """Knative's IsControlledBy: never take over (nor later garbage-collect) what is not ours."""
    api, ns = envtest.api, envtest_namespace
    name = service_object_name("die_roller")
    before = _users_service(api, ns, name)
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    reconciler, events = _reconciler(api)

    reconciler.reconcile(ns, "die_roller")
    _mark_available(api, ns, "die_roller", "1.0.0")
    reconciler.reconcile(ns, "die_roller")

    after = api.get("v1", "Service", ns, name)
    assert after == before
    assert "ownerReferences" not in after["metadata"]
    obj = _version(api, ns, "die_roller", "1.0.0")
    assert _condition(obj, "Routed") == ("False", NOT_OWNED_REASON)
    assert f"Service {name!r} already exists" in _message(obj, "Routed")
    assert _condition(obj, "Ready") == ("False", NOT_OWNED_REASON)
    # The version's own children are ours and fine.
    assert _condition(obj, "Available") == ("True", "MinimumReplicasAvailable")
    assert ("Warning", NOT_OWNED_REASON) in [(e.type, e.reason) for _, e in events]


def test_a_users_object_with_a_versions_child_name_keeps_that_version_unavailable(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    name = version_object_name("die_roller", "1.0.0")
    before = _users_service(api, ns, name)
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    assert api.get("v1", "Service", ns, name) == before
    obj = _version(api, ns, "die_roller", "1.0.0")
    assert _condition(obj, "Available") == ("False", NOT_OWNED_REASON)
    assert obj["status"]["phase"] == "failed"


def test_a_deployment_the_server_refuses_is_reported_not_retried(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    """The CRD accepts any resource name; the Deployment's own validation does not."""
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True, resources={"limits": {"gpus": "1"}})
    _create_version(api, ns, "die_roller", "2.0.0")
    reconciler, events = _reconciler(api)

    reconciler.reconcile(ns, "die_roller")
    obj = _version(api, ns, "die_roller", "1.0.0")
    assert _condition(obj, "Available") == ("False", CHILD_REFUSED_REASON)
    assert "limits[gpus]" in _message(obj, "Available")
    assert obj["status"]["phase"] == "failed"
    assert api.get("apps/v1", "Deployment", ns, version_object_name("die_roller", "1.0.0")) is None
    # The other version is unaffected.
    assert api.get("apps/v1", "Deployment", ns, version_object_name("die_roller", "2.0.0"))
    assert ("Warning", CHILD_REFUSED_REASON) in [(e.type, e.reason) for _, e in events]


def test_a_failed_reconcile_is_said_on_the_status_and_retried(
    envtest: EnvTest, envtest_namespace: str, admin_client: client.ApiClient
) -> None:
    """A failure the API server answers (not a refusal of the spec) shows as Ready=False with
    the server's message, not only in the operator's log; the error still reaches the runner.

    A real server cannot be made to fail on demand: ``_FailingApplies`` fails the Ingress's
    apply with HTTP 500 (the only stand-in in these tests); everything else is real.
    """
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    failing = _FailingApplies(admin_client, "Ingress")
    reconciler, _ = _reconciler(api, cluster=failing)
    reconciler.reconcile(ns, "die_roller")
    _mark_available(api, ns, "die_roller", "1.0.0")

    failing.failing = True
    reconciler.applied = AppliedRecord()  # forget what was applied: apply again
    with pytest.raises(ApiError) as failed:
        reconciler.reconcile(ns, "die_roller")
    assert failed.value.status == 500
    obj = _version(api, ns, "die_roller", "1.0.0")
    assert _condition(obj, "Ready") == ("False", RECONCILE_FAILED_REASON)
    assert "etcdserver: request timed out" in _message(obj, "Ready")

    failing.failing = False
    reconciler.reconcile(ns, "die_roller")
    assert _condition(_version(api, ns, "die_roller", "1.0.0"), "Ready") == ("True", "Ready")


# --- healing -----------------------------------------------------------------------------------


def test_a_hand_edit_conflicts_with_the_operator_and_is_taken_back(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    """409s: an apply by another manager over our fields, and a write with a stale
    resourceVersion. The watch event of the hand edit makes the next reconcile apply again."""
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    name = version_object_name("die_roller", "1.0.0")
    path = resource_path("apps/v1", "Deployment", ns, name)
    edit = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 3}}  # fmt: skip

    def apply_by_hand(force: bool) -> dict[str, Any]:
        query = {"fieldManager": "by-hand", "force": str(force).lower()}
        return api.request("PATCH", path, query=query, body=edit, content_type=APPLY_PATCH) or {}

    with pytest.raises(ApiError) as conflict:
        apply_by_hand(force=False)
    assert conflict.value.status == 409
    assert FIELD_MANAGER in str(conflict.value)
    edited = apply_by_hand(force=True)
    assert edited["spec"]["replicas"] == 3

    stale = api.request("GET", path) or {}
    api.request("PATCH", path, body={"metadata": {"labels": {"x": "y"}}}, content_type=MERGE_PATCH)
    with pytest.raises(ApiError) as outdated:
        api.request("PUT", path, body=stale)
    assert outdated.value.status == 409

    current = api.request("GET", path) or {}
    key = child_key("apps/v1", "Deployment", ns, name)
    assert reconciler.applied.observe(key, current["metadata"]["resourceVersion"])
    reconciler.reconcile(ns, "die_roller")
    healed = api.request("GET", path) or {}
    assert healed["spec"]["replicas"] == 1
    assert healed["metadata"]["generation"] == current["metadata"]["generation"] + 1


WatchEvent = tuple[tuple[str, str, str, str], str | None, int | None, bool]


def _hand_edit(api: ApiServer, ns: str) -> list[WatchEvent]:
    """Delete the Deployment and the Ingress and repoint the per-name Service behind the
    operator's back; what the child watch reports of it, as handlers.on_child_event reads it:
    (key, resourceVersion, generation, deleted)."""
    events: list[WatchEvent] = []
    v1, per_name = version_object_name("die_roller", "1.0.0"), service_object_name("die_roller")
    for api_version, kind, name in [
        ("apps/v1", "Deployment", v1),
        ("networking.k8s.io/v1", "Ingress", per_name),
    ]:
        gone = api.request("DELETE", resource_path(api_version, kind, ns, name)) or {}
        meta = gone.get("metadata") or {}
        events.append(
            (child_key(api_version, kind, ns, name), meta.get("resourceVersion"), None, True)
        )
    edited = api.request(
        "PATCH",
        resource_path("v1", "Service", ns, per_name),
        body={"spec": {"selector": {VERSION_LABEL: "hand-picked"}}},
        content_type=MERGE_PATCH,
    )
    assert edited is not None
    meta = edited["metadata"]
    key = child_key("v1", "Service", ns, per_name)
    events.append((key, meta["resourceVersion"], meta.get("generation"), False))
    return events


def _restored(api: ApiServer, ns: str, selector: dict[str, str] | None) -> bool:
    v1 = version_object_name("die_roller", "1.0.0")
    return (
        api.get("apps/v1", "Deployment", ns, v1) is not None
        and _ingress_paths(api, ns, "die_roller") is not None
        and _selector(api, ns, "die_roller") == selector
    )


def test_hand_deleted_and_edited_children_come_back_on_their_events(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    selector = _selector(api, ns, "die_roller")
    assert selector is not None
    assert selector[VERSION_LABEL] == "1.0.0"
    for key, resource_version, generation, deleted in _hand_edit(api, ns):
        # A change the operator did not make: the next reconcile applies that child again.
        assert reconciler.applied.observe(
            key, resource_version, deleted=deleted, generation=generation
        )
    reconciler.reconcile(ns, "die_roller")
    assert _restored(api, ns, selector)


def test_the_forced_resync_restores_children_whose_events_were_missed(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    selector = _selector(api, ns, "die_roller")
    _hand_edit(api, ns)
    reconciler.reconcile(ns, "die_roller")
    assert not _restored(api, ns, selector)  # without events, unchanged manifests are skipped
    reconciler.reconcile(ns, "die_roller", force=True)
    assert _restored(api, ns, selector)


# --- versions going away -----------------------------------------------------------------------


def test_deleting_every_version_leaves_nothing_behind(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    """Every child is owned by the versions it serves: with them gone (and the garbage
    collector's work done by ``_collect_garbage``), nothing is left and nothing comes back."""
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    _create_version(api, ns, "die_roller", "2.0.0")
    _create_version(api, ns, "yatzee", "1.0.0", main=True)
    reconciler, _ = _reconciler(api)
    for name in ("die_roller", "yatzee"):
        reconciler.reconcile(ns, name)

    api.delete(API_GROUP_VERSION, KIND, ns, version_object_name("die_roller", "2.0.0"))
    _collect_garbage(api, ns)
    assert api.get("apps/v1", "Deployment", ns, version_object_name("die_roller", "2.0.0")) is None
    reconciler.reconcile(ns, "die_roller")
    assert _ingress_paths(api, ns, "die_roller") == [
        service_path("die_roller"),
        version_path("die_roller", "1.0.0"),
    ]

    for obj in api.list(API_GROUP_VERSION, KIND, ns):
        api.delete(API_GROUP_VERSION, KIND, ns, obj["metadata"]["name"])
    _collect_garbage(api, ns)
    reconciler.reconcile(ns, "die_roller")
    assert _objects(api, ns) == {}


def test_objects_being_deleted_are_left_out(envtest: EnvTest, envtest_namespace: str) -> None:
    """A finalizer (nobody's, here) keeps the deleted 2.0.0 with a deletionTimestamp."""
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    going = _create_version(api, ns, "die_roller", "2.0.0", main=True)
    path = resource_path(API_GROUP_VERSION, KIND, ns, going["metadata"]["name"])
    hold = {"metadata": {"finalizers": ["example.com/hold"]}}
    api.request("PATCH", path, body=hold, content_type=MERGE_PATCH)
    api.request("DELETE", path)
    try:
        assert (api.request("GET", path) or {})["metadata"]["deletionTimestamp"]
        reconciler, _ = _reconciler(api)
        reconciler.reconcile(ns, "die_roller")
        assert _ingress_paths(api, ns, "die_roller") == [
            service_path("die_roller"),
            version_path("die_roller", "1.0.0"),
        ]
        assert _selected(api, ns, "die_roller") == "1.0.0"
        assert api.get("apps/v1", "Deployment", ns, going["metadata"]["name"]) is None
    finally:
        release = {"metadata": {"finalizers": None}}
        api.request("PATCH", path, body=release, content_type=MERGE_PATCH)


# --- the CRD, as the server enforces it ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        ({"name": "Die-Roller"}, "spec.name", "should match"),
        ({"name": "a" * 41}, "spec.name", "may not be more than 40"),
        ({"version": "1.0"}, "spec.version", "should match"),
        ({"source": {"configMap": "src"}}, "spec", "set exactly one of spec.image"),
        ({"image": None}, "spec", "set exactly one of spec.image"),
        ({"env": [{"name": SERVICE_NAME_ENV, "value": "x"}]}, "spec.env[0].name", "reserved"),
        ({"port": 0}, "spec.port", "should be greater than or equal to 1"),
    ],
    ids=["name-pattern", "name-length", "version", "image-and-source", "neither", "env", "port"],
)
def test_the_crd_refuses_an_invalid_version_naming_the_field(
    envtest: EnvTest, envtest_namespace: str, spec: dict[str, Any], field: str, says: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    body = {"name": "die_roller", "version": "1.0.0", "image": "localhost/die-roller:1.0.0"}
    body.update(spec)
    body = {k: v for k, v in body.items() if v is not None}
    manifest = {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": {"name": "refused", "namespace": ns},
        "spec": body,
    }
    with pytest.raises(ApiError) as refused:
        api.request("POST", resource_path(API_GROUP_VERSION, KIND, ns), body=manifest)
    assert refused.value.status == 422
    assert f"{field}: " in str(refused.value)
    assert says in str(refused.value)
    assert api.list(API_GROUP_VERSION, KIND, ns) == []


@pytest.mark.parametrize(
    ("field", "value"), [("name", "other_name"), ("version", "2.0.0")], ids=["name", "version"]
)
def test_the_crd_keeps_name_and_version_immutable(
    envtest: EnvTest, envtest_namespace: str, field: str, value: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    created = _create_version(api, ns, "die_roller", "1.0.0")
    path = resource_path(API_GROUP_VERSION, KIND, ns, created["metadata"]["name"])
    with pytest.raises(ApiError) as refused:
        api.request("PATCH", path, body={"spec": {field: value}}, content_type=MERGE_PATCH)
    assert refused.value.status == 422
    assert f"spec.{field}: Invalid value" in str(refused.value)
    assert f"spec.{field} is immutable" in str(refused.value)
    # Other fields still change.
    api.request("PATCH", path, body={"spec": {"replicas": 2}}, content_type=MERGE_PATCH)
    assert _version(api, ns, "die_roller", "1.0.0")["spec"]["replicas"] == 2


def test_field_selectors_pick_one_name_on_the_server(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    for name, version in [("die_roller", "1.0.0"), ("die_roller", "2.0.0"), ("coin", "1.0.0")]:
        _create_version(api, ns, name, version)

    def names(**fields: str) -> list[str]:
        found = api.list(API_GROUP_VERSION, KIND, ns, fields=fields)
        return sorted(obj["metadata"]["name"] for obj in found)

    assert names(**{"spec.name": "die_roller"}) == [
        version_object_name("die_roller", "1.0.0"),
        version_object_name("die_roller", "2.0.0"),
    ]
    assert names(**{"spec.name": "die_roller", "spec.version": "2.0.0"}) == [
        version_object_name("die_roller", "2.0.0")
    ]
    assert names(**{"spec.name": "dice"}) == []
    # Only the CRD's selectableFields filter: proof that the server, not the client, did.
    with pytest.raises(ApiError) as refused:
        names(**{"spec.image": "x"})
    assert refused.value.status == 400

    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    assert "status" not in _version(api, ns, "coin", "1.0.0")
    assert api.get("apps/v1", "Deployment", ns, version_object_name("coin", "1.0.0")) is None
    assert "status" in _version(api, ns, "die_roller", "2.0.0")


# --- one name in two namespaces ----------------------------------------------------------------


def test_same_name_in_two_namespaces_on_one_host(
    envtest: EnvTest, envtest_namespaces: Callable[[str], str]
) -> None:
    """The namespace that deployed the name first holds the shared host's routes; team-b
    deploys a second later (creationTimestamps are whole seconds)."""
    api = envtest.api
    team_a, team_b = envtest_namespaces("team-a"), envtest_namespaces("team-b")
    _create_version(api, team_a, "die_roller", "1.0.0", main=True)
    _next_second()
    _create_version(api, team_b, "die_roller", "1.0.0", main=True)
    reconciler, events = _reconciler(api)
    # The later namespace reconciles first: it takes the routes until the earlier one shows up.
    for ns in (team_b, team_a, team_b):
        reconciler.reconcile(ns, "die_roller")
    assert _ingress_paths(api, team_a, "die_roller") is not None
    assert _ingress_paths(api, team_b, "die_roller") is None
    obj_b = _version(api, team_b, "die_roller", "1.0.0")
    assert _condition(obj_b, "Routed") == ("False", ROUTE_HELD_REASON)
    assert f"{team_a!r}" in _message(obj_b, "Routed")
    assert "url" not in obj_b["status"]
    assert ("Warning", ROUTE_HELD_REASON) in [(e.type, e.reason) for _, e in events]

    # Its own host frees it.
    api.request(
        "PATCH",
        resource_path("v1", "Namespace", None, team_b),
        body={"metadata": {"annotations": {HOST_ANNOTATION: "b.example.com"}}},
        content_type=MERGE_PATCH,
    )
    reconciler.reconcile(team_b, "die_roller")
    assert _ingress_paths(api, team_b, "die_roller") is not None
    obj_b = _version(api, team_b, "die_roller", "1.0.0")
    assert obj_b["status"]["url"] == "http://b.example.com" + version_path("die_roller", "1.0.0")


def test_same_name_in_two_namespaces_is_ready_in_both_with_a_namespace_domain(
    envtest: EnvTest, envtest_namespaces: Callable[[str], str]
) -> None:
    """No hand-made host: each namespace answers on its own host; the first also on the shared
    one, and the second takes the shared one over when the first goes. team-b deploys a second
    later (creationTimestamps are whole seconds), so its claim is the later one."""
    api = envtest.api
    team_a, team_b = envtest_namespaces("team-a"), envtest_namespaces("team-b")
    _create_version(api, team_a, "die_roller", "1.0.0", main=True)
    _next_second()
    _create_version(api, team_b, "die_roller", "1.0.0", main=True)
    reconciler, _ = _reconciler(api, **{NAMESPACE_DOMAIN_ENV: "daeploy.local"})
    for ns in (team_b, team_a):
        reconciler.reconcile(ns, "die_roller")
        _mark_available(api, ns, "die_roller", "1.0.0")
    for ns in (team_b, team_a, team_b):
        reconciler.reconcile(ns, "die_roller")

    assert _ingress_hosts(api, team_a, "die_roller") == {"", f"{team_a}.daeploy.local"}
    assert _ingress_hosts(api, team_b, "die_roller") == {f"{team_b}.daeploy.local"}
    status_a = _version(api, team_a, "die_roller", "1.0.0")
    status_b = _version(api, team_b, "die_roller", "1.0.0")
    assert _condition(status_a, "Ready") == ("True", "Ready")
    assert _condition(status_b, "Ready") == ("True", "Ready")
    assert status_a["status"]["serviceUrl"] == service_path("die_roller")
    assert status_b["status"]["serviceUrl"] == (
        f"http://{team_b}.daeploy.local{service_path('die_roller')}"
    )

    # team-a's version goes; the garbage collector's work is done by _collect_garbage.
    api.delete(API_GROUP_VERSION, KIND, team_a, version_object_name("die_roller", "1.0.0"))
    _collect_garbage(api, team_a)
    assert _ingress_hosts(api, team_a, "die_roller") is None
    reconciler.reconcile(team_b, "die_roller")
    assert _ingress_hosts(api, team_b, "die_roller") == {"", f"{team_b}.daeploy.local"}
    assert _version(api, team_b, "die_roller", "1.0.0")["status"]["serviceUrl"] == (
        service_path("die_roller")
    )


# --- traffic routes: weights and shadows ---------------------------------------------------------


def _traefik(api: ApiServer, kind: str, ns: str, name: str) -> dict[str, Any] | None:
    return api.get(TRAEFIK_API_VERSION, kind, ns, name)


def _patch_spec(api: ApiServer, ns: str, name: str, version: str, **spec: Any) -> None:
    path = resource_path(API_GROUP_VERSION, KIND, ns, version_object_name(name, version))
    api.request("PATCH", path, body={"spec": spec}, content_type=MERGE_PATCH)


def _traffic_column(api: ApiServer, ns: str, name: str, *versions: str) -> list[str]:
    return [_version(api, ns, name, v)["status"]["traffic"] for v in versions]


def test_traffic_routes_mirror_to_shadows_split_by_weight_and_clean_up(
    envtest: EnvTest, envtest_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, ns = envtest.api, envtest_namespace
    name = "die_roller"
    versions = ("1.0.0", "2.0.0", "3.0.0")
    _create_version(api, ns, name, "1.0.0", main=True)
    for version in versions[1:]:
        _create_version(api, ns, name, version)
    reconciler, _ = _reconciler(api, **{TRAFFIC_ROUTES_ENV: "traefik"})
    reconciler.reconcile(ns, name)
    # Nothing is Available yet: the main route goes to the main alone, no shadows.
    route = _traefik(api, "IngressRoute", ns, service_object_name(name))
    assert route is not None
    assert route["spec"]["routes"][0]["services"] == [
        {"name": version_object_name(name, "1.0.0"), "port": 80}
    ]
    # The Ingress keeps only the per-version paths.
    assert _ingress_paths(api, ns, name) == [version_path(name, v) for v in versions]

    for version in versions:
        _mark_available(api, ns, name, version)
    reconciler.reconcile(ns, name)
    route = _traefik(api, "IngressRoute", ns, service_object_name(name))
    assert route is not None
    assert route["spec"]["routes"][0]["services"] == [
        {"name": mirror_name(name), "kind": "TraefikService"}
    ]
    mirror = _traefik(api, "TraefikService", ns, mirror_name(name))
    assert mirror is not None
    assert [m["name"] for m in mirror["spec"]["mirroring"]["mirrors"]] == [
        version_object_name(name, "2.0.0"),
        version_object_name(name, "3.0.0"),
    ]
    assert _traefik(api, "TraefikService", ns, split_name(name)) is None
    assert _traffic_column(api, ns, name, *versions) == ["main 100%", "shadow", "shadow"]
    service = api.get("v1", "Service", ns, service_object_name(name))
    assert service is not None
    table = json.loads(service["metadata"]["annotations"][TRAFFIC_ANNOTATION])
    assert table == {"main": "1.0.0", "weights": {"1.0.0": 100}, "shadows": ["2.0.0", "3.0.0"]}

    # A canary: the split appears and the mirror now wraps it.
    _patch_spec(api, ns, name, "2.0.0", weight=10)
    reconciler.reconcile(ns, name)
    split = _traefik(api, "TraefikService", ns, split_name(name))
    assert split is not None
    assert [(s["name"], s["weight"]) for s in split["spec"]["weighted"]["services"]] == [
        (version_object_name(name, "1.0.0"), 90),
        (version_object_name(name, "2.0.0"), 10),
    ]
    mirror = _traefik(api, "TraefikService", ns, mirror_name(name))
    assert mirror is not None
    assert mirror["spec"]["mirroring"]["name"] == split_name(name)
    assert _traffic_column(api, ns, name, *versions) == ["main 90%", "canary 10%", "shadow"]
    assert _condition(_version(api, ns, name, "2.0.0"), "Routed") == ("True", "Canary")

    # Unchanged: no write at all, the Traefik objects included.
    writes = _recorded_writes(api, monkeypatch)
    reconciler.reconcile(ns, name)
    assert writes == []
    monkeypatch.undo()

    # No shadows and no canaries any more: both TraefikServices go, the route is plain again.
    _patch_spec(api, ns, name, "2.0.0", weight=0, shadow=False)
    _patch_spec(api, ns, name, "3.0.0", shadow=False)
    reconciler.reconcile(ns, name)
    route = _traefik(api, "IngressRoute", ns, service_object_name(name))
    assert route is not None
    assert route["spec"]["routes"][0]["services"] == [
        {"name": version_object_name(name, "1.0.0"), "port": 80}
    ]
    assert _traefik(api, "TraefikService", ns, split_name(name)) is None
    assert _traefik(api, "TraefikService", ns, mirror_name(name)) is None
    assert _traffic_column(api, ns, name, *versions) == ["main 100%", "", ""]


def test_a_canary_that_stops_being_available_loses_its_share_at_once(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    name = "die_roller"
    _create_version(api, ns, name, "1.0.0", main=True)
    _create_version(api, ns, name, "2.0.0", weight=50)
    reconciler, _ = _reconciler(api, **{TRAFFIC_ROUTES_ENV: "traefik"})
    reconciler.reconcile(ns, name)
    _mark_available(api, ns, name, "1.0.0")
    _mark_available(api, ns, name, "2.0.0")
    reconciler.reconcile(ns, name)
    assert _traffic_column(api, ns, name, "1.0.0", "2.0.0") == ["main 50%", "canary 50%"]

    _mark_available(api, ns, name, "2.0.0", replicas=0)
    reconciler.reconcile(ns, name)
    assert _traffic_column(api, ns, name, "1.0.0", "2.0.0") == ["main 100%", ""]
    route = _traefik(api, "IngressRoute", ns, service_object_name(name))
    assert route is not None
    assert route["spec"]["routes"][0]["services"] == [
        {"name": version_object_name(name, "1.0.0"), "port": 80}
    ]
    assert "applies once this version is Available" in _message(
        _version(api, ns, name, "2.0.0"), "Routed"
    )


def test_without_traffic_routes_the_ingress_keeps_the_main_path_and_nobody_shadows(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    name = "die_roller"
    _create_version(api, ns, name, "1.0.0", main=True)
    _create_version(api, ns, name, "2.0.0")
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, name)
    for version in ("1.0.0", "2.0.0"):
        _mark_available(api, ns, name, version)
    reconciler.reconcile(ns, name)
    assert service_path(name) in (_ingress_paths(api, ns, name) or [])
    assert _traefik(api, "IngressRoute", ns, service_object_name(name)) is None
    assert _traffic_column(api, ns, name, "1.0.0", "2.0.0") == ["main 100%", ""]
