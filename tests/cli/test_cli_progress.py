"""When a deploy counts as done: Ready for this generation, and the Deployment runs this deploy."""

from __future__ import annotations

from typing import Any

from daeploy.cli.progress import Expectation, assess, rollout_complete
from daeploy.contract import SERVICE_NAME_ENV, SOURCE_DIGEST_ENV

NEW = Expectation("die_roller", "1.0.0", generation=2, env=((SOURCE_DIGEST_ENV, "new"),))


def dsvc(ready: bool = True, observed: int | None = 2, phase: str = "running") -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "Ready" if ready else "CrashLoopBackOff",
                "message": "" if ready else "container service keeps crashing",
            }
        ],
    }
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"generation": 2}, "spec": {}, "status": status}


def containers(digest: str, image: str = "localhost/daeploy-runtime:0.1.0") -> list[dict[str, Any]]:
    return [
        {
            "name": "service",
            "image": image,
            "env": [
                {"name": SERVICE_NAME_ENV, "value": "die_roller"},
                {"name": SOURCE_DIGEST_ENV, "value": digest},
            ],
        }
    ]


def deployment(digest: str, updated: int = 1, available: int = 1, total: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"generation": 5},
        "spec": {"replicas": 1, "template": {"spec": {"containers": containers(digest)}}},
        "status": {
            "observedGeneration": 5,
            "replicas": total,
            "updatedReplicas": updated,
            "availableReplicas": available,
        },
    }


def pod(name: str, digest: str, waiting: str | None = None) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "metadata": {"name": name},
        "spec": {"containers": containers(digest)},
        "status": {"phase": "Running", "containerStatuses": [{"name": "service", "state": state}]},
    }


def test_ready_without_a_visible_deployment_is_done() -> None:
    assert assess(dsvc(), None, [], NEW).done


def test_stale_ready_from_the_previous_rollout_is_not_done() -> None:
    assert not assess(dsvc(), deployment("old"), [], NEW).done
    assert not assess(dsvc(), deployment("new", updated=1, total=2), [], NEW).done
    assert not assess(dsvc(), deployment("new", available=0), [], NEW).done
    assert assess(dsvc(), deployment("new"), [], NEW).done


def test_status_of_an_older_generation_does_not_count() -> None:
    assert not assess(dsvc(observed=1), deployment("new"), [], NEW).done
    old_failure = assess(dsvc(ready=False, observed=1, phase="failed"), None, [], NEW)
    assert old_failure.failure is None
    current_failure = assess(dsvc(ready=False, phase="failed"), None, [], NEW)
    assert current_failure.failure == "CrashLoopBackOff: container service keeps crashing"
    assert current_failure.crashed_pod is None
    with_pod = assess(
        dsvc(ready=False, phase="failed"), None, [pod("p", "new", "CrashLoopBackOff")], NEW
    )
    assert with_pod.failure == "CrashLoopBackOff: container service keeps crashing"
    assert with_pod.crashed_pod == "p"


def test_crashing_pod_of_this_deploy_fails_fast_but_old_pods_do_not() -> None:
    old_crash = assess(
        dsvc(ready=False, phase="pending"), None, [pod("a", "old", "CrashLoopBackOff")], NEW
    )
    assert old_crash.failure is None
    new_crash = assess(
        dsvc(ready=False, phase="pending"), None, [pod("b", "new", "CrashLoopBackOff")], NEW
    )
    assert new_crash.failure == "pod b: CrashLoopBackOff"
    assert new_crash.crashed_pod == "b"
    starting = assess(
        dsvc(ready=False, phase="pending"), None, [pod("c", "new", "ContainerCreating")], NEW
    )
    assert starting.failure is None
    assert "pod c: ContainerCreating" in starting.summary


def test_image_deploys_are_recognised_by_image() -> None:
    expected = Expectation("die_roller", "1.0.0", generation=1, image="localhost/die-roller:1.0.0")
    assert expected.matches(containers("x", image="localhost/die-roller:1.0.0"))
    assert not expected.matches(containers("x", image="localhost/die-roller:0.9.0"))


def test_rollout_complete_needs_the_observed_generation() -> None:
    behind = deployment("new")
    behind["status"]["observedGeneration"] = 4
    assert not rollout_complete(behind)
    assert rollout_complete(deployment("new"))
