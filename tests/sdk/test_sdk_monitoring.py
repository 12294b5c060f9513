"""The monitoring store (1.x's ``store``, ``monitor=True``, ``/~monitor``) in a real service
process, and the store itself on a real SQLite file."""

from __future__ import annotations

import csv
import io
import logging
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sdk_support import APPS, RunningService, Starter

from daeploy.contract import (
    DB_CLEAN_INTERVAL_ENV,
    DB_TABLE_LIMIT_ENV,
    HEALTH_PREFIX,
    LIVE_PATH,
    METRICS_PATH,
    MONITOR_DB_ENV,
    MONITOR_PATH,
    READY_PATH,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
)
from daeploy.monitoring import store as store_module
from daeploy.monitoring.limits import Limit, clean_interval_seconds, table_limit
from daeploy.monitoring.quiet import QuietPaths
from daeploy.monitoring.store import MonitorStore, UnknownVariable
from daeploy.names import version_path


@pytest.fixture
def monitored(start_service: Starter, tmp_path: Path) -> RunningService:
    return start_service(
        APPS / "monitored_service.py",
        env={
            SERVICE_NAME_ENV: "monitored",
            SERVICE_VERSION_ENV: "1.0.0",
            MONITOR_DB_ENV: str(tmp_path / "data" / "monitor.db"),
        },
        cwd=tmp_path,
    )


def test_stored_and_monitored_values_come_back_at_monitor(
    monitored: RunningService, tmp_path: Path
) -> None:
    url = monitored.url
    for value in (1, 2.5):
        assert httpx.post(f"{url}/double", json={"value": value}).json() == {"result": value * 2}
    assert httpx.post(f"{url}/~parameters/threshold", json={"value": 7}).status_code == 200

    data = httpx.get(f"{url}{MONITOR_PATH}").json()
    assert data["doubled"]["value"] == [2.0, 5.0]
    assert data["label"]["value"] == ["x1.0", "x2.5"]
    assert data["raw"]["value"] == ['{"v": 1.0}', '{"v": 2.5}']
    assert data["double_request"]["value"] == ['{"value": 1.0}', '{"value": 2.5}']
    assert data["double_response"]["value"] == ['{"result": 2.0}', '{"result": 5.0}']
    # The parameter's first value and its change, numbers as floats (as 1.x stored them).
    assert data["threshold"]["value"] == [3.0, 7.0]
    assert len(data["doubled"]["timestamp"]) == 2

    only = httpx.get(f"{url}{MONITOR_PATH}", params={"variables": ["doubled", "threshold"]}).json()
    assert set(only) == {"doubled", "threshold"}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = httpx.get(f"{url}{MONITOR_PATH}", params={"variables": "doubled", "start": future})
    assert later.json() == {"doubled": {"timestamp": [], "value": []}}
    missing = httpx.get(f"{url}{MONITOR_PATH}", params={"variables": "nothing"})
    assert missing.status_code == 412
    assert "nothing" in missing.json()["detail"]

    zipped = httpx.get(f"{url}{MONITOR_PATH}/csv", params={"variables": "doubled"})
    assert zipped.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("doubled.csv").decode())))
    assert rows[0] == ["timestamp", "value"] and [r[1] for r in rows[1:]] == ["2.0", "5.0"]

    db_file = tmp_path / "download.db"
    db_file.write_bytes(httpx.get(f"{url}{MONITOR_PATH}/db").content)
    with sqlite3.connect(db_file) as db:
        assert db.execute('SELECT value FROM "doubled" ORDER BY timestamp').fetchall() == [
            (2.0,),
            (5.0,),
        ]
    # The store is where the operator points it, nothing in the working folder.
    assert (tmp_path / "data" / "monitor.db").is_file()
    assert not (tmp_path / "service_db.db").exists()


