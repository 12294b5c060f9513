"""Benchmark: what access control costs a call, through the ingress and pod to pod.

Two copies of die_roller run side by side in one namespace: ``dice_open`` with ``spec.public``
(no access check on its Ingress, none in its app) and ``dice_private`` (the secure default: the
ingress asks the gate, the app checks callers that skip the ingress). ``POST /roll_die`` with one
client that alternates request by request between the two, each over its own keep-alive
connection, so a busy moment of the 2-core machine hits both alike (p99 included), after warm-up
requests that fill the caches (the steady state: a caller keeps its token for hours, an answer
is reused for 5 s). Through the ingress the client runs on the host; pod to pod the same loop
runs in a client pod of the runtime image against the Services' cluster DNS names, with the
namespace caller's token.

The tail of 10,000 calls on two busy cores moves by +-10% from one run to the next, so the loop
runs ``--rounds`` times (3 by default): the table shows every round, and the ratios of all the
rounds' samples pooled, whose p99 rests on three times as many slow calls. Prints p50/p99 of each
and the ratios private / open (goal: <= 1.15 with a warm cache) and writes
``bench/results/access.json``. Needs root. Usage:
``.venv/bin/python bench/access.py [--requests 10000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import inspect
import json
from typing import Any

from alternating import alternate
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

urls, requests, headers = sys.argv[1:4]
print(json.dumps(alternate(json.loads(urls), int(requests), json.loads(headers))))
"""


def in_pod(cluster: Cluster, namespace: str, urls: dict, requests: int, headers: dict) -> dict:
    script = "from __future__ import annotations\n" + inspect.getsource(alternate) + IN_POD_RUNNER
    out = cluster.kubectl(
        "exec", "-i", "-n", namespace, CLIENT_POD, "--",
        "python", "-", json.dumps(urls), str(requests), json.dumps(headers),
        input=script, timeout=900,
    ).stdout  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    assert result["error_count"] == 0, result["errors"]
    return dict(result["latencies"])


def on_host(urls: dict, requests: int, headers: dict) -> dict:
    result = alternate(urls, requests, headers)
    assert result["error_count"] == 0, result["errors"]
    return dict(result["latencies"])


def compare(samples: dict[str, list[float]]) -> dict[str, Any]:
    figures = {kind: summary(latencies) for kind, latencies in samples.items()}
    return {
        **figures,
        "ratio_p50": round(figures["private"]["p50_ms"] / figures["open"]["p50_ms"], 3),
        "ratio_p99": round(figures["private"]["p99_ms"] / figures["open"]["p99_ms"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10000, help="timed requests per side")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --requests each")
    parser.add_argument("--rebuild", action="store_true", help="rebuild every project image")
    args = parser.parse_args()

    cluster, operator_namespace = prepare(args.rebuild)
    machine = machine_state(cluster, operator_namespace)
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
                lambda kind=kind: on_host(
                    {kind: ingress[kind]}, 1, {kind: {"Host": HOST, **headers[kind]}}
                ),
                f"{SERVICES[kind]} to answer through the ingress", timeout=240, every=1,
            )  # fmt: skip
        cluster.kubectl(
            "wait", "--for=condition=Ready", f"pod/{CLIENT_POD}", "-n", namespace,
            "--timeout=180s", timeout=200,
        )  # fmt: skip
        via_ingress = {kind: {"Host": HOST, **headers[kind]} for kind in SERVICES}
        rounds = [
            {
                "ingress": on_host(ingress, args.requests, via_ingress),
                "pod_to_pod": in_pod(cluster, namespace, pods, args.requests, headers),
            }
            for _ in range(args.rounds)
        ]

    samples = {
        path: {kind: [x for r in rounds for x in r[path][kind]] for kind in SERVICES}
        for path in ("ingress", "pod_to_pod")
    }
    paths = {path: compare(by_kind) for path, by_kind in samples.items()}
    per_round = [{path: compare(by_kind) for path, by_kind in r.items()} for r in rounds]
    results = {
        "benchmark": "access",
        "when": now_utc(),
        "machine": finish_machine_state(machine),
        "bounds": {
            "requests_per_side_per_round": args.requests,
            "rounds": args.rounds,
            "clients": 1,
            "alternating": True,
        },
        "client_pod_image": RUNTIME_IMAGE,
        "paths": paths,
        "rounds": per_round,
    }
    out = write_results("access", results)
    rows = [
        (f"round {i + 1}", path, f) for i, r in enumerate(per_round) for path, f in r.items()
    ] + [("all rounds", path, f) for path, f in paths.items()]
    print_table(
        ["rounds", "path", "open p50 ms", "token p50 ms", "p50 ratio", "open p99 ms",
         "token p99 ms", "p99 ratio", "requests each"],
        [
            [label, path, f["open"]["p50_ms"], f["private"]["p50_ms"], f["ratio_p50"],
             f["open"]["p99_ms"], f["private"]["p99_ms"], f["ratio_p99"], f["open"]["calls"]]
            for label, path, f in rows
        ],
    )  # fmt: skip
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
