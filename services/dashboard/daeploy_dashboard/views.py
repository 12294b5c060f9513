"""What the pages show, as plain data: pure functions of the objects the API server returned.

No I/O here, so the tables are tested without a cluster. The readers of DaeployService objects
and Events are the CLI's own (daeploy.cli.resource, daeploy.cli.table): ``daeploy ls`` and the
services page, ``daeploy notifications`` and the notifications page agree by construction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from daeploy.cli.resource import (
    Obj,
    is_main,
    object_name,
    parse_time,
    problem,
    sort_services,
    spec_name,
    spec_version,
    status,
    status_text,
)
from daeploy.cli.table import _count as event_count  # the CLI's reading of Event counts
from daeploy.cli.table import _last_seen as event_last_seen
from daeploy.cli.table import image_text, traffic_text
from daeploy.contract import (
    DASHBOARD_ANNOTATION,
    SERVICE_LABEL,
    SEVERITY_ANNOTATION,
    VERSION_LABEL,
)
from daeploy.names import version_path

PAGE_SIZE = 50
SEVERITIES = ("CRITICAL", "WARNING", "INFO")


@dataclass(frozen=True)
class VersionRow:
    """One version of a service, as a row of the services table."""

    name: str
    version: str
    object_name: str
    main: bool
    traffic: str
    status: str
    problem: str
    running_since: datetime | None
    replicas: str
    runs: str
    docs_path: str

    @property
    def status_kind(self) -> str:
        """A CSS word for the status: ok, wait or bad."""
        if self.status == "running":
            return "ok"
        if self.status in ("failed", "stopped", "terminating"):
            return "bad"
        return "wait"


@dataclass(frozen=True)
class ServiceGroup:
    """A service name with all its versions, oldest version first."""

    name: str
    versions: list[VersionRow]

    @property
    def main_version(self) -> str:
        mains = [row.version for row in self.versions if row.main]
        return mains[-1] if mains else ""


@dataclass(frozen=True)
class Page:
    """One page of service names (never a version split from its name)."""

    groups: list[ServiceGroup]
    number: int
    pages: int
    names: int
    versions: int
    query: str = ""

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def _replicas(obj: Obj) -> str:
    """``available/desired`` pods, as far as the operator has reported them."""
    wanted = (obj.get("spec") or {}).get("replicas")
    wanted = 1 if wanted is None else int(wanted)
    available = status(obj).get("availableReplicas")
    return f"{int(available or 0)}/{wanted}"


def _running_since(obj: Obj) -> datetime | None:
    return parse_time(status(obj).get("runningSince"))


def version_row(obj: Obj) -> VersionRow:
    name, version = spec_name(obj), spec_version(obj)
    state = status_text(obj)
    return VersionRow(
        name=name,
        version=version,
        object_name=object_name(obj),
        main=is_main(obj),
        traffic=traffic_text(obj),
        status=state,
        problem="" if state == "running" else (problem(obj) or ""),
        running_since=_running_since(obj) if state == "running" else None,
        replicas=_replicas(obj),
        runs=image_text(obj),
        docs_path=f"{version_path(name, version)}/docs",
    )


def service_groups(objs: Iterable[Obj], query: str = "") -> list[ServiceGroup]:
    """Versions grouped by name, names in order; ``query`` keeps names that contain it."""
    wanted = query.strip().lower()
    groups: dict[str, list[VersionRow]] = {}
    for obj in sort_services([o for o in objs if wanted in spec_name(o).lower()]):
        row = version_row(obj)
        groups.setdefault(row.name, []).append(row)
    return [ServiceGroup(name, rows) for name, rows in groups.items()]


def paginate(
    groups: list[ServiceGroup], number: int, size: int = PAGE_SIZE, query: str = ""
) -> Page:
    """Page ``number`` (from 1; out of range is clamped) of ``size`` names."""
    pages = max(1, math.ceil(len(groups) / size))
    number = min(max(1, number), pages)
    chosen = groups[(number - 1) * size : number * size]
    versions = sum(len(group.versions) for group in groups)
    return Page(chosen, number, pages, len(groups), versions, query)


# --- notifications ---------------------------------------------------------------------------


@dataclass
class NotificationStack:
    """Every Event with one service, severity and message: the versions that said it, how
    often, and when first and last."""

    service: str
    severity: str
    message: str
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    versions: list[str] = field(default_factory=list)

    @property
    def severity_kind(self) -> str:
        return {"CRITICAL": "bad", "WARNING": "warn"}.get(self.severity, "info")


def _annotations(event: dict[str, Any]) -> dict[str, str]:
    return (event.get("metadata") or {}).get("annotations") or {}


def event_severity(event: dict[str, Any]) -> str:
    default = "WARNING" if event.get("type") == "Warning" else "INFO"
    return str(_annotations(event).get(SEVERITY_ANNOTATION) or default).upper()


def _first_seen(event: dict[str, Any]) -> datetime | None:
    for text in (
        event.get("firstTimestamp"),
        event.get("eventTime"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        moment = parse_time(text)
        if moment is not None:
            return moment
    return event_last_seen(event)


def notification_stacks(
    events: Iterable[dict[str, Any]], severity: str = "", service: str = ""
) -> list[NotificationStack]:
    """Stacks, newest first; Events marked ``dashboard=False`` are left out, as notify()
    promises. ``severity`` and ``service`` (empty: all) filter."""
    stacks: dict[tuple[str, str, str], NotificationStack] = {}
    for event in events:
        notes = _annotations(event)
        if str(notes.get(DASHBOARD_ANNOTATION, "")).lower() == "false":
            continue
        level = event_severity(event)
        name = str(notes.get(SERVICE_LABEL) or "")
        if (severity and level != severity.upper()) or (service and name != service):
            continue
        message = " ".join(str(event.get("message") or "").split())
        stack = stacks.setdefault((name, level, message), NotificationStack(name, level, message))
        stack.count += event_count(event)
        first, last = _first_seen(event), event_last_seen(event)
        if first is not None and (stack.first is None or first < stack.first):
            stack.first = first
        if last is not None and (stack.last is None or last > stack.last):
            stack.last = last
        version = str(notes.get(VERSION_LABEL) or "")
        if version and version not in stack.versions:
            stack.versions.append(version)
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(stacks.values(), key=lambda s: (s.last or oldest, s.count), reverse=True)


def notification_services(events: Iterable[dict[str, Any]]) -> list[str]:
    """The services that have notifications, for the filter's choices."""
    return sorted({str(_annotations(e).get(SERVICE_LABEL) or "") for e in events} - {""})


