"""Benchmark: what the monitoring store costs callers, side by side in one run.

A small service (``bench/apps/monitored_bench_service.py``) runs as a real process with the
SDK's own ``service.run()`` on 127.0.0.1, its store in a temp file (``DAEPLOY_MONITOR_DB``). It
serves the same small work twice: ``POST /monitored`` (``monitor=True``: each call's arguments and
result are stored as ``monitored_request`` / ``monitored_response``) and ``POST /plain``.

1. **Latency**: one client alternates request by request between the two (order flipped every
   pair), each over its own keep-alive connection, so a busy moment of the shared 2-core machine
   hits both alike; ``--requests`` each after warm-up, ``--rounds`` times (3 by default). p50 and
   p99 of each, per round and pooled, and the ratios monitored / plain. Goal: <= 1.10.
2. **Throughput**: a bounded closed loop, 8 connections (threads with ``httpx.Client``) POSTing
   back to back for ``--seconds`` per side per round, the side going first alternating by round.
   Requests per second, the ratio plain / monitored (goal: <= 1.10), and the service process's
   CPU time per request (from /proc), the cost itself with less noise than a rate.
3. **Store**: in this process, ``service.store(x=i)`` against ``queue.Queue().put`` of a tuple
   like the one the store queues, alternating call by call, ``--rows`` (100,000) each, while the
   store's writer thread writes batches beside them: per-call p50/p99 and the total, and the
   ratios store / put. Then the time from the last call until the writer has everything in the
   file (``MonitorStore.flush``), and a count of the rows in the file with sqlite3. Goal: a store
   call costs the caller no more than a queue put (no disk write on the caller's path). What a
   store call does besides the put is timed piece by piece (timestamp, value, metrics gauge).

At the end the service's own file is counted too: one ``monitored_request`` row per monitored
call. Prints tables and writes ``bench/results/monitoring.json``. Usage:
``.venv/bin/python bench/monitoring.py [--requests 5000] [--rounds 3] [--seconds 10]
[--rows 100000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import sqlite3
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "sdk"))

from alternating import alternate  # noqa: E402  (bench/, the script's folder)
from call_service import percentile, summary  # noqa: E402
from sdk_support import RunningService, make_starter  # noqa: E402  (tests/sdk/)

from daeploy.contract import (  # noqa: E402
    MONITOR_DB_ENV,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
)

RESULTS = REPO / "bench" / "results" / "monitoring.json"
APP = REPO / "bench" / "apps" / "monitored_bench_service.py"
GOAL_RATIO = 1.10
SIDES = ("plain", "monitored")
BODY = {"value": 1.5, "label": "abc"}
CLIENTS = 8
WARMUP = 200


# --- the machine and the service process ------------------------------------------------------


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc, 10 ms resolution)."""
    # The command name may hold spaces; the fields after its closing parenthesis do not.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_rows(path: Path, table: str) -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return int(db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])


# --- 1. latency, alternating -----------------------------------------------------------------


def alternate_sides(urls: dict[str, str], requests: int) -> dict[str, list[float]]:
    """Each side in turn (order flipped every pair), ``requests`` times each; all must answer."""
    result = alternate(urls, requests, body=BODY, flip=True, warmup=WARMUP)
    if result["error_count"]:
        raise SystemExit(f"{result['error_count']} requests failed: {result['errors']}")
    return dict(result["latencies"])


def compare_latency(samples: dict[str, list[float]]) -> dict[str, Any]:
    figures = {side: summary(samples[side]) for side in SIDES}
    return {
        **figures,
        "ratio_p50": round(figures["monitored"]["p50_ms"] / figures["plain"]["p50_ms"], 3),
        "ratio_p99": round(figures["monitored"]["p99_ms"] / figures["plain"]["p99_ms"], 3),
    }


# --- 2. throughput, closed loop --------------------------------------------------------------


