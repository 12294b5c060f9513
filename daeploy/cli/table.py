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


def traffic_text(obj: Obj) -> str:
    """The operator's word on the version's share: "main 90%", "canary 10%", "shadow"."""
    return str(((obj.get("status") or {}).get("traffic")) or "")


def _shares_traffic(objs: list[Obj]) -> bool:
    """Whether any version has a share besides a whole main: only then is TRAFFIC worth a
    column, so the tutorial's table stays as it was."""
    return any(traffic_text(obj) not in ("", "main 100%") for obj in objs)


def format_services(objs: list[Obj], wide: bool = False) -> str:
    """The tutorial's table; TRAFFIC once shadows or canaries exist; ``wide`` adds TRAFFIC
    always and what each version runs."""
    ordered = sort_services(objs)
    headers, rows = list(SERVICE_HEADERS), service_rows(objs)
    extra: list[tuple[str, list[str]]] = []
    if wide or _shares_traffic(objs):
        extra.append(("TRAFFIC", [traffic_text(obj) for obj in ordered]))
    if wide:
        extra.append(("IMAGE", [image_text(obj) for obj in ordered]))
    for header, column in extra:
        headers.append(header)
        rows = [[*row, cell] for row, cell in zip(rows, column, strict=True)]
    return _render(headers, rows)


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
