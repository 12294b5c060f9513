"""The dashboard's tables as plain data: pure functions of DaeployServices and Events."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from dsvc_objects import dsvc_object

from daeploy.contract import (
    DASHBOARD_ANNOTATION,
    EVENT_REASON,
    ROUTE_PREFIX,
    SERVICE_LABEL,
    SEVERITY_ANNOTATION,
    VERSION_LABEL,
)
from daeploy_dashboard import views


def ready(since: str = "2024-05-01T12:00:00Z", **extra: Any) -> dict[str, Any]:
    return {
        "phase": "running",
        "runningSince": since,
        "availableReplicas": 1,
        "conditions": [{"type": "Ready", "status": "True"}],
        **extra,
    }


def test_versions_group_under_their_name_in_semver_order_with_the_main_marked() -> None:
    objs = [
        dsvc_object("yatzee", "1.0.0", status=ready(mainMark="*", traffic="main 100%")),
        dsvc_object("die_roller", "1.10.0", status=ready(mainMark="", traffic="shadow")),
        dsvc_object("die_roller", "1.9.0", status=ready(mainMark="*", traffic="main 100%")),
    ]
    groups = views.service_groups(objs)
    assert [g.name for g in groups] == ["die_roller", "yatzee"]
    die = groups[0]
    assert [r.version for r in die.versions] == ["1.9.0", "1.10.0"]
    assert die.main_version == "1.9.0"
    first, second = die.versions
    assert first.main and not second.main
    assert second.traffic == "shadow"
    assert first.docs_path == f"{ROUTE_PREFIX}/die_roller_1.9.0/docs"
    assert first.running_since == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert first.replicas == "1/1" and first.status == "running" and first.status_kind == "ok"
    assert first.runs == "localhost/die-roller:1.9.0"


def test_a_version_that_is_not_running_says_why() -> None:
    failing = {
        "phase": "failed",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "CrashLoopBackOff", "message": "boom"}
        ],
    }
    (group,) = views.service_groups([dsvc_object("a", "1.0.0", status=failing, replicas=3)])
    (row,) = group.versions
    assert row.status == "failed" and row.status_kind == "bad"
    assert row.problem == "CrashLoopBackOff: boom"
    assert row.running_since is None
    assert row.replicas == "0/3"


def test_a_folder_deploy_shows_its_configmap() -> None:
    obj = dsvc_object("a", "1.0.0", source={"configMap": "a-src"})
    assert views.version_row(obj).runs == "folder (ConfigMap a-src)"


def test_search_and_pages_keep_versions_with_their_name() -> None:
    objs = [dsvc_object(f"svc_{i:04d}", v) for i in range(120) for v in ("1.0.0", "2.0.0")]
    groups = views.service_groups(objs)
    first = views.paginate(groups, 1, size=50)
    assert (first.number, first.pages, first.names, first.versions) == (1, 3, 120, 240)
    assert first.previous is None and first.next == 2
    assert len(first.groups) == 50 and all(len(g.versions) == 2 for g in first.groups)
    last = views.paginate(groups, 99, size=50)
    assert last.number == 3 and len(last.groups) == 20 and last.next is None
    found = views.service_groups(objs, query="SVC_011")
    assert [g.name for g in found] == [f"svc_011{i}" for i in range(10)]
    assert views.paginate([], 1).pages == 1


def event(
    message: str,
    severity: str = "INFO",
    service: str = "yatzee",
    version: str = "1.0.0",
    count: int = 1,
    first: str = "2024-05-01T12:00:00Z",
    last: str = "2024-05-01T12:00:00Z",
    **notes: str,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{service}.{message}",
            "annotations": {
                SEVERITY_ANNOTATION: severity,
                SERVICE_LABEL: service,
                VERSION_LABEL: version,
                **notes,
            },
        },
        "reason": EVENT_REASON,
        "type": "Normal" if severity == "INFO" else "Warning",
        "message": message,
        "count": count,
        "firstTimestamp": first,
        "lastTimestamp": last,
    }


def test_notifications_stack_by_service_severity_and_message_newest_first() -> None:
    events = [
        event("YATZEE!!!", count=3, first="2024-05-01T12:00:00Z", last="2024-05-01T12:05:00Z"),
        event("YATZEE!!!", version="2.0.0", count=2, first="2024-05-01T11:00:00Z",
              last="2024-05-01T12:01:00Z"),
        event("disk full", "CRITICAL", "die_roller", last="2024-05-01T12:10:00Z"),
        event("hidden", **{DASHBOARD_ANNOTATION: "false"}),
    ]  # fmt: skip
    stacks = views.notification_stacks(events)
    assert [(s.service, s.severity, s.message, s.count) for s in stacks] == [
        ("die_roller", "CRITICAL", "disk full", 1),
        ("yatzee", "INFO", "YATZEE!!!", 5),
    ]
    yatzee = stacks[1]
    assert yatzee.first == datetime(2024, 5, 1, 11, tzinfo=UTC)
    assert yatzee.last == datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
    assert yatzee.versions == ["1.0.0", "2.0.0"]
    assert stacks[0].severity_kind == "bad" and yatzee.severity_kind == "info"
    assert [s.message for s in views.notification_stacks(events, severity="critical")] == [
        "disk full"
    ]
    assert [s.message for s in views.notification_stacks(events, service="yatzee")] == ["YATZEE!!!"]
    assert views.notification_services(events) == ["die_roller", "yatzee"]


def test_the_stream_signature_changes_when_a_notification_repeats() -> None:
    before = views.stacks_signature(views.notification_stacks([event("a", count=1)]))
    after = views.stacks_signature(views.notification_stacks([event("a", count=2)]))
    assert before != after


def test_log_lines_search_and_tail() -> None:
    text = "GET /a 200\nPOST /play 200\nPOST /play 500\nboot\n"
    assert views.log_lines(text, "post") == ["POST /play 200", "POST /play 500"]
    assert views.log_lines(text, "", last=2) == ["POST /play 500", "boot"]
    assert views.log_lines(text, "play", last=1) == ["POST /play 500"]


def test_numeric_series_become_a_chart_and_text_does_not() -> None:
    series = [
        ("2024-05-01 12:00:00", 1.0),
        ("2024-05-01 12:00:10", 3.0),
        ("2024-05-01 12:00:20", 2.0),
    ]
    drawn = views.chart("x", series, width=100, height=50)
    assert drawn is not None
    assert (drawn.count, drawn.low, drawn.high, drawn.latest) == (3, 1.0, 3.0, 2.0)
    xs = [float(p.split(",")[0]) for p in drawn.points.split()]
    ys = [float(p.split(",")[1]) for p in drawn.points.split()]
    assert xs == sorted(xs) and xs[0] == 4.0 and xs[-1] == 96.0
    assert ys[1] == 4.0 and ys[0] == 46.0  # the highest value at the top
    assert views.chart("t", [("2024-05-01 12:00:00", "text")]) is None
    single = views.chart("one", [("2024-05-01 12:00:00", 5)], width=100, height=50)
    assert single is not None and single.points == "50.0,25.0"
