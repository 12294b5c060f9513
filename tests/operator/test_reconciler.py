"""A whole reconcile against an in-memory API server: what gets applied, routed and reported."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from operator_fakes import T0, InMemoryCluster, dsvc_object

from daeploy.contract import (
    API_GROUP_VERSION,
    CHILD_REFUSED_REASON,
    DUPLICATE_VERSION_REASON,
    EVENTS_ROLE,
    HOST_ANNOTATION,
    KIND,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    NAMESPACE_DOMAIN_ENV,
    NOT_OWNED_REASON,
    RECONCILE_FAILED_REASON,
    ROUTE_HELD_REASON,
    SERVICE_ACCOUNT,
    SERVICE_LABEL,
    VERSION_LABEL,
)
from daeploy.names import service_object_name, service_path, version_object_name, version_path
from daeploy_operator.api import ApiError
from daeploy_operator.applied import child_key
from daeploy_operator.reconciler import Reconciler
from daeploy_operator.settings import OperatorSettings
from daeploy_operator.status import Event

NS = "demo"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> Any:
        self.now += timedelta(seconds=1)
        return self.now


def _reconciler(cluster: InMemoryCluster, **env: str) -> tuple[Reconciler, list]:
    events: list[tuple[str, Event]] = []
    reconciler = Reconciler(
        cluster,
        OperatorSettings.from_env(env),
        post_event=lambda ref, ev: events.append((ref["metadata"]["name"], ev)),
        clock=Clock(),
    )
    return reconciler, events


def _status(cluster: InMemoryCluster, name: str, version: str, ns: str = NS) -> dict[str, Any]:
    obj = cluster.find(API_GROUP_VERSION, KIND, ns, version_object_name(name, version))
    assert obj is not None
    return obj["status"]


def _condition(status: dict[str, Any], kind: str) -> tuple[str, str]:
    [cond] = [c for c in status["conditions"] if c["type"] == kind]
    return cond["status"], cond["reason"]


def _selected(cluster: InMemoryCluster, name: str, ns: str = NS) -> str | None:
    service = cluster.find("v1", "Service", ns, service_object_name(name))
    assert service is not None
    return service["spec"]["selector"][VERSION_LABEL] or None


def _ingress_paths(cluster: InMemoryCluster, name: str, ns: str = NS) -> list[str] | None:
    ingress = cluster.find("networking.k8s.io/v1", "Ingress", ns, service_object_name(name))
    if ingress is None:
        return None
    return sorted(p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"])


def _namespace(cluster: InMemoryCluster, name: str, host: str = "") -> None:
    annotations = {HOST_ANNOTATION: host} if host else {}
    cluster.add(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "annotations": annotations},
        }
    )


def test_first_version_gets_every_child_and_becomes_ready_once_available(
    memory_cluster: InMemoryCluster,
) -> None:
    _namespace(memory_cluster, NS)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    reconciler, events = _reconciler(memory_cluster)

    reconciler.reconcile(NS, "die_roller")
    v1 = version_object_name("die_roller", "1.0.0")
    assert memory_cluster.kinds_in(NS) == sorted(
        [
            (KIND, v1),
            ("Deployment", v1),
            ("Service", v1),
            ("Service", "die-roller"),
            ("Ingress", "die-roller"),
            ("ServiceAccount", SERVICE_ACCOUNT),
            ("Role", EVENTS_ROLE),
            ("RoleBinding", EVENTS_ROLE),
        ]
    )
    assert _ingress_paths(memory_cluster, "die_roller") == [
        service_path("die_roller"),
        version_path("die_roller", "1.0.0"),
    ]
    status = _status(memory_cluster, "die_roller", "1.0.0")
    assert _condition(status, "Ready") == ("False", "Deploying")
    assert status["phase"] == "pending"

    memory_cluster.set_available(NS, "die_roller", "1.0.0")
    reconciler.reconcile(NS, "die_roller")
    status = _status(memory_cluster, "die_roller", "1.0.0")
    assert _condition(status, "Ready") == ("True", "Ready")
    assert status["mainMark"] == "*"
    assert status["running"].startswith("Running (since 2024-05-01 12:00:0")
    assert status["serviceUrl"] == service_path("die_roller")
    assert _selected(memory_cluster, "die_roller") == "1.0.0"
    assert "MinimumReplicasAvailable" in [e.reason for _, e in events]


def test_a_second_reconcile_of_an_unchanged_cluster_writes_no_status(
    memory_cluster: InMemoryCluster,
) -> None:
    _namespace(memory_cluster, NS)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    reconciler, events = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    writes, seen = memory_cluster.status_writes, len(events)
    reconciler.reconcile(NS, "die_roller")
    assert memory_cluster.status_writes == writes
    assert len(events) == seen


def test_new_main_takes_the_route_only_once_available(memory_cluster: InMemoryCluster) -> None:
    _namespace(memory_cluster, NS)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    reconciler, events = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    memory_cluster.set_available(NS, "die_roller", "1.0.0")
    reconciler.reconcile(NS, "die_roller")

    memory_cluster.add(dsvc_object("die_roller", "2.0.0", main=True, created=60))
    reconciler.reconcile(NS, "die_roller")
    assert _selected(memory_cluster, "die_roller") == "1.0.0"
    assert _condition(_status(memory_cluster, "die_roller", "2.0.0"), "Routed") == (
        "False",
        "MainPendingAvailability",
    )
    assert _status(memory_cluster, "die_roller", "1.0.0")["mainMark"] == "*"

    memory_cluster.set_available(NS, "die_roller", "2.0.0")
    reconciler.reconcile(NS, "die_roller")
    assert _selected(memory_cluster, "die_roller") == "2.0.0"
    v2 = _status(memory_cluster, "die_roller", "2.0.0")
    v1 = _status(memory_cluster, "die_roller", "1.0.0")
    assert _condition(v2, "Ready") == ("True", "Ready")
    assert v2["mainMark"] == "*"
    assert v1["mainMark"] == ""
    assert _condition(v1, "Routed") == ("True", "MainClaimSuperseded")
    assert _ingress_paths(memory_cluster, "die_roller") == [
        service_path("die_roller"),
        version_path("die_roller", "1.0.0"),
        version_path("die_roller", "2.0.0"),
    ]
    assert (version_object_name("die_roller", "2.0.0"), "MainVersion") in [
        (name, e.reason) for name, e in events
    ]

    # Switching back: 2.0.0 gives up its claim; 1.0.0 (available) serves again at once.
    v2_obj = memory_cluster.find(
        API_GROUP_VERSION, KIND, NS, version_object_name("die_roller", "2.0.0")
    )
    v2_obj["spec"]["main"] = False
    reconciler.reconcile(NS, "die_roller")
    assert _selected(memory_cluster, "die_roller") == "1.0.0"
    assert "mainClaimedAt" not in _status(memory_cluster, "die_roller", "2.0.0")


def test_a_new_main_that_never_comes_up_leaves_the_old_one_serving(
    memory_cluster: InMemoryCluster,
) -> None:
    _namespace(memory_cluster, NS)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    reconciler, _ = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    memory_cluster.set_available(NS, "die_roller", "1.0.0")
    reconciler.reconcile(NS, "die_roller")
    # The old main gives up its claim as the CLI does; the new one cannot pull its image.
    v1 = memory_cluster.find(
        API_GROUP_VERSION, KIND, NS, version_object_name("die_roller", "1.0.0")
    )
    v1["spec"]["main"] = False
    memory_cluster.add(dsvc_object("die_roller", "2.0.0", main=True, image="nowhere/x:1"))
    reconciler.reconcile(NS, "die_roller")
    memory_cluster.add(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "die-roller-2-abc",
                "namespace": NS,
                "labels": {
                    MANAGED_BY_LABEL: MANAGED_BY_OPERATOR,
                    SERVICE_LABEL: "die_roller",
                    VERSION_LABEL: "2.0.0",
                },
            },
            "status": {
                "containerStatuses": [
                    {
                        "name": "service",
                        "image": "nowhere/x:1",
                        "state": {"waiting": {"reason": "ErrImageNeverPull", "message": "never"}},
                    }
                ]
            },
        }
    )
    for _ in range(3):
        reconciler.reconcile(NS, "die_roller")
    assert _selected(memory_cluster, "die_roller") == "1.0.0"
    v2 = _status(memory_cluster, "die_roller", "2.0.0")
    assert _condition(v2, "Available") == ("False", "ErrImageNeverPull")
    assert v2["phase"] == "failed"


def test_with_no_claim_the_first_version_deployed_is_main(memory_cluster: InMemoryCluster) -> None:
    """The one default for every client (kubectl, helm, the CLI), as in Daeploy 1.x."""
    _namespace(memory_cluster, NS)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=False))
    memory_cluster.add(dsvc_object("die_roller", "2.0.0", main=False, created=10))
    reconciler, _ = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    for version in ("1.0.0", "2.0.0"):
        memory_cluster.set_available(NS, "die_roller", version)
    reconciler.reconcile(NS, "die_roller")
    assert _ingress_paths(memory_cluster, "die_roller") == [
        service_path("die_roller"),
        version_path("die_roller", "1.0.0"),
        version_path("die_roller", "2.0.0"),
    ]
    assert _selected(memory_cluster, "die_roller") == "1.0.0"
    assert _status(memory_cluster, "die_roller", "1.0.0")["mainMark"] == "*"
    assert _status(memory_cluster, "die_roller", "2.0.0")["mainMark"] == ""


def test_same_name_in_two_namespaces_on_one_host(memory_cluster: InMemoryCluster) -> None:
    for ns in ("team-a", "team-b"):
        _namespace(memory_cluster, ns)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True, namespace="team-a"))
    memory_cluster.add(
        dsvc_object("die_roller", "1.0.0", main=True, namespace="team-b", created=30)
    )
    reconciler, events = _reconciler(memory_cluster)
    # The later namespace reconciles first: it takes the routes until the earlier one shows up.
    reconciler.reconcile("team-b", "die_roller")
    reconciler.reconcile("team-a", "die_roller")
    reconciler.reconcile("team-b", "die_roller")
    assert _ingress_paths(memory_cluster, "die_roller", "team-a") is not None
    assert _ingress_paths(memory_cluster, "die_roller", "team-b") is None
    status_b = _status(memory_cluster, "die_roller", "1.0.0", "team-b")
    assert _condition(status_b, "Routed") == ("False", ROUTE_HELD_REASON)
    routed = next(c for c in status_b["conditions"] if c["type"] == "Routed")
    assert "'team-a'" in routed["message"]
    assert "url" not in status_b
    assert ("Warning", ROUTE_HELD_REASON) in [(e.type, e.reason) for _, e in events]

    # Its own host frees it.
    ns_b = memory_cluster.find("v1", "Namespace", None, "team-b")
    ns_b["metadata"]["annotations"] = {HOST_ANNOTATION: "b.example.com"}
    reconciler.reconcile("team-b", "die_roller")
    assert _ingress_paths(memory_cluster, "die_roller", "team-b") is not None
    status_b = _status(memory_cluster, "die_roller", "1.0.0", "team-b")
    assert status_b["url"] == "http://b.example.com" + version_path("die_roller", "1.0.0")


def test_duplicate_version_objects(memory_cluster: InMemoryCluster) -> None:
    _namespace(memory_cluster, NS)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    memory_cluster.add(
        dsvc_object("die_roller", "1.0.0", main=True, created=5, resource_name="my-copy")
    )
    reconciler, _ = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    copy_obj = memory_cluster.find(API_GROUP_VERSION, KIND, NS, "my-copy")
    assert _condition(copy_obj["status"], "Ready") == ("False", DUPLICATE_VERSION_REASON)
    deployments = memory_cluster.list("apps/v1", "Deployment", NS)
    assert [d["metadata"]["ownerReferences"][0]["name"] for d in deployments] == [
        version_object_name("die_roller", "1.0.0")
    ]


def _hand_edit(cluster: InMemoryCluster) -> list[tuple[str, str, str, str]]:
    """Delete and edit children behind the operator's back; the keys of what was touched."""
    v1 = version_object_name("die_roller", "1.0.0")
    cluster.delete("apps/v1", "Deployment", NS, v1)
    cluster.delete("networking.k8s.io/v1", "Ingress", NS, "die-roller")
    cluster.find("v1", "Service", NS, "die-roller")["spec"]["selector"] = {"app": "x"}
    return [
        child_key("apps/v1", "Deployment", NS, v1),
        child_key("networking.k8s.io/v1", "Ingress", NS, "die-roller"),
        child_key("v1", "Service", NS, "die-roller"),
    ]


