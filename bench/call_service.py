"""Benchmark: what ``call_service`` costs over a raw pooled httpx call, and yatzee throughput.

Starts the tutorial's die_roller and yatzee as local processes on 127.0.0.1, then measures in
one run:

1. ``call_service("die_roller", "roll_die")`` against ``httpx.Client.post(<same url>)`` with a
   pooled client, alternating call by call so drift hits both alike: p50, p99 and their
   ratios (goal: call_service / raw <= 1.10).
2. ``POST /play`` on yatzee (5 ``call_service`` calls each) with 1 and 8 concurrent clients,
   bounded by a number of plays and a time limit.

Prints a table and writes ``bench/results/call_service.json``. Usage:
``.venv/bin/python bench/call_service.py [--calls 2000] [--plays 1000] [--seconds 20]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "call_service.json"
GOAL_RATIO = 1.10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def service_process(name: str, env: dict[str, str]) -> Iterator[str]:
    """Run services/<name>/service.py; yields its base URL; stops it by PID."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(REPO / "services" / name / "service.py")],
        env={**os.environ, "DAEPLOY_PORT": str(port), "DAEPLOY_SERVICE_NAME": name, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}")
            try:
                if httpx.get(url + "/~health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not get ready")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(15)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(latencies_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in latencies_s]
    return {
        "calls": len(ms),
        "p50_ms": round(percentile(ms, 0.50), 4),
        "p99_ms": round(percentile(ms, 0.99), 4),
        "mean_ms": round(statistics.fmean(ms), 4),
    }


def timed(call: Callable[[], Any], count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - start)
    return latencies


def compare_calls(die_roller: str, calls: int) -> dict[str, Any]:
    from daeploy.communication import call_service

    os.environ["DAEPLOY_SERVICE_URLS"] = json.dumps({"die_roller": die_roller})
    raw_client = httpx.Client()
    url = f"{die_roller}/roll_die"

    def raw() -> int:
        response = raw_client.post(url)
        response.raise_for_status()
        return int(response.json())

    def sdk() -> int:
        return int(call_service(service_name="die_roller", entrypoint_name="roll_die"))

    timed(raw, 200)
    timed(sdk, 200)
    # Alternate call by call (order flipping each pair) so load from other processes on the
    # machine lands on both sides alike; the tail (p99) is otherwise mostly that noise.
    raw_times: list[float] = []
    sdk_times: list[float] = []
    for index in range(calls):
        pair = ((raw, raw_times), (sdk, sdk_times))
        for func, times in pair if index % 2 == 0 else reversed(pair):
            start = time.perf_counter()
            func()
            times.append(time.perf_counter() - start)
    raw_client.close()
    raw_stats, sdk_stats = summary(raw_times), summary(sdk_times)
    return {
        "raw_httpx": raw_stats,
        "call_service": sdk_stats,
        "ratio_p50": round(sdk_stats["p50_ms"] / raw_stats["p50_ms"], 3),
        "ratio_p99": round(sdk_stats["p99_ms"] / raw_stats["p99_ms"], 3),
        "goal_ratio": GOAL_RATIO,
    }


def play_throughput(yatzee: str, clients: int, plays: int, seconds: float) -> dict[str, Any]:
    remaining = [plays]
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    stop_at = time.monotonic() + seconds

    def client_loop() -> None:
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < stop_at:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                start = time.perf_counter()
                response = client.post(f"{yatzee}/play")
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status_code == 200 and len(response.json()) == 5:
                        latencies.append(elapsed)
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "plays": len(latencies),
        "errors": errors[0],
        "seconds": round(wall, 3),
        "plays_per_s": round(len(latencies) / wall, 1),
        "die_roller_calls_per_s": round(5 * len(latencies) / wall, 1),
        **{k: v for k, v in summary(latencies).items() if k != "calls"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per method")
    parser.add_argument("--plays", type=int, default=1000, help="max plays per concurrency")
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit per concurrency")
    args = parser.parse_args()

    with service_process("die_roller", {"DAEPLOY_SERVICE_VERSION": "1.0.0"}) as die_roller:
        comparison = compare_calls(die_roller, args.calls)
        urls = json.dumps({"die_roller": die_roller})
        with service_process("yatzee", {"DAEPLOY_SERVICE_URLS": urls}) as yatzee:
            httpx.post(f"{yatzee}/play").raise_for_status()
            throughput = [
                play_throughput(yatzee, clients, args.plays, args.seconds) for clients in (1, 8)
            ]

    results = {
        "benchmark": "call_service",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "call_vs_raw": comparison,
        "yatzee_play": throughput,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    raw, sdk = comparison["raw_httpx"], comparison["call_service"]
    print(f"call_service vs raw pooled httpx, {sdk['calls']} calls each, die_roller /roll_die")
    print(f"{'':14}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for label, stats in (("raw httpx", raw), ("call_service", sdk)):
        print(
            f"{label:14}{stats['p50_ms']:>10.3f}{stats['p99_ms']:>10.3f}{stats['mean_ms']:>10.3f}"
        )
    verdict = (
        "meets"
        if max(comparison["ratio_p50"], comparison["ratio_p99"]) <= GOAL_RATIO
        else ("misses")
    )
    print(
        f"{'ratio':14}{comparison['ratio_p50']:>10.3f}{comparison['ratio_p99']:>10.3f}"
        f"   ({verdict} the goal <= {GOAL_RATIO})"
    )
    print()
    print("yatzee POST /play (5 call_service calls each)")
    print(f"{'clients':>8}{'plays':>8}{'errors':>8}{'plays/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for row in throughput:
        print(
            f"{row['clients']:>8}{row['plays']:>8}{row['errors']:>8}{row['plays_per_s']:>10.1f}"
            f"{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}"
        )
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