def stacks_signature(stacks: list[NotificationStack]) -> tuple[tuple[Any, ...], ...]:
    """What changes when a notification arrives or repeats: the stream sends only then."""
    return tuple((s.service, s.severity, s.message, s.count, s.last) for s in stacks)


# --- logs ------------------------------------------------------------------------------------


def log_lines(text: str, search: str = "", last: int | None = None) -> list[str]:
    """The lines of a log that contain ``search`` (case-insensitive), the last ``last`` of them."""
    wanted = search.lower()
    lines = [line for line in text.splitlines() if wanted in line.lower()]
    return lines[-last:] if last else lines


def matches(line: str, search: str) -> bool:
    return search.lower() in line.lower()


# --- monitored values ------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """A numeric variable over time, as an SVG polyline in a ``width`` x ``height`` box."""

    variable: str
    points: str
    count: int
    low: float
    high: float
    first: datetime | None
    last: datetime | None
    latest: float
    width: int
    height: int


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def chart(
    variable: str, series: list[tuple[str, Any]], width: int = 600, height: int = 160
) -> Chart | None:
    """The numeric points of a stored series (oldest first), scaled into the box; None when
    the variable holds no numbers (text and JSON values are not charted)."""
    parsed: list[tuple[datetime, float]] = []
    for stamp, value in series:
        number, moment = _number(value), parse_time(str(stamp).replace(" ", "T"))
        if number is not None and moment is not None:
            parsed.append((moment, number))
    if not parsed:
        return None
    start, end = parsed[0][0].timestamp(), parsed[-1][0].timestamp()
    values = [number for _, number in parsed]
    low, high = min(values), max(values)
    span_t, span_v = (end - start) or 1.0, (high - low) or 1.0
    pad = 4
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    points = []
    for moment, number in parsed:
        x = pad + (moment.timestamp() - start) / span_t * inner_w if end > start else width / 2
        y = pad + inner_h - (number - low) / span_v * inner_h if high > low else height / 2
        points.append(f"{x:.1f},{y:.1f}")
    return Chart(
        variable, " ".join(points), len(parsed), low, high, parsed[0][0], parsed[-1][0],
        values[-1], width, height,
    )  # fmt: skip
