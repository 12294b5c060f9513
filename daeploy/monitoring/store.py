"""An SQLite file per service version, one table per variable (``timestamp``, ``value``), as the
file Daeploy 1.x let users download, written off the request's path.

A ``store`` call, or a call of a ``monitor=True`` entrypoint, queues ONE item: the raw values
and ``time.time()``; that is all the caller pays. Everything else is the writer thread's: the
timestamp text, 1.x's value rules, JSON encoding, the ``/~metrics`` gauges. The writer lets items
gather for up to ``GATHER_SECONDS`` (or until ``MAX_BATCH`` have queued) and writes them in one
transaction, ``executemany`` per table: a busy entrypoint costs one commit per ~50 ms, not one
per request. The file is in WAL mode with ``synchronous=NORMAL`` (a power cut may lose the last
commits, never the file). Readers open their own connection, so reading never waits for the
writer; ``flush`` lets a read see what was stored just before it.

Timestamps are the calls' own times (``time.time()`` at the call), made strictly increasing in
queue order by at most the odd microsecond, so one timestamp still means one call.
Values are encoded when the writer takes them, within ~``GATHER_SECONDS`` of the call: a dict,
list or set is copied one level deep at the call, but an object nested in one, or any other
mutable object (a pydantic model, an array), is stored as it is then, so do not change it in
place right after storing it.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from numbers import Number
from pathlib import Path
from typing import Any

from fastapi.encoders import jsonable_encoder

from daeploy.contract import MONITOR_DB_ENV
from daeploy.monitoring.limits import Limit

logger = logging.getLogger("daeploy.monitoring")

MAX_BATCH = 2000
"""Items (calls) in one transaction at most; a longer queue is written in several, back to back."""
GATHER_SECONDS = 0.05
"""How long the writer lets items gather after the first one before it writes them."""
_POLL_SECONDS = 0.01  # how often a gathering writer checks whether MAX_BATCH have queued
_SCALARS = frozenset({str, int, float, bool, type(None)})
_STOP = object()

Item = tuple[Any, ...]
"""``(moment, variables)`` from ``store``/``put``, ``(moment, name, arguments, result)`` from a
``monitor=True`` call; ``moment`` is ``time.time()`` or timestamp text."""


def _table(name: str) -> str:
    """A variable's table name, quoted: any name is a valid identifier this way."""
    return '"' + name.replace('"', '""') + '"'


STAMP = "%Y-%m-%d %H:%M:%S.%f"
"""Fixed width, so that text order is time order."""


_EPOCH = datetime(1970, 1, 1)


def _stamp(moment: float) -> str:
    """``time.time()`` as stored: naive UTC text."""
    return datetime.fromtimestamp(moment, UTC).strftime(STAMP)


def _stamp_us(microseconds: int) -> str:
    return (_EPOCH + timedelta(microseconds=microseconds)).strftime(STAMP)


def _now() -> str:
    return _stamp(time.time())


def coerce(value: Any) -> float | str:
    """Numbers as floats and strings as they are, anything else as JSON, as 1.x stored them."""
    if isinstance(value, Number) and not isinstance(value, complex):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def as_json(value: Any) -> str:
    """A ``monitor=True`` call's arguments or result as the response would carry them; a value
    JSON cannot hold as its text (monitoring never fails a call)."""
    try:
        # Plain JSON values (the common case) come out the same without FastAPI's walk, which
        # costs the writer about half of its time per call.
        return json.dumps(value)
    except (TypeError, ValueError):
        pass
    try:
        return json.dumps(jsonable_encoder(value))
    except (TypeError, ValueError):
        return json.dumps(value, default=str)