def test_quiet_entrypoints_and_probes_stay_out_of_the_access_log(
    monitored: RunningService,
) -> None:
    for _ in range(3):
        httpx.get(f"{monitored.url}/quiet_ping")
        httpx.get(f"{monitored.url}/loud_ping")
        httpx.get(f"{monitored.url}{READY_PATH}")
    deadline = time.monotonic() + 5
    while "loud_ping" not in monitored.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = monitored.log()
    assert log.count("GET /loud_ping") == 3
    assert "quiet_ping" not in log
    assert HEALTH_PREFIX not in log


def test_a_monitored_parameter_is_stored_from_its_first_value(
    start_service: Starter, tmp_path: Path
) -> None:
    service = start_service(
        APPS / "monitored_service.py",
        env={SERVICE_NAME_ENV: "m", MONITOR_DB_ENV: str(tmp_path / "never" / "m.db")},
    )
    assert httpx.get(f"{service.url}/loud_ping").status_code == 200
    # add_parameter(monitor=True) stored its first value, before any call.
    assert httpx.get(f"{service.url}{MONITOR_PATH}").json()["threshold"]["value"] == [3.0]


def test_store_batches_reads_ranges_and_cleans(tmp_path: Path) -> None:
    store = MonitorStore(tmp_path / "m.db")
    assert store.variables() == []
    for i in range(500):
        store.store(count=i, flag=True, name="n", weird='a "quoted" name')
    store.put('a "quoted" table', 1)
    store.flush()
    assert store.variables() == ['a "quoted" table', "count", "flag", "name", "weird"]
    counts = store.read("count")
    assert [v for _, v in counts] == [float(i) for i in range(500)]
    assert store.read("flag")[0][1] == 1.0
    middle = datetime.strptime(counts[250][0], "%Y-%m-%d %H:%M:%S.%f")
    assert len(store.read("count", start=middle)) <= 250
    with pytest.raises(UnknownVariable):
        store.read("nothing")

    assert store.clean(Limit(100, "rows")) == 4 * 400 + 0
    assert [v for _, v in store.read("count")] == [float(i) for i in range(400, 500)]
    assert store.clean(Limit(1, "days")) == 0
    copy = store.copy_to(tmp_path / "copy.db")
    with sqlite3.connect(copy) as db:
        assert db.execute('SELECT count(*) FROM "count"').fetchone() == (100,)
    store.close()


def test_an_unwritable_store_logs_and_drops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = MonitorStore(blocker / "m.db")  # a folder that cannot exist
    with caplog.at_level(logging.ERROR, "daeploy.monitoring"):
        store.store(x=1)
        store.flush()
    assert "cannot use" in caplog.text and MONITOR_DB_ENV in caplog.text
    store.close()


