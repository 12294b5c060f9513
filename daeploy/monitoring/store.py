"""An SQLite file per service version, one table per variable (``timestamp``, ``value``), as the
file Daeploy 1.x let users download, written off the request's path.

``put`` only queues; one thread writes what has queued in one transaction (a batch), so a busy
entrypoint with ``monitor=True`` pays a queue append, never a disk write. Readers open their own
connection: the file is in WAL mode, so reading never waits for the writer.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from numbers import Number
from pathlib import Path
from typing import Any

from daeploy.contract import MONITOR_DB_ENV
from daeploy.monitoring.limits import Limit

logger = logging.getLogger("daeploy.monitoring")

MAX_BATCH = 2000
_STOP = object()


def _table(name: str) -> str:
    """A variable's table name, quoted: any name is a valid identifier this way."""
    return '"' + name.replace('"', '""') + '"'


STAMP = "%Y-%m-%d %H:%M:%S.%f"
"""Fixed width, so that text order is time order."""


def _now() -> str:
    return datetime.now(UTC).strftime(STAMP)


def coerce(value: Any) -> float | str:
    """Numbers as floats and strings as they are, anything else as JSON, as 1.x stored them."""
    if isinstance(value, Number) and not isinstance(value, complex):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


class UnknownVariable(LookupError):
    """No variable of that name was stored."""


class MonitorStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- writing --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer; the file is made by it, on the first value (nothing is written
        for a service that stores nothing, and a disk problem is logged, never raised here)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._write_loop, name="monitor-store")
            self._thread.daemon = True
            self._thread.start()

    def put(self, name: str, value: Any, timestamp: str | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a monitored variable needs a name, got {name!r}")
        self._queue.put((name, coerce(value), timestamp or _now()))

    def store(self, **variables: Any) -> None:
        """Queue every variable under one timestamp; the writer starts on first use."""
        if self._thread is None:
            self.start()
        moment = _now()
        for name, value in variables.items():
            self.put(name, value, moment)

    def flush(self) -> None:
        """Wait until everything queued so far is in the file."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.join()

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout=10)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def _open(self) -> sqlite3.Connection | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._connect()
            db.execute("PRAGMA journal_mode=WAL")
            return db
        except (OSError, sqlite3.Error) as error:
            logger.error(
                "the monitoring store cannot use %s (%s): stored values are dropped; set %s "
                "to a writable file", self.path, error, MONITOR_DB_ENV,
            )  # fmt: skip
            return None

    def _write_loop(self) -> None:
        db: sqlite3.Connection | None = None
        known: set[str] = set()
        try:
            while True:
                batch = [self._queue.get()]
                while len(batch) < MAX_BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = any(item is _STOP for item in batch)
                rows = [item for item in batch if item is not _STOP]
                try:
                    if rows and db is None:
                        db = self._open()
                        if db is not None:
                            known = {row[0] for row in db.execute(_TABLES)}
                    if db is not None:
                        self._write(db, rows, known)
                except sqlite3.Error:
                    logger.exception("writing %d monitored values failed", len(rows))
                finally:
                    for _ in batch:
                        self._queue.task_done()
                if stop:
                    return
        finally:
            if db is not None:
                db.close()

    @staticmethod
    def _write(db: sqlite3.Connection, rows: list[tuple[str, Any, str]], known: set[str]) -> None:
        if not rows:
            return
        db.execute("BEGIN")
        try:
            for name, value, moment in rows:
                if name not in known:
                    kind = "REAL" if isinstance(value, float) else "TEXT"
                    db.execute(
                        f"CREATE TABLE IF NOT EXISTS {_table(name)} "
                        f"(timestamp DATETIME NOT NULL, value {kind})"
                    )
                    db.execute(
                        f"CREATE INDEX IF NOT EXISTS {_table('ix_' + name)} "
                        f"ON {_table(name)} (timestamp)"
                    )
                    known.add(name)
                db.execute(f"INSERT INTO {_table(name)} VALUES (?, ?)", (moment, value))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- reading --------------------------------------------------------------------------

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():
            # Nothing stored yet: an empty database in memory answers the same.
            with closing(sqlite3.connect(":memory:")) as empty:
                yield empty
            return
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)) as db:
            yield db

    def variables(self) -> list[str]:
        with self._reader() as db:
            return sorted(row[0] for row in db.execute(_TABLES))

    def read(
        self, name: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[tuple[str, Any]]:
        with self._reader() as db:
            if name not in {row[0] for row in db.execute(_TABLES)}:
                raise UnknownVariable(f"Timeseries with identifier {name} does not exist!")
            query = f"SELECT timestamp, value FROM {_table(name)} WHERE timestamp >= ?"
            bounds: list[str] = [_text(start) if start else ""]
            if end is not None:
                query += " AND timestamp <= ?"
                bounds.append(_text(end))
            return [(str(t), v) for t, v in db.execute(query + " ORDER BY timestamp", bounds)]

    def copy_to(self, destination: Path) -> Path:
        """A consistent copy of the file (SQLite's online backup), safe while writing goes on."""
        with self._reader() as db, closing(sqlite3.connect(destination)) as out:
            db.backup(out)
        return destination

    # -- keeping it small -----------------------------------------------------------------

    def clean(self, limit: Limit) -> int:
        """Drop what is over ``limit`` in every table; returns the rows removed."""
        if not self.path.exists():
            return 0
        removed = 0
        with closing(self._connect()) as db:
            for (name,) in list(db.execute(_TABLES)):
                table = _table(name)
                if limit.age is None:
                    cursor = db.execute(
                        f"DELETE FROM {table} WHERE rowid NOT IN "
                        f"(SELECT rowid FROM {table} ORDER BY timestamp DESC LIMIT ?)",
                        (limit.number,),
                    )
                else:
                    oldest = datetime.now(UTC).replace(tzinfo=None) - limit.age
                    cursor = db.execute(
                        f"DELETE FROM {table} WHERE timestamp < ?", (_text(oldest),)
                    )
                removed += max(cursor.rowcount, 0)
        return removed


_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"


def _text(moment: datetime) -> str:
    """Naive UTC, as stored: an aware time is converted first."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime(STAMP)
