"""The tables: the tutorial's look, and sensible rows from partial statuses."""

from __future__ import annotations

from typing import Any

from daeploy.cli.table import format_services, notification_rows, service_rows
from daeploy.contract import SERVICE_LABEL, SEVERITY_ANNOTATION, VERSION_LABEL

TUTORIAL_YATZEE = """\
MAIN    NAME    VERSION    STATUS    RUNNING
------  ------  ---------  --------  -----------------------------------
*       yatzee  1.0.0      running   Running (since 2020-11-24 12:15:57)"""


def dsvc(
    name: str, version: str, main: bool = False, status: dict[str, Any] | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": f"{name}-{version}"},
        "spec": {"name": name, "version": version, "main": main},
    }
    if status is not None:
        obj["status"] = status
    return obj


def ready(since: str = "2020-11-24T11:56:18Z") -> dict[str, Any]:
    return {"type": "Ready", "status": "True", "reason": "Ready", "lastTransitionTime": since}


def test_operator_status_gives_the_tutorial_table() -> None:
    obj = dsvc(
        "yatzee",
        "1.0.0",
        main=True,
        status={
            "phase": "running",
            "mainMark": "*",
            "running": "Running (since 2020-11-24 12:15:57)",
            "conditions": [ready()],
        },
    )
    assert format_services([obj]) == TUTORIAL_YATZEE


def test_main_mark_comes_from_the_operator_not_the_claim() -> None:
    claimed_but_not_routed = dsvc(
        "die_roller", "2.0.0", main=True, status={"mainMark": "", "conditions": [ready()]}
    )
    routed = dsvc("die_roller", "1.0.0", status={"mainMark": "*", "conditions": [ready()]})
    rows = service_rows([claimed_but_not_routed, routed])
    assert [row[:3] for row in rows] == [["*", "die_roller", "1.0.0"], ["", "die_roller", "2.0.0"]]


def test_without_operator_fields_the_spec_and_ready_condition_are_used() -> None:
    rows = service_rows(
        [
            dsvc("a", "1.0.0", main=True),
            dsvc("b", "1.0.0", status={"conditions": [ready()]}),
            dsvc(
                "c",
                "1.0.0",
                status={
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "False",
                            "reason": "Deploying",
                            "message": "0/1 replicas available",
                        },
                    ]
                },
            ),
        ]
    )
    assert rows == [
        ["*", "a", "1.0.0", "pending", "Waiting for the operator"],
        ["", "b", "1.0.0", "running", "Running (since 2020-11-24 11:56:18)"],
        ["", "c", "1.0.0", "pending", "Deploying: 0/1 replicas available"],
    ]


def test_iso_running_time_is_shown_in_local_time() -> None:
    obj = dsvc("a", "1.0.0", status={"phase": "Running", "running": "2021-01-02T03:04:05Z"})
    assert service_rows([obj])[0][3:] == ["running", "Running (since 2021-01-02 03:04:05)"]


def test_terminating_versions_say_so() -> None:
    obj = dsvc("a", "1.0.0", status={"phase": "running"})
    obj["metadata"]["deletionTimestamp"] = "2021-01-02T03:04:05Z"
    assert service_rows([obj])[0][3] == "terminating"


def test_rows_sort_by_name_then_semantic_version() -> None:
    versions = ["1.10.0", "1.9.0", "1.0.0", "1.0.0-rc.1", "1.0.0-alpha", "2.0.0"]
    objs = [dsvc("b", v) for v in versions] + [dsvc("a", "3.0.0")]
    order = [(row[1], row[2]) for row in service_rows(objs)]
    assert order == [
        ("a", "3.0.0"),
        ("b", "1.0.0-alpha"),
        ("b", "1.0.0-rc.1"),
        ("b", "1.0.0"),
        ("b", "1.9.0"),
        ("b", "1.10.0"),
        ("b", "2.0.0"),
    ]


def event(message: str, **fields: Any) -> dict[str, Any]:
    annotations = fields.pop("annotations", {})
    return {"metadata": {"annotations": annotations}, "message": message, **fields}


def test_notifications_newest_first_with_counts_and_severity() -> None:
    yatzee = {SERVICE_LABEL: "yatzee", VERSION_LABEL: "1.0.0"}
    events = [
        event(
            "YATZEE!!!",
            count=3,
            lastTimestamp="2020-11-24T12:20:00Z",
            annotations={**yatzee, SEVERITY_ANNOTATION: "INFO"},
        ),
        event(
            "disk  almost\nfull",
            type="Warning",
            series={"count": 7, "lastObservedTime": "2020-11-24T12:30:00.500000Z"},
            eventTime="2020-11-24T12:00:00.000000Z",
            annotations={SERVICE_LABEL: "store", VERSION_LABEL: "2.0.0"},
        ),
        event(
            "oldest",
            eventTime="2020-11-24T11:00:00.000000Z",
            annotations={**yatzee, SEVERITY_ANNOTATION: "CRITICAL"},
        ),
    ]
    assert notification_rows(events) == [
        ["WARNING", "store", "2.0.0", "7", "2020-11-24 12:30:00", "disk almost full"],
        ["INFO", "yatzee", "1.0.0", "3", "2020-11-24 12:20:00", "YATZEE!!!"],
        ["CRITICAL", "yatzee", "1.0.0", "1", "2020-11-24 11:00:00", "oldest"],
    ]


def test_notification_without_any_time_goes_last() -> None:
    rows = notification_rows(
        [event("timeless"), event("dated", lastTimestamp="2020-01-01T00:00:00Z")]
    )
    assert [row[5] for row in rows] == ["dated", "timeless"]
