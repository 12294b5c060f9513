"""Conditions and status from what Deployments and pods show."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from dsvc_objects import T0, service_version

from daeploy.contract import HOST_ANNOTATION, ROLLOUT_REASON, ROUTE_HELD_REASON
from daeploy.names import service_account_name, service_path, version_path
from daeploy_operator import status as st
from daeploy_operator.routing import MainRoute


def _pod(name: str = "p1", **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {"containerStatuses": [{"name": "service", "image": "r/x:1", **container}]},
    }


def _deployment(available: int, conditions: list[dict] | None = None) -> dict[str, Any]:
    return {"status": {"availableReplicas": available, "conditions": conditions or []}}


WAITING_PULL = {"state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling"}}}
NEVER_PULL = {"state": {"waiting": {"reason": "ErrImageNeverPull", "message": "never pull"}}}
CRASHING = {
    "restartCount": 4,
    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
    "lastState": {
        "terminated": {"exitCode": 3, "reason": "Error", "message": "ImportError: no module x"}
    },
}


@pytest.mark.parametrize(
    ("replicas", "deployment", "pods", "status", "reason", "in_message"),
    [
        (1, _deployment(1), [], True, "MinimumReplicasAvailable", "1/1"),
        (2, _deployment(1), [], False, "Deploying", "1/2"),
        (1, None, [], False, "Deploying", "0/1"),
        (0, _deployment(0), [], False, "ScaledToZero", "spec.replicas is 0"),
        (1, _deployment(0), [_pod(**WAITING_PULL)], False, "ImagePullBackOff", "r/x:1"),
        (1, _deployment(0), [_pod(**NEVER_PULL)], False, "ErrImageNeverPull", "never pull"),
        (1, _deployment(0), [_pod(**CRASHING)], False, "CrashLoopBackOff", "ImportError"),
        (
            1,
            _deployment(0),
            [_pod("a", **CRASHING), _pod("b", **WAITING_PULL)],
            False,
            "ImagePullBackOff",
            "pull",
        ),
        (
            1,
            _deployment(
                0,
                [
                    {
                        "type": "ReplicaFailure",
                        "status": "True",
                        "message": f'serviceaccount "{service_account_name("x")}" not found',
                    }
                ],
            ),
            [],
            False,
            "ReplicaFailure",
            "serviceaccount",
        ),
        (
            1,
            _deployment(
                0,
                [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
            ),
            [],
            False,
            "ProgressDeadlineExceeded",
            "0/1",
        ),
        (
            1,
            _deployment(0),
            [
                {
                    "metadata": {"name": "p"},
                    "status": {
                        "conditions": [
                            {
                                "type": "PodScheduled",
                                "status": "False",
                                "reason": "Unschedulable",
                                "message": "0/1 nodes: insufficient memory",
                            }
                        ]
                    },
                }
            ],
            False,
            "Unschedulable",
            "insufficient memory",
        ),
        # A healthy rollout keeps the version available even if a new pod crashes.
        (1, _deployment(1), [_pod(**CRASHING)], True, "MinimumReplicasAvailable", "1/1"),
    ],
)
def test_availability(
    replicas: int,
    deployment: dict | None,
    pods: list[dict],
    status: bool,
    reason: str,
    in_message: str,
) -> None:
    cond = st.availability(service_version(replicas=replicas), deployment, pods)
    assert (cond.type, cond.status, cond.reason) == ("Available", status, reason)
    assert in_message in cond.message


def test_crash_message_carries_exit_code_and_termination_message() -> None:
    reason, message = st.pod_failure([_pod(**CRASHING)])
    assert reason == "CrashLoopBackOff"
    assert "exit code 3" in message
    assert "ImportError: no module x" in message


def test_terminating_pods_are_ignored() -> None:
    pod = _pod(**CRASHING)
    pod["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert st.pod_failure([pod]) is None


ROUTE_V2_PENDING = MainRoute(target="1.0.0", winner="2.0.0")


@pytest.mark.parametrize(
    ("version", "main", "route", "holder", "status", "reason"),
    [
        ("1.0.0", True, MainRoute("1.0.0", "1.0.0"), "demo", True, "MainVersion"),
        ("2.0.0", True, ROUTE_V2_PENDING, "demo", False, "MainPendingAvailability"),
        ("1.0.0", True, ROUTE_V2_PENDING, "demo", True, "MainVersion"),
        ("1.0.0", True, MainRoute("2.0.0", "2.0.0"), "demo", True, "MainClaimSuperseded"),
        ("3.0.0", False, MainRoute("2.0.0", "2.0.0"), "demo", True, "VersionRouted"),
        ("1.0.0", False, MainRoute(None, None), "demo", True, "NoMainVersion"),
        ("1.0.0", True, MainRoute("1.0.0", "1.0.0"), "team-a", False, ROUTE_HELD_REASON),
    ],
)
def test_routed(
    version: str, main: bool, route: MainRoute, holder: str, status: bool, reason: str
) -> None:
    v = service_version("die_roller", version, main=main, namespace="demo")
    cond = st.routed(v, route, holder_namespace=holder, host="d.example.com")
    assert (cond.status, cond.reason) == (status, reason)


def test_route_held_names_the_holder_and_the_fix() -> None:
    v = service_version(namespace="team-b")
    cond = st.routed(v, MainRoute("1.0.0", "1.0.0"), holder_namespace="team-a", host="")
    assert "'team-a'" in cond.message
    assert HOST_ANNOTATION in cond.message


def test_no_main_still_routes_the_version_path() -> None:
    v = service_version("die_roller", "1.0.0")
    cond = st.routed(v, MainRoute(None, None), holder_namespace="demo", host="")
    assert f"{version_path('die_roller', '1.0.0')} routes here" in cond.message
    assert f"{service_path('die_roller')} routes nowhere" in cond.message


@pytest.mark.parametrize(
    ("available", "routed", "status", "reason"),
    [
        (True, True, True, "Ready"),
        (False, True, False, "CrashLoopBackOff"),
        (True, False, False, "MainPendingAvailability"),
        (False, False, False, "CrashLoopBackOff"),
    ],
)
def test_ready_is_available_and_routed(
    available: bool, routed: bool, status: bool, reason: str
) -> None:
    a = st.Condition("Available", available, "Ok" if available else "CrashLoopBackOff", "a")
    r = st.Condition("Routed", routed, "MainVersion" if routed else "MainPendingAvailability", "r")
    cond = st.ready(a, r)
    assert (cond.type, cond.status, cond.reason) == ("Ready", status, reason)


def test_transition_time_moves_only_when_status_changes() -> None:
    first = st.merge_conditions([], [st.Condition("Available", False, "Deploying", "0/1")], T0, 1)
    later = T0 + timedelta(minutes=1)
    same = st.merge_conditions(first, [st.Condition("Available", False, "Other", "x")], later, 2)
    flipped = st.merge_conditions(same, [st.Condition("Available", True, "Ok", "1/1")], later, 2)
    assert same[0]["lastTransitionTime"] == first[0]["lastTransitionTime"] == "2024-05-01T12:00:00Z"
    assert same[0]["observedGeneration"] == 2
    assert flipped[0]["lastTransitionTime"] == "2024-05-01T12:01:00Z"


def _status(version: Any, available: st.Condition, route: MainRoute, **kw: Any) -> dict:
    routed = st.routed(version, route, holder_namespace=version.namespace, host=kw.get("host", ""))
    return st.build_status(
        version,
        available=available,
        routed_=routed,
        route=route,
        claimed_at=kw.get("claimed_at"),
        host=kw.get("host", ""),
        routes_here=kw.get("routes_here", True),
        available_replicas=1 if available.status else 0,
        now=T0,
    )


def test_status_of_a_running_main_version() -> None:
    v = service_version("die_roller", "1.0.0", main=True)
    ok = st.Condition("Available", True, "MinimumReplicasAvailable", "1/1 replicas available")
    status = _status(
        v, ok, MainRoute("1.0.0", "1.0.0"), host="d.example.com", claimed_at="2024-05-01T12:00:00Z"
    )
    assert status["phase"] == "running"
    assert status["mainMark"] == "*"
    assert status["main"] is True
    assert status["running"] == "Running (since 2024-05-01 12:00:00)"
    assert status["url"] == "http://d.example.com" + version_path("die_roller", "1.0.0")
    assert status["serviceUrl"] == "http://d.example.com" + service_path("die_roller")
    assert status["mainClaimedAt"] == "2024-05-01T12:00:00Z"
    assert status["observedGeneration"] == 1
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Available", "Routed"]
    assert status["conditions"][0]["status"] == "True"


@pytest.mark.parametrize(
    ("reason", "phase", "running"),
    [
        ("ImagePullBackOff", "failed", "Not running (ImagePullBackOff)"),
        ("CrashLoopBackOff", "failed", "Not running (CrashLoopBackOff)"),
        ("ScaledToZero", "stopped", "Stopped"),
        ("Deploying", "pending", "Starting"),
    ],
)
def test_status_of_a_version_that_does_not_run(reason: str, phase: str, running: str) -> None:
    v = service_version("die_roller", "2.0.0")
    status = _status(v, st.Condition("Available", False, reason, "m"), MainRoute("1.0.0", "1.0.0"))
    assert (status["phase"], status["running"]) == (phase, running)
    assert status["mainMark"] == ""
    assert "serviceUrl" not in status
    assert "mainClaimedAt" not in status
    assert status["url"] == version_path("die_roller", "2.0.0")


def test_status_without_our_routes_has_no_urls() -> None:
    v = service_version("die_roller", "1.0.0", main=True)
    ok = st.Condition("Available", True, "MinimumReplicasAvailable", "1/1")
    status = _status(v, ok, MainRoute("1.0.0", "1.0.0"), routes_here=False)
    assert "url" not in status
    assert status["mainMark"] == ""


def test_events_on_transitions_only() -> None:
    v = service_version("die_roller", "1.0.0", main=True)
    pulling = st.Condition("Available", False, "ImagePullBackOff", "cannot pull")
    first = _status(v, pulling, MainRoute("1.0.0", "1.0.0"))
    events = st.status_events({}, first)
    assert [(e.type, e.reason) for e in events] == [
        ("Warning", "ImagePullBackOff"),
        ("Normal", "MainVersion"),
    ]
    assert st.status_events(first, first) == []
    ok = st.Condition("Available", True, "MinimumReplicasAvailable", "1/1")
    healed = _status(
        service_version("die_roller", "1.0.0", main=True, status=first),
        ok,
        MainRoute("1.0.0", "1.0.0"),
    )
    assert [(e.type, e.reason) for e in st.status_events(first, healed)] == [
        ("Normal", "MinimumReplicasAvailable")
    ]


@pytest.mark.parametrize(
    ("deployment", "in_progress"),
    [
        (None, False),
        (
            {
                "metadata": {"generation": 2},
                "spec": {"replicas": 1},
                "status": {"observedGeneration": 1, "replicas": 1, "availableReplicas": 1},
            },
            True,  # the controller has not seen the new spec yet
        ),
        (
            {
                "metadata": {"generation": 2},
                "spec": {"replicas": 1},
                "status": {
                    "observedGeneration": 2,
                    "replicas": 2,
                    "updatedReplicas": 1,
                    "availableReplicas": 2,
                },
            },
            True,  # an old pod still serves next to the new one
        ),
        (
            {
                "metadata": {"generation": 2},
                "spec": {"replicas": 1},
                "status": {
                    "observedGeneration": 2,
                    "replicas": 1,
                    "updatedReplicas": 1,
                    "availableReplicas": 1,
                },
            },
            False,
        ),
    ],
    ids=["no-deployment", "spec-not-observed", "old-pod-left", "complete"],
)
def test_ready_waits_for_the_rollout_of_the_current_spec(deployment, in_progress) -> None:
    available = st.Condition(st.AVAILABLE, True, "MinimumReplicasAvailable", "1/1")
    routed = st.Condition(st.ROUTED, True, "MainVersion", "routes here")
    rolling = st.rollout(deployment)
    ready = st.ready(available, routed, rolling)
    assert ready.status is not in_progress
    assert (ready.reason == ROLLOUT_REASON) is in_progress