def closed_loop(url: str, clients: int, seconds: float, pid: int) -> dict[str, Any]:
    """``clients`` threads POST ``url`` back to back for ``seconds``; the service's CPU time."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    begin = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def loop() -> None:
        with httpx.Client(timeout=30) as client:
            client.post(url, json=BODY).raise_for_status()  # its connection, before the clock
            begin.wait()
            mine: list[float] = []
            while time.perf_counter() < stop_at[0]:
                start = time.perf_counter()
                try:
                    response = client.post(url, json=BODY)
                    ok, detail = response.status_code == 200, f"HTTP {response.status_code}"
                except httpx.HTTPError as error:
                    ok, detail = False, repr(error)
                if ok:
                    mine.append(time.perf_counter() - start)
                else:
                    with lock:
                        errors.append(detail)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    stop_at[0] = started + seconds
    begin.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    done = len(latencies)
    return {
        "requests": done,
        "errors": len(errors),
        "error_samples": errors[:5],
        "seconds": round(wall, 3),
        "requests_per_s": round(done / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "service_cpu_s": round(cpu, 2),
        "service_cpu_ms_per_request": round(1000 * cpu / done, 4),
    }


def compare_throughput(plain: dict[str, Any], monitored: dict[str, Any]) -> dict[str, Any]:
    return {
        "plain": plain,
        "monitored": monitored,
        "ratio_throughput": round(plain["requests_per_s"] / monitored["requests_per_s"], 3),
        "ratio_cpu_per_request": round(
            monitored["service_cpu_ms_per_request"] / plain["service_cpu_ms_per_request"], 3
        ),
    }


def pooled_throughput(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def pool(side: str) -> dict[str, Any]:
        done = sum(r[side]["requests"] for r in rounds)
        wall = sum(r[side]["seconds"] for r in rounds)
        cpu = sum(r[side]["service_cpu_s"] for r in rounds)
        return {
            "requests": done,
            "errors": sum(r[side]["errors"] for r in rounds),
            "seconds": round(wall, 3),
            "requests_per_s": round(done / wall, 1),
            "service_cpu_s": round(cpu, 2),
            "service_cpu_ms_per_request": round(1000 * cpu / done, 4),
        }

    return compare_throughput(pool("plain"), pool("monitored"))


# --- 3. the store, in this process -----------------------------------------------------------


def per_call_us(func: Callable[[], Any], number: int = 20000, repeat: int = 5) -> float:
    """Best of ``repeat`` mean times of ``number`` calls, in microseconds."""
    return round(min(timeit.repeat(func, number=number, repeat=repeat)) / number * 1e6, 3)


def store_rows(rows: int, db_path: Path) -> dict[str, Any]:
    os.environ[MONITOR_DB_ENV] = str(db_path)
    from daeploy import service  # built now, so its store is db_path
    from daeploy.monitoring import store as store_module

    assert service.monitor.path == db_path, service.monitor.path
    plain_queue: queue.Queue[Any] = queue.Queue()
    stamp = store_module._now()
    store_times: list[float] = []
    put_times: list[float] = []
    clock = time.perf_counter
    store = service.store
    put = plain_queue.put
    first = clock()
    for i in range(rows):
        if i % 2 == 0:
            start = clock()
            store(x=i)
            middle = clock()
            put(("x", float(i), stamp))
            end = clock()
            store_times.append(middle - start)
            put_times.append(end - middle)
        else:
            start = clock()
            put(("x", float(i), stamp))
            middle = clock()
            store(x=i)
            end = clock()
            put_times.append(middle - start)
            store_times.append(end - middle)
    last = clock()
    service.monitor.flush()
    flushed = clock()
    in_file = count_rows(db_path, "x")

    # What one store call does besides the put, piece by piece (after the writer is idle).
    monitor = service.monitor
    breakdown = {
        "service_store_us": per_call_us(lambda: store(x=1)),
        "monitor_store_us": per_call_us(lambda: monitor.store(x=1)),
        "timestamp_us": per_call_us(store_module._now),
        "coerce_us": per_call_us(lambda: store_module.coerce(1)),
        "metrics_gauge_us": per_call_us(lambda: service.metrics.stored.update({"x": 1})),
        "queue_put_us": per_call_us(lambda: put(("x", 1.0, stamp))),
    }
    service.monitor.close()

    def stats(times: list[float]) -> dict[str, Any]:
        us = [t * 1e6 for t in times]
        return {
            "calls": len(us),
            "p50_us": round(percentile(us, 0.50), 3),
            "p99_us": round(percentile(us, 0.99), 3),
            "max_us": round(max(us), 1),
            "total_ms": round(sum(us) / 1000, 1),
        }

    store_stats, put_stats = stats(store_times), stats(put_times)
    return {
        "rows": rows,
        "service_store": store_stats,
        "queue_put": put_stats,
        "ratio_p50": round(store_stats["p50_us"] / put_stats["p50_us"], 3),
        "ratio_p99": round(store_stats["p99_us"] / put_stats["p99_us"], 3),
        "ratio_total": round(store_stats["total_ms"] / put_stats["total_ms"], 3),
        "loop_wall_s": round(last - first, 3),
        "flush_after_last_call_s": round(flushed - last, 3),
        "first_call_to_flushed_s": round(flushed - first, 3),
        "rows_in_file": in_file,
        "breakdown_per_call": breakdown,
    }


# --- the run ---------------------------------------------------------------------------------


def verdict(ratio: float) -> str:
    return "meets" if ratio <= GOAL_RATIO else "MISSES"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="timed requests per side")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each part")
    parser.add_argument("--seconds", type=float, default=10.0, help="load per side per round")
    parser.add_argument("--rows", type=int, default=100_000, help="store calls (and puts)")
    args = parser.parse_args()

    machine: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average_before": load_average(),
        "python": platform.python_version(),
        "httpx": httpx.__version__,
        "platform": platform.platform(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as temp:
        folder = Path(temp)
        service_db = folder / "service" / "monitor.db"
        started: list[RunningService] = []
        start = make_starter(folder, started)
        running = start(
            APP,
            env={
                SERVICE_NAME_ENV: "monitored_bench",
                SERVICE_VERSION_ENV: "1.0.0",
                MONITOR_DB_ENV: str(service_db),
            },
            cwd=folder,
        )
        try:
            urls = {side: f"{running.url}/{side}" for side in SIDES}
            latency_rounds = [alternate_sides(urls, args.requests) for _ in range(args.rounds)]
            throughput_rounds = []
            for index in range(args.rounds):
                order = SIDES if index % 2 == 0 else tuple(reversed(SIDES))
                result = {
                    side: closed_loop(urls[side], CLIENTS, args.seconds, running.process.pid)
                    for side in order
                }
                throughput_rounds.append(
                    {"first": order[0], **compare_throughput(result["plain"], result["monitored"])}
                )
        finally:
            exit_code = running.stop()  # SIGTERM: the store's writer drains before exit
        monitored_calls = (WARMUP + args.requests) * args.rounds + sum(
            r["monitored"]["requests"] + CLIENTS for r in throughput_rounds
        )
        service_rows = count_rows(service_db, "monitored_request")
        store = store_rows(args.rows, folder / "store" / "monitor.db")
    machine["load_average_after"] = load_average()

    pooled = {side: [x for r in latency_rounds for x in r[side]] for side in SIDES}
    latency = {
        "all_rounds": compare_latency(pooled),
        "rounds": [compare_latency(r) for r in latency_rounds],
    }
    throughput = {"all_rounds": pooled_throughput(throughput_rounds), "rounds": throughput_rounds}
    results = {
        "benchmark": "monitoring",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "bounds": {
            "requests_per_side_per_round": args.requests,
            "warmup_per_side_per_round": WARMUP,
            "rounds": args.rounds,
            "clients": CLIENTS,
            "seconds_per_side_per_round": args.seconds,
            "rows": args.rows,
        },
        "goal_ratio": GOAL_RATIO,
        "goals_met": {
            "latency_p50": latency["all_rounds"]["ratio_p50"] <= GOAL_RATIO,
            "latency_p99": latency["all_rounds"]["ratio_p99"] <= GOAL_RATIO,
            "throughput": throughput["all_rounds"]["ratio_throughput"] <= GOAL_RATIO,
            "store_p50_vs_put": store["ratio_p50"] <= GOAL_RATIO,
            "store_rows_in_file": store["rows_in_file"] == args.rows,
        },
        "latency": latency,
        "throughput": throughput,
        "store": store,
        "service": {
            "exit_code": exit_code,
            "monitored_calls": monitored_calls,
            "monitored_request_rows": service_rows,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    print(f"latency: 1 client alternating, {args.requests} requests each per round")
    print(
        f"{'':12}{'plain p50':>10}{'mon. p50':>10}{'ratio':>7}"
        f"{'plain p99':>11}{'mon. p99':>10}{'ratio':>7}   ms"
    )
    labelled = [(f"round {i + 1}", r) for i, r in enumerate(latency["rounds"])]
    for label, r in [*labelled, ("all rounds", latency["all_rounds"])]:
        print(
            f"{label:12}{r['plain']['p50_ms']:>10.3f}{r['monitored']['p50_ms']:>10.3f}"
            f"{r['ratio_p50']:>7.3f}{r['plain']['p99_ms']:>11.3f}{r['monitored']['p99_ms']:>10.3f}"
            f"{r['ratio_p99']:>7.3f}"
        )
    pooled_latency = latency["all_rounds"]
    print(
        f"goal monitored / plain <= {GOAL_RATIO}: p50 {verdict(pooled_latency['ratio_p50'])}, "
        f"p99 {verdict(pooled_latency['ratio_p99'])}"
    )

    print(f"\nthroughput: {CLIENTS} connections, closed loop, {args.seconds:g} s a side a round")
    print(
        f"{'':12}{'first':>10}{'plain/s':>9}{'mon./s':>9}{'ratio':>7}"
        f"{'plain cpu':>11}{'mon. cpu':>10}{'ratio':>7}   (service CPU ms per request)"
    )
    labelled = [(f"round {i + 1}", r) for i, r in enumerate(throughput["rounds"])]
    for label, r in [*labelled, ("all rounds", throughput["all_rounds"])]:
        print(
            f"{label:12}{r.get('first', ''):>10}{r['plain']['requests_per_s']:>9.1f}"
            f"{r['monitored']['requests_per_s']:>9.1f}{r['ratio_throughput']:>7.3f}"
            f"{r['plain']['service_cpu_ms_per_request']:>11.3f}"
            f"{r['monitored']['service_cpu_ms_per_request']:>10.3f}"
            f"{r['ratio_cpu_per_request']:>7.3f}"
        )
    pooled_rate = throughput["all_rounds"]
    print(
        f"goal plain / monitored <= {GOAL_RATIO}: {verdict(pooled_rate['ratio_throughput'])}; "
        f"errors {pooled_rate['plain']['errors']} + {pooled_rate['monitored']['errors']}"
    )

    print(f"\nstore: {args.rows} calls each, alternating, writer thread running beside them")
    print(f"{'':22}{'p50 us':>9}{'p99 us':>9}{'max us':>10}{'total ms':>10}")
    for label, key in (("service.store(x=i)", "service_store"), ("queue.Queue().put", "queue_put")):
        s = store[key]
        print(
            f"{label:22}{s['p50_us']:>9.2f}{s['p99_us']:>9.2f}{s['max_us']:>10.1f}"
            f"{s['total_ms']:>10.1f}"
        )
    print(
        f"{'ratio store / put':22}{store['ratio_p50']:>9.2f}{store['ratio_p99']:>9.2f}"
        f"{'':>10}{store['ratio_total']:>10.2f}"
    )
    print(
        f"goal store / put <= {GOAL_RATIO}: p50 {verdict(store['ratio_p50'])}, "
        f"total {verdict(store['ratio_total'])}"
    )
    print(
        f"flushed {store['flush_after_last_call_s']:.3f} s after the last call "
        f"({store['first_call_to_flushed_s']:.3f} s after the first); "
        f"rows in the file: {store['rows_in_file']} of {args.rows}"
    )
    print(
        "one call, piece by piece (us): "
        + ", ".join(f"{k[:-3]} {v:.2f}" for k, v in store["breakdown_per_call"].items())
    )
    print(
        f"\nservice: {service_rows} monitored_request rows for {monitored_calls} monitored calls, "
        f"exit code {exit_code}"
    )
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
