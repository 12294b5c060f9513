"""The resync safety net against a real API server (envtest): one reconcile per (namespace, name)
from the operator's view, failures do not stop the pass, and a forced pass heals what no event
reported."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from envtest import EnvTest
from test_reconciler_envtest import _create_version, _reconciler

from daeploy.contract import MANAGED_BY_LABEL, MANAGED_BY_OPERATOR
from daeploy.names import service_object_name, version_object_name
from daeploy_operator.api import ApiError, ApiServer
from daeploy_operator.indexes import snapshot
from daeploy_operator.kinds import resource_path
from daeploy_operator.resync import ResyncLoop, resync_once

MERGE_PATCH = "application/merge-patch+json"
Key = tuple[str, str]


def _populate(api: ApiServer, namespaces: Callable[[str], str]) -> tuple[str, str]:
    """Three names in two namespaces, one of them with two versions; the namespaces a, b."""
    a, b = namespaces("a"), namespaces("b")
    _create_version(api, a, "die_roller", "1.0.0", main=True)
    _create_version(api, a, "die_roller", "2.0.0")
    _create_version(api, a, "yatzee", "1.0.0", main=True)
    _create_version(api, b, "die_roller", "1.0.0", main=True)
    return a, b


def _names(api: ApiServer, *namespaces: str) -> list[Key]:
    """The (namespace, name) groups of the operator's view, in this test's namespaces only
    (the envtest API server is shared by the whole session)."""
    return [key for key in snapshot(api).names() if key[0] in namespaces]


def test_groups_are_namespace_and_name_once_each(
    envtest: EnvTest, envtest_namespaces: Callable[[str], str]
) -> None:
    api = envtest.api
    a, b = _populate(api, envtest_namespaces)
    names = _names(api, a, b)
    assert names == [(a, "die_roller"), (a, "yatzee"), (b, "die_roller")]
    seen: list[Key] = []
    assert resync_once(names + names, seen.append) == 3
    assert seen == names


def test_a_pass_heals_every_group(
    envtest: EnvTest, envtest_namespaces: Callable[[str], str]
) -> None:
    api = envtest.api
    a, b = _populate(api, envtest_namespaces)
    reconciler, _ = _reconciler(api)

    def names() -> list[Key]:
        return [key for key in reconciler.view().names() if key[0] in (a, b)]

    def forced(key: Key) -> None:
        reconciler.reconcile_key(key, force=True)

    assert resync_once(names(), forced) == 3
    ingress = service_object_name("yatzee")
    assert api.get("networking.k8s.io/v1", "Ingress", a, ingress) is not None

    # No watch event tells the operator: a child deleted while its events were missed, and
    # one whose managed-by label was removed by hand (the child watches select on it).
    deployment = version_object_name("die_roller", "1.0.0")
    assert api.delete("apps/v1", "Deployment", b, deployment)
    api.request(
        "PATCH",
        resource_path("networking.k8s.io/v1", "Ingress", a, ingress),
        body={"metadata": {"labels": {MANAGED_BY_LABEL: None}}},
        content_type=MERGE_PATCH,
    )

    def managed_by(obj: dict[str, Any] | None) -> str | None:
        assert obj is not None
        return (obj["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL)

    # Unforced, unchanged manifests are skipped: only the forced pass finds these.
    assert resync_once(names(), reconciler.reconcile_key) == 3
    assert api.get("apps/v1", "Deployment", b, deployment) is None
    assert managed_by(api.get("networking.k8s.io/v1", "Ingress", a, ingress)) is None
    assert resync_once(names(), forced) == 3
    assert api.get("apps/v1", "Deployment", b, deployment) is not None
    assert managed_by(api.get("networking.k8s.io/v1", "Ingress", a, ingress)) == (
        MANAGED_BY_OPERATOR
    )


def test_only_watched_namespaces_and_failures_do_not_stop_the_pass(
    envtest: EnvTest, envtest_namespaces: Callable[[str], str]
) -> None:
    """The view of an operator that watches namespace a only, and groups that fail."""
    api = envtest.api
    a, _ = _populate(api, envtest_namespaces)
    seen: list[Key] = []

    def reconcile(key: Key) -> None:
        seen.append(key)
        if key == (a, "die_roller"):
            raise ApiError(500, "boom")
        if key == (a, "yatzee"):
            raise KeyError("a bug")

    def reconcile_namespace(namespace: str) -> None:
        seen_namespaces.append(namespace)
        raise ApiError(503, "unavailable")

    seen_namespaces: list[str] = []
    names = snapshot(api, [a]).names()
    assert resync_once(names, reconcile, reconcile_namespace=reconcile_namespace) == 0
    assert seen_namespaces == [a]
    assert seen == [(a, "die_roller"), (a, "yatzee")]


def test_the_loop_runs_until_stopped(
    envtest: EnvTest, envtest_namespaces: Callable[[str], str]
) -> None:
    api = envtest.api
    a, b = _populate(api, envtest_namespaces)
    passes = threading.Event()
    seen: list[Key] = []

    def reconcile(key: Key) -> None:
        seen.append(key)
        if len(seen) >= 6:
            passes.set()

    loop = ResyncLoop(lambda: _names(api, a, b), reconcile, interval=0.01)
    loop.start()
    assert passes.wait(10)
    assert loop.alive
    loop.stop()
    assert not loop.alive
    assert seen[:6] == 2 * [(a, "die_roller"), (a, "yatzee"), (b, "die_roller")]
