"""Benchmark: what access control costs a call, through the ingress and pod to pod.

Two copies of die_roller run side by side in one namespace: ``dice_open`` with ``spec.public``
(no forwardAuth on its Ingress, no check in its app) and ``dice_private`` (the secure default:
Traefik asks the gate, the app checks callers that skip the ingress). ``POST /roll_die`` is
timed back to back with one client, in alternating rounds so drift hits both alike, each round
after warm-up requests that fill the gate's and the app's caches (the steady state: a caller
keeps its token for hours, a decision is reused for 5 s). Through the ingress the client runs on
the host; pod to pod the same loop (``cluster_bench.closed_loop``) runs in a client pod of the
runtime image, against the Services' cluster DNS names, with the namespace caller's token.

Prints p50/p99 of each and the ratios private / open (goal: <= 1.15 with a warm cache) and
writes ``bench/results/access.json``. Needs root. Usage:
``.venv/bin/python bench/access.py [--rounds 10] [--requests 200]``.
"""

from __future__ import annotations

import argparse
import inspect
import json
from typing import Any

import cluster_bench
from cluster_bench import (
    Cluster,
    bench_namespace,
    finish_machine_state,
    machine_state,
    manifest,
    network,
    now_utc,
    prepare,
    print_table,
    summary,
    wait_until,
    write_results,
)
from service_calls import CLIENT_POD, RUNTIME_IMAGE, client_pod

from daeploy.contract import CALLER_ACCOUNT, TOKEN_AUDIENCE
from daeploy.names import service_dns_name, service_path

HOST = "access.bench.local"
IMAGE = "localhost/die-roller:1.0.0"
SERVICES = {"open": "dice_open", "private": "dice_private"}

IN_POD_RUNNER = """
import json
import sys

url, requests, headers = sys.argv[1:4]
print(json.dumps(closed_loop(url, 1, int(requests), 120.0, json.loads(headers))))
"""


def in_pod(cluster: Cluster, namespace: str, url: str, requests: int, headers: dict) -> list:
    script = (
        "from __future__ import annotations\n"
        + inspect.getsource(cluster_bench.closed_loop)
        + IN_POD_RUNNER
    )
    out = cluster.kubectl(
        "exec", "-i", "-n", namespace, CLIENT_POD, "--",
        "python", "-", url, str(requests), json.dumps(headers), input=script, timeout=240,
    ).stdout  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    assert result["error_count"] == 0, result["errors"]
    return list(result["latencies"])


def on_host(url: str, requests: int, headers: dict) -> list:
    result = cluster_bench.closed_loop(url, 1, requests, 120.0, headers)
    assert result["error_count"] == 0, result["errors"]
    return list(result["latencies"])


def compare(samples: dict[str, list[float]]) -> dict[str, Any]:
    figures = {kind: summary(latencies) for kind, latencies in samples.items()}
    return {
        **figures,
        "ratio_p50": round(figures["private"]["p50_ms"] / figures["open"]["p50_ms"], 3),
        "ratio_p99": round(figures["private"]["p99_ms"] / figures["open"]["p99_ms"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds per path")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per round")
    parser.add_argument("--rebuild", action="store_true", help="rebuild every project image")
    args = parser.parse_args()

    cluster, operator_namespace = prepare(args.rebuild)
    machine = machine_state(cluster, operator_namespace)
    samples: dict[str, dict[str, list[float]]] = {
        "ingress": {"open": [], "private": []},
        "pod_to_pod": {"open": [], "private": []},
    }
    with bench_namespace(cluster, "bench-access", HOST) as namespace:
        for kind, name in SERVICES.items():
            obj = manifest(name, "1.0.0", image=IMAGE, public=kind == "open")
            cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))
        cluster.kubectl("apply", "-f", "-", input=json.dumps(client_pod(namespace)))
        cluster.kubectl(
            "wait", "--for=condition=Ready", "dsvc", "--all", "-n", namespace,
            "--timeout=240s", timeout=260,
        )  # fmt: skip
        token = cluster.kubectl(
            "-n", namespace, "create", "token", CALLER_ACCOUNT, f"--audience={TOKEN_AUDIENCE}",
        ).stdout.strip()  # fmt: skip
        auth = {"Authorization": f"Bearer {token}"}
        headers = {"open": {}, "private": auth}
        ingress = {
            k: f"{network.INGRESS_URL}{service_path(n)}/roll_die" for k, n in SERVICES.items()
        }
        pods = {k: f"http://{service_dns_name(n, namespace)}/roll_die" for k, n in SERVICES.items()}
        for kind in SERVICES:
            wait_until(
                lambda kind=kind: on_host(ingress[kind], 1, {"Host": HOST, **headers[kind]}),
                f"{SERVICES[kind]} to answer through the ingress", timeout=240, every=1,
            )  # fmt: skip
        cluster.kubectl(
            "wait", "--for=condition=Ready", f"pod/{CLIENT_POD}", "-n", namespace,
            "--timeout=180s", timeout=200,
        )  # fmt: skip
        for round_ in range(args.rounds):
            # Alternate which goes first, so neither always follows the other.
            order = ("open", "private") if round_ % 2 == 0 else ("private", "open")
            for kind in order:
                samples["ingress"][kind] += on_host(
                    ingress[kind], args.requests, {"Host": HOST, **headers[kind]}
                )
            for kind in order:
                samples["pod_to_pod"][kind] += in_pod(
                    cluster, namespace, pods[kind], args.requests, headers[kind]
                )
            print(f"round {round_ + 1}/{args.rounds} done", flush=True)

    paths = {path: compare(by_kind) for path, by_kind in samples.items()}
    results = {
        "benchmark": "access",
        "when": now_utc(),
        "machine": finish_machine_state(machine),
        "bounds": {"rounds": args.rounds, "requests_per_round": args.requests, "clients": 1},
        "client_pod_image": RUNTIME_IMAGE,
        "paths": paths,
    }
    out = write_results("access", results)
    print_table(
        ["path", "open p50 ms", "token p50 ms", "p50 ratio", "open p99 ms", "token p99 ms",
         "p99 ratio", "requests each"],
        [
            [path, f["open"]["p50_ms"], f["private"]["p50_ms"], f["ratio_p50"],
             f["open"]["p99_ms"], f["private"]["p99_ms"], f["ratio_p99"], f["open"]["calls"]]
            for path, f in paths.items()
        ],
    )  # fmt: skip
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