def test_limits_read_as_1x(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(DB_TABLE_LIMIT_ENV, raising=False)
    monkeypatch.delenv(DB_CLEAN_INTERVAL_ENV, raising=False)
    assert table_limit() == Limit(90, "days")
    assert clean_interval_seconds() == 7 * 86400
    monkeypatch.setenv(DB_TABLE_LIMIT_ENV, "1000ROWS")
    monkeypatch.setenv(DB_CLEAN_INTERVAL_ENV, "30minutes")
    assert table_limit() == Limit(1000, "rows")
    assert clean_interval_seconds() == 1800
    monkeypatch.setenv(DB_TABLE_LIMIT_ENV, "lots")
    with caplog.at_level(logging.ERROR, "daeploy.monitoring"):
        assert table_limit() == Limit(90, "days")
    assert DB_TABLE_LIMIT_ENV in caplog.text and "1000rows or 30days" in caplog.text


def test_quiet_paths_match_the_path_end_only() -> None:
    quiet = QuietPaths()
    quiet.suffixes.add("/quiet")

    def line(path: str) -> logging.LogRecord:
        args = ("1.2.3.4:5", "GET", path, "1.1", 200)
        return logging.LogRecord("uvicorn.access", 20, "", 0, '%s - "%s %s HTTP/%s" %d', args, None)

    assert not quiet.filter(line(version_path("x", "1.0.0") + "/quiet?a=1"))
    assert not quiet.filter(line(LIVE_PATH))
    assert quiet.filter(line("/quieter"))
    assert quiet.filter(line("/loud"))


def test_metrics_count_calls_failures_latency_and_stored_values(
    monitored: RunningService,
) -> None:
    url = monitored.url
    for value in (1, 2.5):
        httpx.post(f"{url}/double", json={"value": value})
    assert httpx.post(f"{url}/teapot").status_code == 418
    assert httpx.post(f"{url}/boom").status_code == 500
    assert httpx.post(f"{url}/double", json={"value": "x"}).status_code == 422  # never called
    scraped = httpx.get(f"{url}{METRICS_PATH}")
    assert scraped.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    assert (
        samples[("daeploy_entrypoint_calls_total", (("code", "200"), ("entrypoint", "double")))]
        == 2
    )
    assert (
        samples[("daeploy_entrypoint_calls_total", (("code", "418"), ("entrypoint", "teapot")))]
        == 1
    )
    assert (
        samples[("daeploy_entrypoint_calls_total", (("code", "500"), ("entrypoint", "boom")))] == 1
    )
    assert samples[("daeploy_entrypoint_failures_total", (("entrypoint", "boom"),))] == 1
    assert ("daeploy_entrypoint_failures_total", (("entrypoint", "teapot"),)) not in samples
    assert samples[("daeploy_entrypoint_duration_seconds_count", (("entrypoint", "double"),))] == 2
    assert samples[("daeploy_stored_value", (("variable", "doubled"),))] == 5.0
    assert samples[("daeploy_stored_value", (("variable", "threshold"),))] == 3.0
    assert ("daeploy_stored_value", (("variable", "label"),)) not in samples  # text, not a gauge


def _rows(path: Path, table: str) -> list[tuple[str, object]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(f'SELECT timestamp, value FROM "{table}" ORDER BY timestamp').fetchall()


def test_store_returns_before_the_row_is_written_and_keeps_the_calls_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller only queues: with the disk write held up, store() still returns at once, and
    the row carries the call's time, not the write's."""
    gate, writing = threading.Event(), threading.Event()
    write = MonitorStore._write

    def held_up(*args: object) -> None:
        writing.set()
        gate.wait(5)
        write(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(MonitorStore, "_write", staticmethod(held_up))
    store = MonitorStore(tmp_path / "m.db")
    store.store(first=1)
    assert writing.wait(5)  # the writer is inside the first batch's write, held there
    called = datetime.now(UTC).replace(tzinfo=None)
    began = time.perf_counter()
    store.store(x=1, raw={"v": 1})
    took = time.perf_counter() - began
    time.sleep(0.3)
    assert store.variables() == []  # nothing in the file yet
    gate.set()
    assert store.flush()
    assert took < 0.05, took
    ((stamp, value),) = _rows(tmp_path / "m.db", "x")
    assert value == 1.0
    assert abs(datetime.strptime(stamp, store_module.STAMP) - called) < timedelta(seconds=0.2)
    store.close()


def test_one_transaction_holds_many_calls_and_never_more_than_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    write = MonitorStore._write

    def counted(db: sqlite3.Connection, tables: dict[str, list], known: set[str]) -> None:
        sizes.append(sum(len(rows) for rows in tables.values()))
        write(db, tables, known)

    monkeypatch.setattr(MonitorStore, "_write", staticmethod(counted))
    store = MonitorStore(tmp_path / "m.db")
    # Calls spread over >= 100 ms, as requests come: one transaction each would be 100.
    for i in range(100):
        store.store(steady=i)
        time.sleep(0.001)
    assert store.flush()
    assert sum(sizes) == 100 and len(sizes) <= 10, sizes
    # A burst: written back to back, MAX_BATCH calls at most in one transaction.
    sizes.clear()
    for i in range(3 * store_module.MAX_BATCH):
        store.store(burst=i)
    assert store.flush()
    assert sum(sizes) == 3 * store_module.MAX_BATCH
    assert max(sizes) <= store_module.MAX_BATCH and len(sizes) <= 10, sizes
    burst = [v for _, v in store.read("burst")]
    assert burst == [float(i) for i in range(3 * store_module.MAX_BATCH)]
    store.close()


def test_a_value_changed_after_the_call_is_stored_as_it_was(tmp_path: Path) -> None:
    """Containers are copied one level deep at the call; the writer encodes them later."""
    store = MonitorStore(tmp_path / "m.db")
    state = {"v": 1}
    history = [1]
    store.store(state=state, history=history)
    result = {"out": 1}
    store.store_call("f", {"a": 1}, result)
    state["v"], result["out"] = 2, 2
    history.append(2)
    assert store.flush()
    assert [v for _, v in store.read("state")] == ['{"v": 1}']
    assert [v for _, v in store.read("history")] == ["[1]"]
    assert [v for _, v in store.read("f_request")] == ['{"a": 1}']
    assert [v for _, v in store.read("f_response")] == ['{"out": 1}']
    store.close()


def test_a_value_json_cannot_hold_is_logged_and_the_writer_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = MonitorStore(tmp_path / "m.db")
    loop: list[object] = []
    loop.append(loop)
    with caplog.at_level(logging.ERROR, "daeploy.monitoring"):
        store.store(bad={(1, 2): 3}, cycle=loop, good=1)
        assert store.flush()
    assert "'bad' cannot be stored" in caplog.text and "'cycle' cannot be stored" in caplog.text
    assert store.variables() == ["good"]
    store.store(good=2)
    assert store.flush()
    assert [v for _, v in store.read("good")] == [1.0, 2.0]
    with pytest.raises(ValueError, match="needs a name"):
        store.store(**{"": 1})
    store.close()


def test_a_value_is_written_shortly_without_a_flush(tmp_path: Path) -> None:
    store = MonitorStore(tmp_path / "m.db")
    store.store(x=1)
    deadline = time.monotonic() + 5
    while store.variables() != ["x"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.variables() == ["x"]
    store.close()


def test_close_writes_everything_queued(tmp_path: Path) -> None:
    store = MonitorStore(tmp_path / "m.db")
    for i in range(5000):
        store.store(x=i)
    store.close()  # no flush first
    assert len(_rows(tmp_path / "m.db", "x")) == 5000


def test_a_script_that_stores_and_ends_keeps_its_values(tmp_path: Path) -> None:
    """No service, no close: the store closes itself at exit."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from daeploy.monitoring.store import MonitorStore\n"
        "store = MonitorStore(Path(sys.argv[1]))\n"
        "for i in range(1000):\n"
        "    store.store(x=i)\n"
    )
    db = tmp_path / "script.db"
    subprocess.run([sys.executable, "-c", script, str(db)], check=True, timeout=60)
    assert len(_rows(db, "x")) == 1000


def test_a_service_that_stops_writes_what_its_calls_queued(
    monitored: RunningService, tmp_path: Path
) -> None:
    """SIGTERM right after the calls, inside the writer's gathering: shutdown writes them."""
    with httpx.Client() as client:
        for value in range(20):
            assert client.post(f"{monitored.url}/double", json={"value": value}).status_code == 200
    assert monitored.stop() == 0
    db = tmp_path / "data" / "monitor.db"
    assert len(_rows(db, "double_response")) == 20
    assert [v for _, v in _rows(db, "doubled")] == [2.0 * v for v in range(20)]


def test_one_timestamp_per_call_even_in_a_tight_loop(tmp_path: Path) -> None:
    """Calls faster than a microsecond still get a timestamp each, shared by their values."""
    store = MonitorStore(tmp_path / "m.db")
    for i in range(2000):
        store.store(a=i, b=-i)
    assert store.flush()
    a, b = store.read("a"), store.read("b")
    assert [t for t, _ in a] == [t for t, _ in b]
    assert len({t for t, _ in a}) == 2000
    assert [v for _, v in a] == [float(i) for i in range(2000)]
    store.close()
