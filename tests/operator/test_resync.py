"""The resync safety net: one reconcile per (namespace, name), failures do not stop the pass."""

from __future__ import annotations

import threading

from operator_fakes import InMemoryCluster, dsvc_object

from daeploy.contract import API_GROUP_VERSION, KIND
from daeploy_operator.api import ApiError
from daeploy_operator.reconciler import Reconciler
from daeploy_operator.resync import ResyncLoop, resync_once, service_groups
from daeploy_operator.settings import OperatorSettings


def _populate(cluster: InMemoryCluster) -> None:
    cluster.add(dsvc_object("die_roller", "1.0.0", namespace="a", main=True))
    cluster.add(dsvc_object("die_roller", "2.0.0", namespace="a"))
    cluster.add(dsvc_object("yatzee", "1.0.0", namespace="a", main=True))
    cluster.add(dsvc_object("die_roller", "1.0.0", namespace="b", main=True))


def test_groups_are_namespace_and_name_once_each(memory_cluster: InMemoryCluster) -> None:
    _populate(memory_cluster)
    objects = memory_cluster.list(API_GROUP_VERSION, KIND, None)
    assert service_groups(objects) == [("a", "die_roller"), ("a", "yatzee"), ("b", "die_roller")]


def test_a_pass_heals_every_group(memory_cluster: InMemoryCluster) -> None:
    _populate(memory_cluster)
    reconciler = Reconciler(memory_cluster, OperatorSettings.from_env({}))

    def forced(key: tuple[str, str]) -> None:
        reconciler.reconcile_key(key, force=True)

    assert resync_once(memory_cluster, forced) == 3
    assert memory_cluster.find("networking.k8s.io/v1", "Ingress", "a", "yatzee") is not None
    memory_cluster.delete("apps/v1", "Deployment", "b", "die-roller-v1-0-0-e1cbb2bb")
    # No watch event told the operator: only the forced pass can find it.
    resync_once(memory_cluster, forced)
    assert memory_cluster.find("apps/v1", "Deployment", "b", "die-roller-v1-0-0-e1cbb2bb")


def test_only_watched_namespaces_and_failures_do_not_stop_the_pass(
    memory_cluster: InMemoryCluster,
) -> None:
    _populate(memory_cluster)
    seen: list[tuple[str, str]] = []

    def reconcile(key: tuple[str, str]) -> None:
        seen.append(key)
        if key == ("a", "die_roller"):
            raise ApiError(500, "boom")
        if key == ("a", "yatzee"):
            raise KeyError("a bug")

    assert resync_once(memory_cluster, reconcile, ["a"]) == 0
    assert seen == [("a", "die_roller"), ("a", "yatzee")]


def test_the_loop_runs_until_stopped(memory_cluster: InMemoryCluster) -> None:
    _populate(memory_cluster)
    passes = threading.Event()
    seen: list[tuple[str, str]] = []

    def reconcile(key: tuple[str, str]) -> None:
        seen.append(key)
        if len(seen) >= 6:
            passes.set()

    loop = ResyncLoop(memory_cluster, reconcile, interval=0.01)
    loop.start()
    assert passes.wait(10)
    assert loop.alive
    loop.stop()
    assert not loop.alive