def _snapshot(value: Any) -> Any:
    """A container copied one level deep, so that changing it after the call (before the writer
    encodes it) does not change what is stored; cheap, and only for containers."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    if isinstance(value, set):
        return set(value)
    return value


class UnknownVariable(LookupError):
    """No variable of that name was stored."""


class _Flush:
    """Queued by ``flush``: done once everything queued before it is written (or dropped)."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class MonitorStore:
    def __init__(
        self, path: Path, on_values: Callable[[list[dict[str, Any]]], None] | None = None
    ) -> None:
        """``on_values`` hears, from the writer thread, every batch's ``store``d values (raw,
        in order): the ``/~metrics`` gauges."""
        self.path = path
        self.on_values = on_values
        self.transactions = 0
        self._last_us = 0  # the writer's: the last call's time, in microseconds
        """Transactions committed so far (each holds a batch): for tests and curious readers."""
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._wake = threading.Event()  # ends a writer's gathering early: flush, close
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
            _running.add(self)

    def store(self, **variables: Any) -> None:
        """Queue every variable under one timestamp; the writer starts on first use."""
        self.store_values(variables)

    def store_values(self, variables: dict[str, Any]) -> None:
        """``store`` with the variables in a dict the store may keep (``service.store``'s)."""
        if self._thread is None:
            self.start()
        if "" in variables:
            raise ValueError("a monitored variable needs a name, got ''")
        for value in variables.values():
            if type(value) not in _SCALARS:
                variables = {name: _snapshot(value) for name, value in variables.items()}
                break
        self._queue.put((time.time(), variables))

    def put(self, name: str, value: Any, timestamp: str | None = None) -> None:
        """One variable; ``timestamp`` (text as ``STAMP`` makes it, UTC) defaults to now."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a monitored variable needs a name, got {name!r}")
        if self._thread is None:
            self.start()
        self._queue.put((timestamp or time.time(), {name: _snapshot(value)}))

    def store_call(self, name: str, arguments: dict[str, Any], result: Any) -> None:
        """A ``monitor=True`` call: ``<name>_request`` and ``<name>_response``, as JSON, encoded
        by the writer (``arguments`` is the call's own dict, made for this request)."""
        if self._thread is None:
            self.start()
        self._queue.put((time.time(), name, arguments, _snapshot(result)))

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until everything queued so far is in the file (or dropped, for a disk error);
        False if that took longer than ``timeout``."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return True
        marker = _Flush()
        self._queue.put(marker)
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not marker.done.wait(0.1):
            if not thread.is_alive():
                return True  # stopped (close): it wrote what it had
            if deadline is not None and time.monotonic() > deadline:
                return False
        return True

    def close(self) -> None:
        """Write everything queued, then stop the writer (the service's shutdown)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            self._wake.set()
            thread.join(timeout=10)
        _running.discard(self)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def _open(self) -> sqlite3.Connection | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._connect()
            db.execute("PRAGMA journal_mode=WAL")
            # Safe in WAL mode: a crash never corrupts the file; a power cut may lose the last
            # commits. Commits stop waiting for the disk.
            db.execute("PRAGMA synchronous=NORMAL")
            return db
        except (OSError, sqlite3.Error) as error:
            logger.error(
                "the monitoring store cannot use %s (%s): stored values are dropped; set %s "
                "to a writable file", self.path, error, MONITOR_DB_ENV,
            )  # fmt: skip
            return None

    def _take(self, most: int) -> list[Any]:
        """Up to ``most`` items already queued, without waiting."""
        items: list[Any] = []
        get = self._queue.get_nowait
        try:
            while len(items) < most:
                items.append(get())
        except queue.Empty:
            pass
        return items

    def _gather(self) -> None:
        """Let items queue for up to GATHER_SECONDS: one transaction for all of them. Ends at
        once for a flush or close, and as soon as MAX_BATCH are waiting."""
        deadline = time.monotonic() + GATHER_SECONDS
        while not self._wake.is_set() and self._queue.qsize() < MAX_BATCH:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._wake.wait(min(left, _POLL_SECONDS))

    def _write_loop(self) -> None:
        db: sqlite3.Connection | None = None
        known: set[str] = set()
        stopping = behind = False
        try:
            while True:
                if stopping:  # write what is left, without waiting, then end
                    items = self._take(MAX_BATCH)
                    if not items:
                        return
                else:
                    items = [self._queue.get()]
                    if not behind:
                        self._gather()
                    self._wake.clear()
                    items += self._take(MAX_BATCH - 1)
                    behind = len(items) >= MAX_BATCH  # more may be waiting: no gathering
                rows: list[Item] = []
                flushes: list[_Flush] = []
                for item in items:
                    if type(item) is tuple:
                        rows.append(item)
                    elif item is _STOP:
                        stopping = True
                    else:
                        flushes.append(item)
                try:
                    if rows:
                        tables = self._prepare(rows)
                        if tables and db is None:
                            db = self._open()
                            if db is not None:
                                known = {row[0] for row in db.execute(_TABLES)}
                        if tables and db is not None:
                            self._write(db, tables, known)
                            self.transactions += 1
                except sqlite3.Error:
                    logger.exception("writing %d monitored calls' values failed", len(rows))
                except Exception:  # the writer must outlive any one batch
                    logger.exception("monitoring store: a batch of %d was dropped", len(rows))
                finally:
                    for marker in flushes:
                        marker.done.set()
        finally:
            if db is not None:
                db.close()

    def _prepare(self, items: list[Item]) -> dict[str, list[tuple[str, float | str]]]:
        """The rows by table, from items as queued: timestamp text, value rules, JSON; and the
        stored values to ``on_values`` (the gauges), whatever becomes of the disk write."""
        tables: dict[str, list[tuple[str, float | str]]] = {}
        stored: list[dict[str, Any]] = []
        for item in items:
            if len(item) == 2:
                moment, variables = item
                stored.append(variables)
            else:
                moment, name, arguments, result = item
                variables = {f"{name}_request": arguments, f"{name}_response": result}
            if isinstance(moment, str):
                stamp = moment
            else:
                # One timestamp per call, as when a call took microseconds: a call in the same
                # microsecond as the one before (a tight loop) gets the next one, so values of
                # one call still join on their timestamp and order stays call order. A clock
                # set back by more than a second is followed, not bumped past.
                micros = round(moment * 1e6)
                if self._last_us - 1_000_000 < micros <= self._last_us:
                    micros = self._last_us + 1
                self._last_us = micros
                stamp = _stamp_us(micros)
            encode = coerce if len(item) == 2 else as_json
            for name, value in variables.items():
                try:
                    text = encode(value)
                except Exception as error:  # a cycle, a dict with tuple keys: no JSON for it
                    logger.error("monitored %r cannot be stored (%s): dropped", name, error)
                    continue
                rows = tables.get(name)
                if rows is None:
                    tables[name] = rows = []
                rows.append((stamp, text))
        if stored and self.on_values is not None:
            try:
                self.on_values(stored)
            except Exception:
                logger.exception("monitoring store: updating the stored-value gauges failed")
        return tables

    @staticmethod
    def _write(
        db: sqlite3.Connection, tables: dict[str, list[tuple[str, float | str]]], known: set[str]
    ) -> None:
        """One transaction for the batch; tables made on their first value (REAL for a number,
        TEXT otherwise, as 1.x made them)."""
        new: list[str] = []
        db.execute("BEGIN")
        try:
            for name, rows in tables.items():
                if name not in known:
                    kind = "REAL" if isinstance(rows[0][1], float) else "TEXT"
                    db.execute(
                        f"CREATE TABLE IF NOT EXISTS {_table(name)} "
                        f"(timestamp DATETIME NOT NULL, value {kind})"
                    )
                    db.execute(
                        f"CREATE INDEX IF NOT EXISTS {_table('ix_' + name)} "
                        f"ON {_table(name)} (timestamp)"
                    )
                    new.append(name)
                db.executemany(f"INSERT INTO {_table(name)} VALUES (?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        known.update(new)

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


_running: weakref.WeakSet[MonitorStore] = weakref.WeakSet()


@atexit.register
def _close_running() -> None:
    """A script that stores values and ends without a service's shutdown keeps them too: atexit
    runs while the (daemon) writers still do."""
    for store in list(_running):
        store.close()
