"""How fast the local cluster comes up and goes down, and what it costs at idle.

Runs ``down`` then ``up`` ROUNDS times on a machine whose components are already built (the
warm path every later run takes), measures the idle footprint once the node and its system pods
are Ready, and writes ``bench/results/cluster_lifecycle.json``. Needs root. Leaves the cluster up.

    sudo .venv/bin/python bench/cluster_lifecycle.py [ROUNDS]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

from cluster_bench import rss_kib  # noqa: E402

from localcluster import node, processes, versions  # noqa: E402
from localcluster.layout import Layout  # noqa: E402


def idle_memory(layout: Layout) -> dict[str, float]:
    daemons = {n: processes.running_pid(layout, n) for n in node.DAEMON_ORDER}
    mib = {n: rss_kib(pid) / 1024 for n, pid in daemons.items() if pid}
    mib["pods (all containers)"] = sum(rss_kib(p) for p in node._pod_pids()) / 1024
    mib["containerd shims"] = sum(rss_kib(p) for p in node._our_shims(layout)) / 1024
    mib["total"] = sum(mib.values())
    return {k: round(v, 1) for k, v in mib.items()}


def _du_mib(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass
    return round(total / 2**20, 1)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    layout = Layout()
    node.up(layout)
    ups, downs = [], []
    for _ in range(rounds):
        start = time.monotonic()
        node.down(layout)
        downs.append(time.monotonic() - start)
        assert not node.leftovers(layout), node.leftovers(layout)
        start = time.monotonic()
        node.up(layout)
        ups.append(time.monotonic() - start)
    time.sleep(20)  # let the system pods settle before reading memory
    memory = idle_memory(layout)
    start = time.monotonic()
    node.up(layout)
    second_up = time.monotonic() - start
    result = {
        "rounds": rounds,
        "up_warm_s": {
            "median": round(statistics.median(ups), 2),
            "all": [round(x, 2) for x in ups],
        },
        "down_s": {
            "median": round(statistics.median(downs), 2),
            "all": [round(x, 2) for x in downs],
        },
        "up_when_healthy_s": round(second_up, 3),
        "idle_rss_mib": memory,
        "cache_mib": {"binaries+images": _du_mib(versions.CACHE)},
    }
    print(f"{'measure':<32}{'value':>12}")
    print(
        f"{'up (warm, median of ' + str(rounds) + ')':<32}{result['up_warm_s']['median']:>11.1f}s"
    )
    print(f"{'down (median)':<32}{result['down_s']['median']:>11.1f}s")
    print(f"{'up on a healthy node':<32}{second_up:>11.2f}s")
    for name, mib in memory.items():
        print(f"{'idle RSS ' + name:<32}{mib:>9.1f}MiB")
    print(f"{'cache ' + str(versions.CACHE):<32}{result['cache_mib']['binaries+images']:>9.1f}MiB")
    out = REPO / "bench" / "results" / "cluster_lifecycle.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
