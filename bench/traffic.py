"""Benchmark: what shadow versions cost the callers of /services/<name>, through the ingress.

Three service names run side by side in one namespace, each with the same main version of the
recorder app (tests/sdk/apps/recorder_service.py): ``plain`` has no other version, ``shadowed``
has two healthy shadows, and ``troubled`` has a shadow that fails every request with HTTP 500
and one that takes 2 s to answer. One client alternates request by request between the three
main routes, each over its own keep-alive connection, so a busy moment of the 2-core machine hits
all alike; Traefik copies each request of ``shadowed`` and ``troubled`` to their shadows after
answering the caller. Requests start every ``--interval`` seconds (10 ms by default: one
request every 30 ms per name, a load this machine serves with a core to spare, so the table
shows the latency the copies add and not a saturated CPU; ``--interval 0`` runs back to back,
where the copies' CPU on two shared cores shows as well). The loop runs ``--rounds`` times;
the table shows every round and the pooled samples, with the ratios shadowed / plain (goal:
p50 and p99 <= 1.15), troubled / plain, and troubled / shadowed: what a failing and a sleeping
shadow change against healthy ones (goal: p99 by less than 10%). The copies
cost CPU on the same two cores as everything else, which is part of what is measured. Needs
root. Usage:
``.venv/bin/python bench/traffic.py [--requests 3000] [--rounds 3] [--interval 0.01]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from alternating import alternate
from cluster_bench import (
    AUTH_HEADERS,
    REPO,
    Cluster,
    bench_namespace,
    finish_machine_state,
    machine_state,
    network,
    now_utc,
    prepare,
    print_table,
    summary,
    wait_until,
    write_results,
)

from daeploy.names import service_path, version_object_name

HOST = "traffic.bench.local"
APP = REPO / "tests" / "sdk" / "apps" / "recorder_service.py"
DAEPLOY = Path(sys.executable).parent / "daeploy"
# name -> the versions after the main 1.0.0, with their RECORDER_MODE
SERVICES: dict[str, dict[str, str]] = {
    "plain": {},
    "shadowed": {"2.0.0": "", "3.0.0": ""},
    "troubled": {"2.0.0": "fail", "3.0.0": "slow"},
}


def deploy(cluster: Cluster, namespace: str, folder: Path) -> None:
    def run(*args: str) -> None:
        result = subprocess.run(
            [str(DAEPLOY), "--namespace", namespace, "deploy", *args, str(folder)],
            env=cluster.env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(f"deploy {args} failed:\n{result.stdout}{result.stderr}")

    for name, others in SERVICES.items():
        run(name, "1.0.0")
        for version, mode in others.items():
            run(name, version, *(["-e", f"RECORDER_MODE={mode}"] if mode else []))


def paced(urls: dict[str, str], requests: int, headers: dict, interval: float) -> dict:
    """``alternate`` with a request starting every ``interval`` seconds at most; every request
    must be answered 200."""
    result = alternate(urls, requests, headers, interval)
    if result["error_count"]:
        raise SystemExit(f"{result['error_count']} requests failed: {result['errors']}")
    return dict(result["latencies"])


def traffic_of(cluster: Cluster, namespace: str, name: str, version: str) -> str:
    out = cluster.kubectl(
        "get", "dsvc", version_object_name(name, version), "-n", namespace,
        "-o", "jsonpath={.status.traffic}",
    ).stdout  # fmt: skip
    return out.strip()


def ratios(samples: dict[str, list[float]]) -> dict[str, Any]:
    figures = {kind: summary(latencies) for kind, latencies in samples.items()}
    plain = figures["plain"]
    out: dict[str, Any] = dict(figures)
    for kind in ("shadowed", "troubled"):
        out[f"{kind}_p50_ratio"] = round(figures[kind]["p50_ms"] / plain["p50_ms"], 3)
        out[f"{kind}_p99_ratio"] = round(figures[kind]["p99_ms"] / plain["p99_ms"], 3)
    # What a failing and a 2 s shadow change against two healthy ones: the same copying.
    out["troubled_vs_shadowed_p99_ratio"] = round(
        figures["troubled"]["p99_ms"] / figures["shadowed"]["p99_ms"], 3
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per name")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --requests each")
    parser.add_argument(
        "--interval", type=float, default=0.01,
        help="seconds from one request's start to the next (0: back to back)",
    )  # fmt: skip
    parser.add_argument("--rebuild", action="store_true", help="rebuild every project image")
    args = parser.parse_args()

    cluster, operator_namespace = prepare(args.rebuild)
    machine = machine_state(cluster, operator_namespace)
    with bench_namespace(cluster, "bench-traffic", HOST) as namespace:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "recorder"
            folder.mkdir()
            shutil.copy(APP, folder / "service.py")
            deploy(cluster, namespace, folder)
        for name, others in SERVICES.items():
            wanted = ["main 100%", *(["shadow"] * len(others))]
            versions = ["1.0.0", *others]
            wait_until(
                lambda n=name, v=versions, w=wanted: [
                    traffic_of(cluster, namespace, n, x) for x in v
                ] == w,
                f"{name}: the main and its shadows to be routed", timeout=300,
            )  # fmt: skip
        urls = {n: f"{network.INGRESS_URL}{service_path(n)}/hit" for n in SERVICES}
        headers = {n: {"Host": HOST, **AUTH_HEADERS} for n in SERVICES}
        for name in SERVICES:
            wait_until(
                lambda n=name: alternate({n: urls[n]}, 1, {n: headers[n]}, warmup=0)[
                    "error_count"
                ] == 0,
                f"{name} to answer through the ingress", timeout=240,
            )  # fmt: skip
        rounds = [paced(urls, args.requests, headers, args.interval) for _ in range(args.rounds)]

    pooled = ratios({n: [x for r in rounds for x in r[n]] for n in SERVICES})
    per_round = [ratios(r) for r in rounds]
    results = {
        "benchmark": "traffic",
        "when": now_utc(),
        "machine": finish_machine_state(machine),
        "bounds": {
            "requests_per_name_per_round": args.requests,
            "rounds": args.rounds,
            "clients": 1,
            "alternating": True,
            "interval_seconds": args.interval,
        },
        "services": SERVICES,
        "pooled": pooled,
        "rounds": per_round,
    }
    out = write_results("traffic", results)
    rows = [(f"round {i + 1}", f) for i, f in enumerate(per_round)] + [("all rounds", pooled)]
    print_table(
        ["rounds", "plain p50", "shadowed p50", "ratio", "plain p99", "shadowed p99", "ratio",
         "troubled p50", "ratio", "troubled p99", "ratio", "vs shadowed", "requests each"],
        [
            [label, f["plain"]["p50_ms"], f["shadowed"]["p50_ms"], f["shadowed_p50_ratio"],
             f["plain"]["p99_ms"], f["shadowed"]["p99_ms"], f["shadowed_p99_ratio"],
             f["troubled"]["p50_ms"], f["troubled_p50_ratio"], f["troubled"]["p99_ms"],
             f["troubled_p99_ratio"], f["troubled_vs_shadowed_p99_ratio"], f["plain"]["calls"]]
            for label, f in rows
        ],
    )  # fmt: skip
    print(f"\n(milliseconds) written to {out}")


if __name__ == "__main__":
    main()
