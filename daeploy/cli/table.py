"""The tables the CLI prints: services as in the tutorial, and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tabulate import tabulate

from daeploy.cli.resource import (
    Obj,
    is_main,
    local_time,
    parse_time,
    running_text,
    sort_services,
    spec_name,
    spec_version,
    status_text,
)
from daeploy.contract import SERVICE_LABEL, SEVERITY_ANNOTATION, VERSION_LABEL

SERVICE_HEADERS = ["MAIN", "NAME", "VERSION", "STATUS", "RUNNING"]
NOTIFICATION_HEADERS = ["SEVERITY", "SERVICE", "VERSION", "COUNT", "LAST SEEN", "MESSAGE"]


def _render(headers: list[str], rows: list[list[str]]) -> str:
    # No number parsing: versions and counts are shown exactly as written.
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


def service_rows(objs: list[Obj]) -> list[list[str]]:
    return [
        [
            "*" if is_main(obj) else "",
            spec_name(obj),
            spec_version(obj),
            status_text(obj),
            running_text(obj),
        ]
        for obj in sort_services(objs)
    ]


def image_text(obj: Obj) -> str:
    """What a version runs: an image (a digest shortened as ``@sha256:<12>``) or its folder."""
    spec = obj.get("spec") or {}
    image = str(spec.get("image") or "")
    if not image:
        source = (spec.get("source") or {}).get("configMap")
        return f"folder (ConfigMap {source})" if source else ""
    name, _, digest = image.partition("@sha256:")
    return f"{name}@sha256:{digest[:12]}" if digest else image


def format_services(objs: list[Obj], wide: bool = False) -> str:
    """The tutorial's table; ``wide`` adds what each version runs."""
    rows = service_rows(objs)
    if not wide:
        return _render(SERVICE_HEADERS, rows)
    images = [image_text(obj) for obj in sort_services(objs)]
    return _render(
        [*SERVICE_HEADERS, "IMAGE"], [[*r, i] for r, i in zip(rows, images, strict=True)]
    )


def _last_seen(event: dict[str, Any]) -> datetime | None:
    series = event.get("series") or {}
    for text in (
        series.get("lastObservedTime"),
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        moment = parse_time(text)
        if moment is not None:
            return moment
    return None


def _count(event: dict[str, Any]) -> int:
    series = event.get("series") or {}
    return int(series.get("count") or event.get("count") or 1)


def notification_rows(events: list[dict[str, Any]]) -> list[list[str]]:
    """Newest first; severity, service and version from the annotations ``notify`` sets."""

    def newest_first(event: dict[str, Any]) -> float:
        moment = _last_seen(event)
        return -moment.timestamp() if moment else float("inf")

    rows = []
    for event in sorted(events, key=newest_first):
        notes = (event.get("metadata") or {}).get("annotations") or {}
        default_severity = "WARNING" if event.get("type") == "Warning" else "INFO"
        moment = _last_seen(event)
        rows.append(
            [
                notes.get(SEVERITY_ANNOTATION, default_severity),
                notes.get(SERVICE_LABEL, ""),
                notes.get(VERSION_LABEL, ""),
                str(_count(event)),
                local_time(moment) if moment else "",
                " ".join(str(event.get("message") or "").split()),
            ]
        )
    return rows


def format_notifications(events: list[dict[str, Any]]) -> str:
    return _render(NOTIFICATION_HEADERS, notification_rows(events))
