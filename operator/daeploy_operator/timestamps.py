"""RFC 3339 times as the API server writes them, and as the operator writes them back.

Times are compared as datetimes, never as strings: "…:05Z" and "…:05.5Z" do not sort as text.
"""

from __future__ import annotations

from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse(text: str | None) -> datetime:
    """A timestamp from the API; missing or unreadable ones sort first (epoch)."""
    if not text:
        return _EPOCH
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _EPOCH
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def to_seconds(moment: datetime) -> str:
    """metav1.Time precision, for condition transition times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_micros(moment: datetime) -> str:
    """Microsecond precision, for main claims made within the same second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def human(text: str) -> str:
    """The RUNNING column's format, as Daeploy printed it: 2020-11-24 11:56:18 (UTC)."""
    return parse(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
