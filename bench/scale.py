"""Benchmark: 200 and then 1,000 DaeployServices applied at once; how long until every one has
its children and an up-to-date status, and what the operator costs meanwhile.

Shape: 10 versions per name (20 names x 10 for 200, 100 names x 10 for 1,000), the newest
version of each name ``main: true``, all ``replicas: 0`` so a one-node cluster holds them. The
operator reconciles per name (all versions of a name share the per-name Service and Ingress), so
names set the number of reconciles and versions their size; ten versions a name is a busy but
plausible service, and keeps both dimensions in play. Objects are created by server-side apply
from 8 threads. Converged means: every DaeployService has ``observedGeneration == generation``
and its Ready, Available and Routed conditions, and every child exists (a Deployment and a
Service per version, a Service and an Ingress per name), all stamped by watches on arrival.
The operator container's processes (found through the pod's containerID, the containerd task
and its cgroup) are sampled from the host every 0.5 s: RSS from /proc/<pid>/status, CPU from
/proc/<pid>/stat; the API server and etcd likewise, to see where the time goes. Each size runs in
a fresh namespace, deleted (and waited for) before the next.

Goals: 1,000 converged within 60 s; operator RSS under 150 MB. Prints a table and writes
``bench/results/scale.json``. Needs root. Usage:
``.venv/bin/python bench/scale.py [--sizes 200,1000] [--timeout 300]``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cluster_bench import (
    RESULTS_DIR,
    Cluster,
    Sampler,
    Seen,
    Watch,
    api,
    apiserver_requests,
    bench_namespace,
    daemon_pids,
    finish_machine_state,
    machine_state,
    manifest,
    name_of,
    now_utc,
    operator_container_state,
    operator_pids,
    percentile,
    prepare,
    print_table,
    requests_between,
    write_results,
)

from daeploy.contract import PLURAL
from daeploy.names import service_object_name
from daeploy_operator.api import ApiServer

HOST = "scale.bench.local"
IMAGE = "localhost/die-roller:1.0.0"
VERSIONS_PER_NAME = 10
CREATE_THREADS = 8
GOAL_SECONDS = 60.0
GOAL_SIZE = 1000
GOAL_RSS_MIB = 150.0
CONDITIONS = {"Ready", "Available", "Routed"}
RESULTS = RESULTS_DIR / "scale.json"


def objects(size: int, namespace: str) -> list[dict[str, Any]]:
    names = size // VERSIONS_PER_NAME
    out = []
    for n in range(names):
        for v in range(VERSIONS_PER_NAME):
            obj = manifest(
                f"svc_{n:03d}", f"1.{v}.0", image=IMAGE, replicas=0,
                main=v == VERSIONS_PER_NAME - 1,
            )  # fmt: skip
            obj["metadata"]["namespace"] = namespace
            out.append(obj)
    return out


def up_to_date(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    kinds = {c.get("type") for c in status.get("conditions") or []}
    return status.get("observedGeneration") == obj["metadata"].get("generation") and (
        kinds >= CONDITIONS
    )


@dataclass
class Tally:
    """Names seen so far of one kind, and when the expected set was first complete."""

    expected: set[str]
    check: Any = None  # a predicate on the object, or None for "exists"
    done: dict[str, float] = field(default_factory=dict)
    complete_at: float | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def on_event(self, seen: Seen) -> None:
        name = name_of(seen.obj)
        if name not in self.expected:
            return
        with self._lock:
            if seen.type == "DELETED" or (self.check and not self.check(seen.obj)):
                self.done.pop(name, None)
            elif name not in self.done:
                self.done[name] = seen.at
            if self.complete_at is None and len(self.done) == len(self.expected):
                self.complete_at = seen.at


def run_size(
    cluster: Cluster, server: ApiServer, operator_namespace: str, size: int, timeout: float
) -> dict[str, Any]:
    with bench_namespace(cluster, f"bench-scale-{size}", HOST) as namespace:
        batch = objects(size, namespace)
        names = sorted({o["spec"]["name"] for o in batch})
        resources = {name_of(o) for o in batch}
        tallies = {
            "daeployservices": Tally(resources, up_to_date),
            "deployments": Tally(resources),
            "services": Tally(resources | {service_object_name(n) for n in names}),
            "ingresses": Tally({service_object_name(n) for n in names}),
        }
        watches = [Watch(server, p, namespace, t.on_event) for p, t in tallies.items()]
        samplers = {
            "operator": Sampler(lambda: operator_pids(cluster, operator_namespace)),
            "kube-apiserver": Sampler(lambda: daemon_pids(cluster, "kube-apiserver")),
            "etcd": Sampler(lambda: daemon_pids(cluster, "etcd")),
        }
        restarts_before = operator_container_state(cluster, operator_namespace)["restarts"]
        for sampler in samplers.values():
            sampler.__enter__()
        for watch in watches:
            watch.__enter__()
        time.sleep(2.0)  # idle samples, and the watches' initial (empty) lists done
        requests_before = apiserver_requests(cluster)
        start = time.monotonic()
        with ThreadPoolExecutor(CREATE_THREADS) as pool:
            list(pool.map(server.apply, batch))
        applied = time.monotonic() - start
        deadline = start + timeout
        while time.monotonic() < deadline and any(t.complete_at is None for t in tallies.values()):
            time.sleep(0.5)
        complete = {p: t.complete_at for p, t in tallies.items()}
        converged = None if None in complete.values() else max(complete.values()) - start
        end = time.monotonic()
        requests = requests_between(requests_before, apiserver_requests(cluster), top=None)
        container = operator_container_state(cluster, operator_namespace)
        container["restarts"] -= restarts_before
        time.sleep(5.0)  # the operator's tail of child events and Event posts
        for watch in watches:
            watch.__exit__()
        status_times = sorted(t - start for t in tallies["daeployservices"].done.values())
        progress = {p: f"{len(t.done)}/{len(t.expected)}" for p, t in tallies.items()}
        delete_start = time.monotonic()
    deleted = time.monotonic() - delete_start
    for sampler in samplers.values():
        sampler.__exit__()
    result: dict[str, Any] = {
        "size": size,
        "names": len(names),
        "versions_per_name": VERSIONS_PER_NAME,
        "apply_seconds": round(applied, 2),
        "converged_seconds": None if converged is None else round(converged, 2),
        "objects_per_second": None if converged is None else round(size / converged, 1),
        "complete_after_seconds": {
            p: None if at is None else round(at - start, 2) for p, at in complete.items()
        },
        "progress_at_end": progress,
        "status_seconds": {
            "p50": round(percentile(status_times, 0.5), 2) if status_times else None,
            "p90": round(percentile(status_times, 0.9), 2) if status_times else None,
            "max": round(status_times[-1], 2) if status_times else None,
        },
        "namespace_delete_seconds": round(deleted, 1),
        "operator_restarts": container["restarts"],
        "operator_last_termination": container["last_termination"],
        "apiserver_busiest_requests": requests,
        "operator_requests_per_object": operator_requests_per_object(requests, size),
        "during_convergence": {n: s.between(start, end) for n, s in samplers.items()},
        "operator_idle_before_mib": round(samplers["operator"].samples[0].rss_mib, 1),
        "operator_during_delete": samplers["operator"].between(delete_start, time.monotonic()),
    }
    return result


# Requests attributed to the operator by their kind. The API server's metrics carry no user, but
# only the operator server-side applies these kinds (the bench applies the DaeployServices
# themselves, controllers use POST and PUT), and only it reads these kinds with GET or LIST while
# a run converges (kopf's watches list once at start). "POST events" also counts the
# controllers' Events, so it is an upper bound.
OPERATOR_READ_KINDS = {
    "services", "deployments", "ingresses", "pods", "namespaces", "serviceaccounts", "roles",
    "rolebindings",
}  # fmt: skip


def operator_requests_per_object(requests: list[dict[str, Any]], size: int) -> dict[str, float]:
    writes = reads = events = 0
    for row in requests:
        verb, _, resource = row["request"].partition(" ")
        if (verb == "APPLY" and resource != PLURAL) or (verb, resource) == ("DELETE", "ingresses"):
            writes += row["count"]
        elif verb in ("GET", "LIST") and (
            resource in OPERATOR_READ_KINDS or (verb, resource) == ("LIST", PLURAL)
        ):
            reads += row["count"]
        elif (verb, resource) == ("POST", "events"):
            events += row["count"]
    return {
        "writes": round(writes / size, 2),
        "reads": round(reads / size, 2),
        "events_at_most": round(events / size, 2),
    }


def previous_runs() -> list[dict[str, Any]]:
    try:
        return list(json.loads(RESULTS.read_text()).get("runs") or [])
    except (OSError, ValueError):
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200,1000", help="comma separated object counts")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait per size")
    parser.add_argument("--rebuild", action="store_true", help="rebuild every project image")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(s % VERSIONS_PER_NAME for s in sizes):
        parser.error(f"--sizes: each size must be a multiple of {VERSIONS_PER_NAME}")

    cluster, operator_namespace = prepare(args.rebuild)
    server = api(cluster)
    fresh = []
    for size in sizes:
        print(f"applying {size} DaeployServices ...", flush=True)
        machine = machine_state(cluster, operator_namespace)
        run = run_size(cluster, server, operator_namespace, size, args.timeout)
        fresh.append({"when": now_utc(), "machine": finish_machine_state(machine), **run})
        print(f"  converged after {run['converged_seconds']}s", flush=True)
    # A run of some sizes keeps the figures of the others, so sizes can run in separate turns.
    kept = [r for r in previous_runs() if r["size"] not in sizes]
    runs = sorted(kept + fresh, key=lambda r: r["size"])

    goal_run = next((r for r in runs if r["size"] == GOAL_SIZE), None)
    peak = max(r["during_convergence"]["operator"].get("rss_peak_mib", 0) for r in runs)
    met = {
        "1000_within_60s": bool(
            goal_run and goal_run["converged_seconds"] is not None
            and goal_run["converged_seconds"] <= GOAL_SECONDS
        ),
        "operator_rss_under_150mb": peak < GOAL_RSS_MIB,
    }  # fmt: skip
    growth: dict[str, Any] = {}
    if len(runs) >= 2:
        small, large = runs[0], runs[1]
        op_small = small["during_convergence"]["operator"]
        op_large = large["during_convergence"]["operator"]
        growth = {
            "sizes": [small["size"], large["size"]],
            "time_factor": round(large["converged_seconds"] / small["converged_seconds"], 2)
            if large["converged_seconds"] and small["converged_seconds"]
            else None,
            "operator_cpu_seconds": [op_small.get("cpu_seconds"), op_large.get("cpu_seconds")],
            "operator_rss_peak_mib": [op_small.get("rss_peak_mib"), op_large.get("rss_peak_mib")],
        }
    results = {
        "benchmark": "scale",
        "when": now_utc(),
        "runs": runs,
        "growth": growth,
        "goals": {"converged_seconds_for_1000": GOAL_SECONDS, "operator_rss_mib": GOAL_RSS_MIB},
        "goals_met": met,
    }
    out = write_results("scale", results)

    print()
    rows = []
    for r in runs:
        op = r["during_convergence"]["operator"]
        apiserver = r["during_convergence"]["kube-apiserver"]
        rows.append([
            f"{r['size']} ({r['names']} x {r['versions_per_name']})",
            r["apply_seconds"], _cell(r["converged_seconds"]), _cell(r["objects_per_second"]),
            op.get("rss_start_mib"), op.get("rss_peak_mib"), op.get("cpu_seconds"),
            op.get("cpu_peak_cores"), r.get("operator_restarts", "-"),
            apiserver.get("cpu_seconds"), r["namespace_delete_seconds"],
        ])  # fmt: skip
    print_table(
        ["DaeployServices", "apply s", "converged s", "objects/s", "op RSS MiB start",
         "op RSS MiB peak", "op CPU s", "op peak cores", "op restarts", "apiserver CPU s",
         "delete s"],
        rows,
    )  # fmt: skip
    for r in fresh:
        state = "" if r["converged_seconds"] else f" (not converged: {r['progress_at_end']})"
        print(f"\n{r['size']}: API server time by request while converging{state}")
        busiest = r["apiserver_busiest_requests"][:8]
        per_object = r.get("operator_requests_per_object") or {}
        print(f"operator requests per object: {per_object}")
        print_table(
            ["request", "count", "seconds", "MiB out"],
            [[q["request"], q["count"], q["seconds"], q["mib"]] for q in busiest],
        )
    if growth:
        print(f"\nfrom {growth['sizes'][0]} to {growth['sizes'][1]}: converge time "
              f"x{growth['time_factor'] or '-'}, operator CPU s {growth['operator_cpu_seconds']}, "
              f"operator peak RSS MiB {growth['operator_rss_peak_mib']}")  # fmt: skip
    print("goals: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items()))
    print(f"\nwritten to {out}")


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


if __name__ == "__main__":
    main()