def _restored(cluster: InMemoryCluster) -> bool:
    v1 = version_object_name("die_roller", "1.0.0")
    return (
        cluster.find("apps/v1", "Deployment", NS, v1) is not None
        and _ingress_paths(cluster, "die_roller") is not None
        and _selected(cluster, "die_roller") == "1.0.0"
    )


def test_hand_deleted_and_edited_children_come_back_on_their_events(
    memory_cluster: InMemoryCluster,
) -> None:
    _namespace(memory_cluster, NS)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    reconciler, _ = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    for key in _hand_edit(memory_cluster):
        # What the child watch reports: a change the operator did not make.
        assert reconciler.applied.observe(key, "edited-by-hand", deleted=True)
    reconciler.reconcile(NS, "die_roller")
    assert _restored(memory_cluster)


def test_the_forced_resync_restores_children_whose_events_were_missed(
    memory_cluster: InMemoryCluster,
) -> None:
    _namespace(memory_cluster, NS)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    reconciler, _ = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    _hand_edit(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    assert not _restored(memory_cluster)  # without events, unchanged manifests are skipped
    reconciler.reconcile(NS, "die_roller", force=True)
    assert _restored(memory_cluster)


def test_an_unchanged_name_is_not_applied_again(memory_cluster: InMemoryCluster) -> None:
    _namespace(memory_cluster, NS)
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        memory_cluster.add(dsvc_object("die_roller", version, main=version == "1.0.0"))
    reconciler, _ = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    first = memory_cluster.applies
    reconciler.reconcile(NS, "die_roller")
    assert memory_cluster.applies == first
    memory_cluster.add(dsvc_object("die_roller", "4.0.0"))
    reconciler.reconcile(NS, "die_roller")
    # Only the new version's Deployment and Service, the per-name Service and the Ingress.
    assert memory_cluster.applies - first == 4


def test_deleting_every_version_leaves_nothing_behind(memory_cluster: InMemoryCluster) -> None:
    _namespace(memory_cluster, NS)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    memory_cluster.add(dsvc_object("die_roller", "2.0.0"))
    memory_cluster.add(dsvc_object("yatzee", "1.0.0", main=True))
    reconciler, _ = _reconciler(memory_cluster)
    for name in ("die_roller", "yatzee"):
        reconciler.reconcile(NS, name)

    memory_cluster.delete(API_GROUP_VERSION, KIND, NS, version_object_name("die_roller", "2.0.0"))
    memory_cluster.collect_garbage()
    reconciler.reconcile(NS, "die_roller")
    assert _ingress_paths(memory_cluster, "die_roller") == [
        service_path("die_roller"),
        version_path("die_roller", "1.0.0"),
    ]

    for obj in memory_cluster.list(API_GROUP_VERSION, KIND, NS):
        memory_cluster.delete(API_GROUP_VERSION, KIND, NS, obj["metadata"]["name"])
    memory_cluster.collect_garbage()
    reconciler.reconcile(NS, "die_roller")
    assert memory_cluster.kinds_in(NS) == []


def test_objects_being_deleted_are_left_out(memory_cluster: InMemoryCluster) -> None:
    _namespace(memory_cluster, NS)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    going = dsvc_object("die_roller", "2.0.0", main=True)
    going["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    memory_cluster.add(going)
    reconciler, _ = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    assert _ingress_paths(memory_cluster, "die_roller") == [
        service_path("die_roller"),
        version_path("die_roller", "1.0.0"),
    ]
    assert _selected(memory_cluster, "die_roller") == "1.0.0"


def test_a_child_the_api_server_refuses_is_reported_not_retried_forever(
    memory_cluster: InMemoryCluster,
) -> None:
    _namespace(memory_cluster, NS)
    memory_cluster.add(
        dsvc_object("die_roller", "1.0.0", main=True, resources={"limits": {"gpus": "1"}})
    )
    memory_cluster.add(dsvc_object("die_roller", "2.0.0"))
    memory_cluster.refuse = lambda m: (
        "limits[gpus]: Invalid value: must be a standard resource"
        if m["kind"] == "Deployment" and m["metadata"]["name"].startswith("die-roller-v1-")
        else None
    )
    reconciler, events = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    status = _status(memory_cluster, "die_roller", "1.0.0")
    assert _condition(status, "Available") == ("False", CHILD_REFUSED_REASON)
    assert "limits[gpus]" in next(
        c["message"] for c in status["conditions"] if c["type"] == "Available"
    )
    assert status["phase"] == "failed"
    # The other version is unaffected.
    assert memory_cluster.find(
        "apps/v1", "Deployment", NS, version_object_name("die_roller", "2.0.0")
    )
    assert ("Warning", CHILD_REFUSED_REASON) in [(e.type, e.reason) for _, e in events]


def _users_service(name: str, ns: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "uid": "users-own"},
        "spec": {"selector": {"app": "mine"}, "ports": [{"port": 80}]},
    }


def test_a_users_object_with_a_childs_name_is_left_alone_and_reported(
    memory_cluster: InMemoryCluster,
) -> None:
    """Knative's IsControlledBy: never take over (nor later garbage-collect) what is not ours."""
    _namespace(memory_cluster, NS)
    memory_cluster.add(_users_service(service_object_name("die_roller")))
    before = json.dumps(
        memory_cluster.find("v1", "Service", NS, service_object_name("die_roller")), sort_keys=True
    )
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    reconciler, events = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    memory_cluster.set_available(NS, "die_roller", "1.0.0")
    reconciler.reconcile(NS, "die_roller")
    after = memory_cluster.find("v1", "Service", NS, service_object_name("die_roller"))
    assert json.dumps(after, sort_keys=True) == before
    status = _status(memory_cluster, "die_roller", "1.0.0")
    assert _condition(status, "Routed") == ("False", NOT_OWNED_REASON)
    assert _condition(status, "Ready") == ("False", NOT_OWNED_REASON)
    routed = next(c for c in status["conditions"] if c["type"] == "Routed")
    assert f"Service {service_object_name('die_roller')!r} already exists" in routed["message"]
    assert ("Warning", NOT_OWNED_REASON) in [(e.type, e.reason) for _, e in events]
    # The version's own children are ours and fine.
    assert _condition(status, "Available") == ("True", "MinimumReplicasAvailable")


def test_a_users_object_with_a_versions_child_name_keeps_that_version_unavailable(
    memory_cluster: InMemoryCluster,
) -> None:
    _namespace(memory_cluster, NS)
    name = version_object_name("die_roller", "1.0.0")
    memory_cluster.add(_users_service(name))
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    reconciler, _ = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    assert memory_cluster.find("v1", "Service", NS, name)["metadata"]["uid"] == "users-own"
    status = _status(memory_cluster, "die_roller", "1.0.0")
    assert _condition(status, "Available") == ("False", NOT_OWNED_REASON)
    assert status["phase"] == "failed"


def test_a_failed_reconcile_is_said_on_the_status_and_retried(
    memory_cluster: InMemoryCluster,
) -> None:
    """A failure the API server answers (not a refusal of the spec) shows as Ready=False with
    the server's message, not only in the operator's log; the error still reaches the runner."""
    _namespace(memory_cluster, NS)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True))
    reconciler, _ = _reconciler(memory_cluster)
    reconciler.reconcile(NS, "die_roller")
    real_apply = memory_cluster.apply

    def failing_apply(manifest: Any) -> dict[str, Any]:
        if manifest["kind"] == "Ingress":
            raise ApiError(500, "etcdserver: request timed out")
        return real_apply(manifest)

    memory_cluster.apply = failing_apply  # type: ignore[method-assign]
    memory_cluster.set_available(NS, "die_roller", "1.0.0")
    reconciler.applied = type(reconciler.applied)()  # forget what was applied: apply again
    with pytest.raises(ApiError):
        reconciler.reconcile(NS, "die_roller")
    status = _status(memory_cluster, "die_roller", "1.0.0")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", RECONCILE_FAILED_REASON)
    assert "etcdserver: request timed out" in ready["message"]
    memory_cluster.apply = real_apply  # type: ignore[method-assign]
    reconciler.reconcile(NS, "die_roller")
    assert _condition(_status(memory_cluster, "die_roller", "1.0.0"), "Ready") == ("True", "Ready")


