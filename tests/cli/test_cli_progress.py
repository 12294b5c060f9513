"""When a deploy counts as done: the operator's Ready at the generation the CLI wrote; it stops
at once on a reason that waiting cannot fix. Pods are news, never a decision."""

from __future__ import annotations

from typing import Any

from daeploy.cli.progress import Expectation, assess
from daeploy.contract import NOT_OWNED_REASON, ROLLOUT_REASON

NEW = Expectation("die_roller", "1.0.0", generation=2)


def dsvc(
    ready: bool = True,
    observed: int | None = 2,
    reason: str | None = None,
    message: str = "",
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": reason or ("Ready" if ready else "Deploying"),
                "message": message,
            }
        ],
    }
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"generation": 2}, "spec": {}, "status": status}


def pod(name: str, waiting: str | None = None) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "metadata": {"name": name},
        "status": {"phase": "Running", "containerStatuses": [{"name": "service", "state": state}]},
    }


def test_ready_at_the_written_generation_is_done() -> None:
    assert assess(dsvc(), [], NEW).done


def test_ready_from_an_older_generation_is_not_done() -> None:
    assert not assess(dsvc(observed=1), [], NEW).done
    assert not assess(dsvc(observed=None), [], NEW).done


def test_a_rollout_in_progress_is_waited_for() -> None:
    state = assess(dsvc(ready=False, reason=ROLLOUT_REASON, message="0/1 pods"), [], NEW)
    assert not state.done and state.failure is None
    assert ROLLOUT_REASON in state.summary


def test_a_permanent_reason_stops_the_wait_at_once() -> None:
    taken = assess(dsvc(ready=False, reason=NOT_OWNED_REASON, message="Service x taken"), [], NEW)
    assert taken.failure == f"{NOT_OWNED_REASON}: Service x taken"
    crash = assess(
        dsvc(ready=False, reason="CrashLoopBackOff", message="container service keeps crashing"),
        [pod("p", "CrashLoopBackOff")],
        NEW,
    )
    assert crash.failure == "CrashLoopBackOff: container service keeps crashing"
    assert crash.crashed_pod == "p"


def test_a_permanent_reason_of_an_older_generation_does_not_stop_it() -> None:
    old = assess(dsvc(ready=False, observed=1, reason="CrashLoopBackOff"), [], NEW)
    assert old.failure is None and not old.done


def test_pods_are_shown_but_decide_nothing() -> None:
    starting = assess(dsvc(ready=False), [pod("c", "ContainerCreating")], NEW)
    assert starting.failure is None and not starting.done
    assert "pod c: ContainerCreating" in starting.summary
    crashing_but_operator_silent = assess(dsvc(ready=False), [pod("b", "CrashLoopBackOff")], NEW)
    assert crashing_but_operator_silent.failure is None
