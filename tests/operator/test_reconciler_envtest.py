"""The real Reconciler against a real kube-apiserver (envtest): what the in-memory fake assumes.

No node and no controller-manager run, so Deployments never become available by themselves
(``_mark_available`` writes their status as the Deployment controller would) and nothing is
garbage-collected. Each test works in a fresh namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from envtest import EnvTest

from daeploy.contract import (
    API_GROUP_VERSION,
    CHILD_REFUSED_REASON,
    EVENTS_ROLE,
    FIELD_MANAGER,
    KIND,
    NAMESPACE_DOMAIN_ENV,
    NOT_OWNED_REASON,
    SERVICE_ACCOUNT,
    SERVICE_NAME_ENV,
    VERSION_LABEL,
)
from daeploy.names import service_object_name, service_path, version_object_name, version_path
from daeploy_operator.api import ApiError, ApiServer
from daeploy_operator.applied import child_key
from daeploy_operator.apply import APPLY_PATCH
from daeploy_operator.kinds import KINDS, resource_path
from daeploy_operator.reconciler import Reconciler
from daeploy_operator.settings import OperatorSettings
from daeploy_operator.status import Event

MERGE_PATCH = "application/merge-patch+json"


def _reconciler(api: ApiServer, **env: str) -> tuple[Reconciler, list[tuple[str, Event]]]:
    events: list[tuple[str, Event]] = []
    reconciler = Reconciler(
        api,
        OperatorSettings.from_env(env),
        post_event=lambda ref, ev: events.append((ref["metadata"]["name"], ev)),
    )
    return reconciler, events


def _create_version(
    api: ApiServer, ns: str, name: str, version: str, **spec: Any
) -> dict[str, Any]:
    """POST a DaeployService as the CLI would; the server fills in the CRD's defaults."""
    body = {"name": name, "version": version, **spec}
    if "image" not in body and "source" not in body:
        body["image"] = f"localhost/{name.replace('_', '-')}:{version}"
    manifest = {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": {"name": version_object_name(name, version), "namespace": ns},
        "spec": body,
    }
    return api.request("POST", resource_path(API_GROUP_VERSION, KIND, ns), body=manifest) or {}


def _version(api: ApiServer, ns: str, name: str, version: str) -> dict[str, Any]:
    obj = api.get(API_GROUP_VERSION, KIND, ns, version_object_name(name, version))
    assert obj is not None
    return obj


def _condition(obj: dict[str, Any], kind: str) -> tuple[str, str]:
    [cond] = [c for c in obj["status"]["conditions"] if c["type"] == kind]
    return cond["status"], cond["reason"]


def _mark_available(api: ApiServer, ns: str, name: str, version: str, replicas: int = 1) -> None:
    """What the Deployment controller reports once every pod runs the current spec.

    The real server validates a Deployment's status too: availableReplicas may not exceed
    readyReplicas, so unlike the in-memory fake's set_available this also says readyReplicas.
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


def _objects(api: ApiServer, ns: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of the kinds the operator touches in ``ns``, by (kind, name)."""
    found = {}
    for (api_version, kind), (_, namespaced) in KINDS.items():
        if namespaced:
            for obj in api.list(api_version, kind, ns):
                found[(kind, obj["metadata"]["name"])] = obj
    return found


def _api_kind(kind: str) -> tuple[str, str]:
    [key] = [key for key in KINDS if key[1] == kind]
    return key


def _resource_versions(api: ApiServer, ns: str) -> dict[tuple[str, str], str]:
    return {key: obj["metadata"]["resourceVersion"] for key, obj in _objects(api, ns).items()}


def _applied_by_operator(obj: dict[str, Any], subresource: str = "") -> bool:
    """True when the operator's field manager wrote ``obj`` (or its subresource) by apply."""
    return any(
        entry["manager"] == FIELD_MANAGER
        and entry["operation"] == "Apply"
        and entry.get("subresource", "") == subresource
        for entry in obj["metadata"].get("managedFields") or []
    )


def _ingress_hosts(api: ApiServer, ns: str, name: str) -> set[str] | None:
    ingress = api.get("networking.k8s.io/v1", "Ingress", ns, service_object_name(name))
    return None if ingress is None else {r.get("host", "") for r in ingress["spec"]["rules"]}