def _ingress_hosts(cluster: InMemoryCluster, name: str, ns: str) -> set[str] | None:
    ingress = cluster.find("networking.k8s.io/v1", "Ingress", ns, service_object_name(name))
    return None if ingress is None else {r.get("host", "") for r in ingress["spec"]["rules"]}


def test_same_name_in_two_namespaces_is_ready_in_both_with_a_namespace_domain(
    memory_cluster: InMemoryCluster,
) -> None:
    """No hand-made host: each namespace answers on its own host; the first also on the
    shared one, and the second takes the shared one over when the first goes."""
    for ns in ("team-a", "team-b"):
        _namespace(memory_cluster, ns)
    memory_cluster.add(dsvc_object("die_roller", "1.0.0", main=True, namespace="team-a"))
    memory_cluster.add(
        dsvc_object("die_roller", "1.0.0", main=True, namespace="team-b", created=30)
    )
    reconciler, _ = _reconciler(memory_cluster, **{NAMESPACE_DOMAIN_ENV: "daeploy.local"})
    for ns in ("team-b", "team-a"):
        reconciler.reconcile(ns, "die_roller")
        memory_cluster.set_available(ns, "die_roller", "1.0.0")
    for ns in ("team-b", "team-a", "team-b"):
        reconciler.reconcile(ns, "die_roller")
    assert _ingress_hosts(memory_cluster, "die_roller", "team-a") == {"", "team-a.daeploy.local"}
    assert _ingress_hosts(memory_cluster, "die_roller", "team-b") == {"team-b.daeploy.local"}
    status_a = _status(memory_cluster, "die_roller", "1.0.0", "team-a")
    status_b = _status(memory_cluster, "die_roller", "1.0.0", "team-b")
    assert _condition(status_a, "Ready") == ("True", "Ready")
    assert _condition(status_b, "Ready") == ("True", "Ready")
    assert status_a["serviceUrl"] == service_path("die_roller")
    assert status_b["serviceUrl"] == f"http://team-b.daeploy.local{service_path('die_roller')}"

    memory_cluster.delete(
        API_GROUP_VERSION, KIND, "team-a", version_object_name("die_roller", "1.0.0")
    )
    memory_cluster.collect_garbage()
    reconciler.reconcile("team-b", "die_roller")
    assert _ingress_hosts(memory_cluster, "die_roller", "team-b") == {"", "team-b.daeploy.local"}
    assert _status(memory_cluster, "die_roller", "1.0.0", "team-b")["serviceUrl"] == (
        service_path("die_roller")
    )
