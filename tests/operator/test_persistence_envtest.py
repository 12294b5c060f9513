"""spec.persistence against a real kube-apiserver (envtest): the claim as the server stores it.

No controller runs, so claims stay Pending and nothing is garbage-collected: ``_collect_garbage``
does what the collector would. What is checked here is the server's side: the claim is
applied and owned, an unchanged reconcile writes nothing (the claim is watched), and a change
the server refuses (a claim made smaller) is reported on the version, not retried.
"""

from __future__ import annotations

import pytest
from envtest import EnvTest
from test_reconciler_envtest import (
    _collect_garbage,
    _condition,
    _create_version,
    _mark_available,
    _message,
    _objects,
    _patch_spec,
    _reconciler,
    _recorded_writes,
    _version,
)

from daeploy.contract import (
    API_GROUP_VERSION,
    CHILD_REFUSED_REASON,
    KIND,
    MONITOR_DB_ENV,
    PERSISTENT_DATA_DIR,
    PERSISTENT_MONITOR_DB_FILE,
)
from daeploy.names import version_object_name
from daeploy_operator.api import ApiServer
from daeploy_operator.kinds import resource_path
from daeploy_operator.names import data_claim_name

NAME = "monitored"
CLAIM = data_claim_name(NAME, "1.0.0")


def _release_claims(api: ApiServer, ns: str) -> None:
    """Drop the pvc-protection finalizer no controller removes here, so the claims can go."""
    for claim in api.list("v1", "PersistentVolumeClaim", ns):
        path = resource_path("v1", "PersistentVolumeClaim", ns, claim["metadata"]["name"])
        api.request(
            "PATCH",
            path,
            body={"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        )


def test_the_claim_is_applied_owned_mounted_and_goes_with_the_version(
    envtest: EnvTest, envtest_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, ns = envtest.api, envtest_namespace
    owner = _create_version(api, ns, NAME, "1.0.0", main=True, persistence={})
    # The CRD's default size is written by the server.
    assert owner["spec"]["persistence"] == {"size": "1Gi"}
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, NAME)
    claim = api.get("v1", "PersistentVolumeClaim", ns, CLAIM)
    assert claim is not None
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert [r["uid"] for r in claim["metadata"]["ownerReferences"]] == [owner["metadata"]["uid"]]
    deployment = api.get("apps/v1", "Deployment", ns, version_object_name(NAME, "1.0.0"))
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": CLAIM}} in pod["volumes"]
    [container] = pod["containers"]
    assert {"name": "data", "mountPath": PERSISTENT_DATA_DIR} in container["volumeMounts"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env[MONITOR_DB_ENV] == PERSISTENT_MONITOR_DB_FILE
    _mark_available(api, ns, NAME, "1.0.0")
    reconciler.reconcile(ns, NAME)
    assert _condition(_version(api, ns, NAME, "1.0.0"), "Ready") == ("True", "Ready")

    writes = _recorded_writes(api, monkeypatch)
    reconciler.reconcile(ns, NAME)
    assert writes == []
    # The resync's forced pass re-applies only what is not watched (the ServiceAccount): the
    # claim, watched, did not drift.
    reconciler.reconcile(ns, NAME, force=True)
    assert [w.rsplit("/", 2)[-2] for w in writes] == ["serviceaccounts"]
    monkeypatch.undo()

    # Dropping spec.persistence unmounts the claim; the claim and its data stay with the version.
    api.request(
        "PATCH",
        resource_path(API_GROUP_VERSION, KIND, ns, version_object_name(NAME, "1.0.0")),
        body=[{"op": "remove", "path": "/spec/persistence"}],
        content_type="application/json-patch+json",
    )
    reconciler.reconcile(ns, NAME)
    deployment = api.get("apps/v1", "Deployment", ns, version_object_name(NAME, "1.0.0"))
    assert deployment is not None
    assert "volumes" not in deployment["spec"]["template"]["spec"]
    assert api.get("v1", "PersistentVolumeClaim", ns, CLAIM) is not None

    api.delete(API_GROUP_VERSION, KIND, ns, version_object_name(NAME, "1.0.0"))
    _release_claims(api, ns)
    _collect_garbage(api, ns)
    assert ("PersistentVolumeClaim", CLAIM) not in _objects(api, ns)


def test_a_claim_the_server_will_not_shrink_is_reported_not_retried(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, NAME, "1.0.0", main=True, persistence={"size": "2Gi"})
    reconciler, events = _reconciler(api)
    reconciler.reconcile(ns, NAME)
    _patch_spec(api, ns, NAME, "1.0.0", persistence={"size": "1Gi"})
    reconciler.reconcile(ns, NAME)  # no exception: a refusal is the status's business
    obj = _version(api, ns, NAME, "1.0.0")
    assert _condition(obj, "Available") == ("False", CHILD_REFUSED_REASON)
    assert "PersistentVolumeClaim" in _message(obj, "Available")
    assert ("Warning", CHILD_REFUSED_REASON) in [(e.type, e.reason) for _, e in events]
    claim = api.get("v1", "PersistentVolumeClaim", ns, CLAIM)
    assert claim is not None
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    _release_claims(api, ns)


def test_a_storage_class_is_passed_on(envtest: EnvTest, envtest_namespace: str) -> None:
    api, ns = envtest.api, envtest_namespace
    _create_version(api, ns, NAME, "1.0.0", persistence={"storageClassName": "fast"})
    reconciler, _ = _reconciler(api)
    reconciler.reconcile(ns, NAME)
    claim = api.get("v1", "PersistentVolumeClaim", ns, CLAIM)
    assert claim is not None
    assert claim["spec"]["storageClassName"] == "fast"
    _release_claims(api, ns)