def test_first_version_gets_every_child_by_server_side_apply_and_is_ready_once_available(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    owner = _create_version(api, ns, "die_roller", "1.0.0", main=True)
    reconciler, events = _reconciler(api)

    reconciler.reconcile(ns, "die_roller")
    v1 = version_object_name("die_roller", "1.0.0")
    objects = _objects(api, ns)
    children = {
        ("Deployment", v1),
        ("Service", v1),
        ("Service", service_object_name("die_roller")),
        ("Ingress", service_object_name("die_roller")),
        ("ServiceAccount", SERVICE_ACCOUNT),
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
    ingress = objects[("Ingress", service_object_name("die_roller"))]
    assert sorted(p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]) == [
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
    assert obj["status"]["running"].startswith("Running (since ")
    name_service = api.get("v1", "Service", ns, service_object_name("die_roller"))
    assert name_service is not None
    assert name_service["spec"]["selector"][VERSION_LABEL] == "1.0.0"
    assert "MinimumReplicasAvailable" in [e.reason for _, e in events]


def test_a_users_service_with_the_per_name_childs_name_is_left_byte_identical(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    name = service_object_name("die_roller")
    users = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": "mine"}, "ports": [{"port": 80}]},
    }
    before = api.request("POST", resource_path("v1", "Service", ns), body=users)
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
    assert _condition(obj, "Ready") == ("False", NOT_OWNED_REASON)
    assert _condition(obj, "Available") == ("True", "MinimumReplicasAvailable")
    assert ("Warning", NOT_OWNED_REASON) in [(e.type, e.reason) for _, e in events]


def test_an_unchanged_second_reconcile_writes_nothing(
    envtest: EnvTest, envtest_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same reconciler sends no write at all; a restarted one (which knows nothing it
    applied) sends its applies, and the server stores nothing new, as apply.py says."""
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, "die_roller", "1.0.0", main=True)
    _create_version(api, ns, "die_roller", "2.0.0")
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, "die_roller")
    for version in ("1.0.0", "2.0.0"):
        _mark_available(api, ns, "die_roller", version)
    reconciler.reconcile(ns, "die_roller")
    before = _resource_versions(api, ns)
    assert len(before) == 11  # 2 of: DaeployService, Deployment, Service; 5 shared children

    writes: list[str] = []
    send = api.request

    def recording(method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
        if method != "GET":
            writes.append(f"{method} {path}")
        return send(method, path, **kwargs)

    monkeypatch.setattr(api, "request", recording)
    reconciler.reconcile(ns, "die_roller")
    assert writes == []
    assert _resource_versions(api, ns) == before

    restarted, events = _reconciler(api)
    restarted.reconcile(ns, "die_roller")
    restarted.reconcile(ns, "die_roller", force=True)
    restarted.reconcile_namespace_access(ns, force=True)
    # Each of the 9 children applied twice (once checked and applied, once forced); no status.
    children = [key for key in before if key[0] != KIND]
    assert sorted(set(writes)) == sorted(
        f"PATCH {resource_path(*_api_kind(kind), ns, name)}" for kind, name in children
    )
    assert len(writes) == 2 * len(children) == 18
    assert _resource_versions(api, ns) == before
    assert events == []


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
    [available] = [c for c in obj["status"]["conditions"] if c["type"] == "Available"]
    assert "limits[gpus]" in available["message"]
    assert obj["status"]["phase"] == "failed"
    assert api.get("apps/v1", "Deployment", ns, version_object_name("die_roller", "1.0.0")) is None
    assert api.get("apps/v1", "Deployment", ns, version_object_name("die_roller", "2.0.0"))
    assert ("Warning", CHILD_REFUSED_REASON) in [(e.type, e.reason) for _, e in events]


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


def test_same_name_in_two_namespaces_is_ready_in_both_with_a_namespace_domain(
    envtest: EnvTest, envtest_namespaces: Callable[[str], str]
) -> None:
    """As the in-memory test of the same name: each namespace answers on its own host, the
    first also on the shared one, and the second takes the shared one over when the first goes.
    Here claims come from real creationTimestamps (seconds); 'team-a' wins ties by name."""
    api = envtest.api
    team_a, team_b = envtest_namespaces("team-a"), envtest_namespaces("team-b")
    for ns in (team_a, team_b):
        _create_version(api, ns, "die_roller", "1.0.0", main=True)
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

    # team-a's version goes; no garbage collector runs here, so its Ingress goes by hand.
    api.delete(API_GROUP_VERSION, KIND, team_a, version_object_name("die_roller", "1.0.0"))
    api.delete("networking.k8s.io/v1", "Ingress", team_a, service_object_name("die_roller"))
    reconciler.reconcile(team_b, "die_roller")
    assert _ingress_hosts(api, team_b, "die_roller") == {"", f"{team_b}.daeploy.local"}
    assert _version(api, team_b, "die_roller", "1.0.0")["status"]["serviceUrl"] == (
        service_path("die_roller")
    )
