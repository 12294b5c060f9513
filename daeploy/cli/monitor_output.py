"""How `daeploy monitor` prints stored values: a table per variable for people, CSV for files.

The tables follow daeploy/cli/table.py (tabulate, upper-case headers, times in the reader's
zone); the CSV keeps the service's own files (``/~monitor/csv``), timestamps as stored (UTC).
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime
from typing import Any

from tabulate import tabulate

from daeploy.cli.resource import local_time

Series = list[tuple[str, Any]]
"""(timestamp as the service wrote it, value) pairs, oldest first."""

VALUE_HEADERS = ["TIMESTAMP", "VALUE"]
CSV_MULTI_HEADER = ["variable", "timestamp", "value"]
CSV_SUFFIX = ".csv"


class BadAnswer(ValueError):
    """The service answered something that is not the monitoring store's format."""


def parse_values(body: Any) -> dict[str, Series]:
    """``{variable: {"timestamp": [...], "value": [...]}}`` as series, each oldest first."""
    if not isinstance(body, dict):
        raise BadAnswer("not a JSON object of variables")
    data: dict[str, Series] = {}
    for name, series in body.items():
        stamps = series.get("timestamp") if isinstance(series, dict) else None
        values = series.get("value") if isinstance(series, dict) else None
        if not isinstance(stamps, list) or not isinstance(values, list):
            raise BadAnswer(f"variable {name!r} has no timestamp and value lists")
        if len(stamps) != len(values):
            raise BadAnswer(f"variable {name!r} has {len(stamps)} times for {len(values)} values")
        pairs = list(zip((str(stamp) for stamp in stamps), values, strict=True))
        # Stable: the store already answers in time order; this only guards that promise.
        data[str(name)] = sorted(pairs, key=lambda pair: _sort_key(pair[0]))
    return data


def stored_moment(text: str) -> datetime | None:
    """A stored timestamp (naive UTC, ``2024-05-01 12:00:00.123456``) as an aware time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sort_key(text: str) -> datetime:
    return stored_moment(text) or datetime.min.replace(tzinfo=UTC)


def local_stamp(text: str) -> str:
    """Local time like the other commands' tables, plus milliseconds: values come fast."""
    moment = stored_moment(text)
    if moment is None:
        return text
    return f"{local_time(moment)}.{moment.astimezone().microsecond // 1000:03d}"


def value_text(value: Any) -> str:
    """One line per value, so a stored JSON text with newlines keeps the table readable."""
    if value is None:
        return ""
    return " ".join(str(value).splitlines())


def format_values(data: dict[str, Series], since: datetime | None) -> str:
    """A titled table per variable, newest row last; a variable without rows gets one line."""
    blocks = []
    for name, series in data.items():
        if not series:
            when = f" since {local_time(since)}" if since is not None else ""
            blocks.append(f"{name}: no values{when}")
            continue
        rows = [[local_stamp(stamp), value_text(value)] for stamp, value in series]
        count = f"{len(rows)} value{'' if len(rows) == 1 else 's'}"
        table = tabulate(rows, headers=VALUE_HEADERS, tablefmt="simple", disable_numparse=True)
        blocks.append(f"{name} ({count})\n{table}")
    return "\n\n".join(blocks)


def csv_files(archive: bytes) -> dict[str, str]:
    """The zip ``/~monitor/csv`` answers: one ``<variable>.csv`` per variable, in its order."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            return {
                member.removesuffix(CSV_SUFFIX): zipped.read(member).decode("utf-8")
                for member in zipped.namelist()
                if member.endswith(CSV_SUFFIX)
            }
    except (zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise BadAnswer(f"not a zip of CSV files ({error})") from None


def csv_text(files: dict[str, str], single: bool) -> str:
    """One variable asked: its file as the service wrote it (``timestamp,value``). Otherwise
    one CSV of all, ``variable,timestamp,value``, so a single ``> file.csv`` holds them all."""
    if single:
        return next(iter(files.values()), "")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_MULTI_HEADER)
    for name, text in files.items():
        rows = csv.reader(io.StringIO(text))
        next(rows, None)  # the file's own header
        writer.writerows([name, *row] for row in rows)
    return out.getvalue()
