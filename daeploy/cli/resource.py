"""Reading DaeployService objects as the operator leaves them, tolerant of missing fields.

The operator writes ``.status.mainMark``, ``.status.phase``, ``.status.running`` and
``.status.conditions``; an object it has not reconciled yet has none of them, so every reader
here falls back to the spec and the ``Ready`` condition.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]


def spec_name(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("name", ""))


def spec_version(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("version", ""))


def object_name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def status(obj: Obj) -> dict[str, Any]:
    return obj.get("status") or {}


def condition(obj: Obj, kind: str) -> dict[str, Any] | None:
    for entry in status(obj).get("conditions") or []:
        if entry.get("type") == kind:
            return entry
    return None


def is_ready(obj: Obj) -> bool:
    ready = condition(obj, "Ready")
    return bool(ready) and ready.get("status") == "True"


def is_main(obj: Obj) -> bool:
    """Routed main per the operator's mark; before the operator speaks, the claim in the spec."""
    state = status(obj)
    if "mainMark" in state:
        return state.get("mainMark") == "*"
    return bool((obj.get("spec") or {}).get("main"))


def reports_main(objs: list[Obj]) -> bool:
    """Whether the operator marks the routed main, so a caller can wait for it."""
    return any("mainMark" in status(obj) for obj in objs)


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    # The API server writes UTC; a time without a zone is UTC too.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_time(moment: datetime) -> str:
    """The tutorial's ``2020-11-24 11:56:18``, in the reader's time zone."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def status_text(obj: Obj) -> str:
    """Short state word for the STATUS column (``running`` in the tutorial)."""
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "terminating"
    phase = status(obj).get("phase")
    if phase:
        return str(phase).lower()
    if is_ready(obj):
        return "running"
    ready = condition(obj, "Ready")
    if ready and ready.get("reason") in ("Failed", "Error", "CrashLoopBackOff"):
        return "failed"
    return "pending"


def problem(obj: Obj) -> str | None:
    """Why a version is not ready, from the ``Ready`` or ``Available`` condition."""
    for kind in ("Ready", "Available"):
        entry = condition(obj, kind)
        if entry and entry.get("status") != "True":
            reason = str(entry.get("reason") or "").strip()
            message = str(entry.get("message") or "").strip()
            if reason and message:
                return f"{reason}: {message}"
            if reason or message:
                return reason or message
    return None


def running_text(obj: Obj, width: int = 70) -> str:
    """The RUNNING column: ``Running (since ...)``, or why it is not running."""
    running = status(obj).get("running")
    if isinstance(running, str) and running.strip():
        moment = parse_time(running.strip())
        return f"Running (since {local_time(moment)})" if moment else running.strip()
    if is_ready(obj):
        ready = condition(obj, "Ready") or {}
        moment = parse_time(ready.get("lastTransitionTime"))
        return f"Running (since {local_time(moment)})" if moment else "Running"
    text = problem(obj) or ("Waiting for the operator" if not status(obj) else "Starting")
    return text if len(text) <= width else text[: width - 3] + "..."


def version_key(version: str) -> tuple[Any, ...]:
    """Semantic-version precedence, so 1.10.0 sorts after 1.9.0 and 1.0.0-rc.1 before 1.0.0."""
    core, _, rest = version.partition("+")[0].partition("-")
    numbers = []
    for part in core.split("."):
        numbers.append(int(part) if part.isdigit() else 0)
    if not rest:
        return (*numbers, 1, ())
    identifiers = tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"\.", rest)
    )
    return (*numbers, 0, identifiers)


def sort_services(objs: list[Obj]) -> list[Obj]:
    return sorted(objs, key=lambda o: (spec_name(o), version_key(spec_version(o))))


def find_main(objs: list[Obj]) -> Obj | None:
    """The main version among the versions of one name (a lone version counts as main)."""
    mains = [obj for obj in objs if is_main(obj)]
    if mains:
        return sort_services(mains)[-1]
    return objs[0] if len(objs) == 1 else None
