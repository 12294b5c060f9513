"""Benchmark: yatzee ``POST /play`` (five die_roller calls each) on the cluster, through the
ingress and pod to pod, with 1 and 8 concurrent clients.

The tutorial's die_roller and yatzee run from their images in a namespace with its own ingress
host. Through the ingress, the client runs on the host and sends ``Host:``; pod to pod, the
same client loop (``cluster_bench.closed_loop``, its source shipped as is) runs in a client pod
made from the runtime image, against the Services' cluster DNS names. die_roller ``roll_die``
(one hop) runs alongside as the baseline. Each level is bounded by a number of requests and a
time limit, after 10 warm-up requests.

Prints a table and writes ``bench/results/service_calls.json``. Needs root. Usage:
``.venv/bin/python bench/service_calls.py [--requests 500] [--seconds 20]``.
"""

from __future__ import annotations

import argparse
import inspect
import json
from typing import Any

import cluster_bench
from cluster_bench import (
    REPO,
    Cluster,
    bench_namespace,
    finish_machine_state,
    ingress_client,
    machine_state,
    network,
    now_utc,
    prepare,
    print_table,
    summary,
    wait_until,
    write_results,
)

from daeploy.names import service_dns_name

HOST = "service-calls.bench.local"
CLIENT_POD = "bench-client"
RUNTIME_IMAGE = "localhost/daeploy-runtime:0.1.0"
LEVELS = (1, 8)
# (label, service, entrypoint)
CALLS = (("yatzee /play", "yatzee", "play"), ("die_roller /roll_die", "die_roller", "roll_die"))

IN_POD_RUNNER = """
import json
import sys

url, clients, requests, seconds, headers = sys.argv[1:6]
result = closed_loop(url, int(clients), int(requests), float(seconds), json.loads(headers))
print(json.dumps(result))
"""


def client_pod(namespace: str) -> dict[str, Any]:
    """An idle pod of the runtime image (Python and httpx) to run the load loop in."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": CLIENT_POD, "namespace": namespace},
        "spec": {
            "activeDeadlineSeconds": 1800,
            "terminationGracePeriodSeconds": 1,
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "client",
                    "image": RUNTIME_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", "import time; time.sleep(1800)"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def in_pod(
    cluster: Cluster, namespace: str, url: str, clients: int, requests: int, seconds: float
) -> dict[str, Any]:
    """``closed_loop`` run inside the client pod; its JSON result."""
    script = (
        "from __future__ import annotations\n"
        + inspect.getsource(cluster_bench.closed_loop)
        + IN_POD_RUNNER
    )
    out = cluster.kubectl(
        "exec", "-i", "-n", namespace, CLIENT_POD, "--",
        "python", "-", url, str(clients), str(requests), str(seconds),
        json.dumps(cluster_bench.AUTH_HEADERS), input=script, timeout=seconds + 120,
    ).stdout  # fmt: skip
    return dict(json.loads(out.strip().splitlines()[-1]))


def figures(raw: dict[str, Any], clients: int) -> dict[str, Any]:
    latencies = raw["latencies"]
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": raw["error_count"],
        "error_samples": raw["errors"],
        "seconds": round(raw["seconds"], 2),
        "requests_per_s": round(len(latencies) / raw["seconds"], 1) if latencies else 0.0,
        **({k: v for k, v in summary(latencies).items() if k != "calls"} if latencies else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="max requests per level")
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit per level")
    parser.add_argument("--rebuild", action="store_true", help="rebuild every project image")
    args = parser.parse_args()

    cluster, operator_namespace = prepare(args.rebuild)
    machine = machine_state(cluster, operator_namespace)
    rows: list[dict[str, Any]] = []
    with bench_namespace(cluster, "bench-calls", HOST) as namespace:
        for service in ("die_roller", "yatzee"):
            manifest_file = REPO / "services" / service / "daeployservice.yaml"
            cluster.kubectl("apply", "-n", namespace, "-f", str(manifest_file))
        cluster.kubectl("apply", "-f", "-", input=json.dumps(client_pod(namespace)))
        with ingress_client(HOST) as client:
            for _, service, entrypoint in CALLS:
                path = f"/services/{service}/{entrypoint}"
                wait_until(
                    lambda path=path: client.post(path, json={}).status_code == 200,
                    f"{path} to answer through the ingress", timeout=240, every=0.5,
                )  # fmt: skip
        cluster.kubectl(
            "wait", "--for=condition=Ready", f"pod/{CLIENT_POD}", "-n", namespace,
            "--timeout=180s", timeout=200,
        )  # fmt: skip
        for label, service, entrypoint in CALLS:
            ingress_url = f"{network.INGRESS_URL}/services/{service}/{entrypoint}"
            pod_url = f"http://{service_dns_name(service, namespace)}/{entrypoint}"
            for clients in LEVELS:
                through_ingress = cluster_bench.closed_loop(
                    ingress_url, clients, args.requests, args.seconds,
                    {"Host": HOST, **cluster_bench.AUTH_HEADERS},
                )  # fmt: skip
                pod_to_pod = in_pod(
                    cluster, namespace, pod_url, clients, args.requests, args.seconds
                )
                rows.append({
                    "call": label,
                    "ingress": {"url": ingress_url, **figures(through_ingress, clients)},
                    "pod_to_pod": {"url": pod_url, **figures(pod_to_pod, clients)},
                })  # fmt: skip
                print(f"{label} x{clients}: ingress p50 {rows[-1]['ingress'].get('p50_ms')} ms, "
                      f"pod p50 {rows[-1]['pod_to_pod'].get('p50_ms')} ms", flush=True)  # fmt: skip

    results = {
        "benchmark": "service_calls",
        "when": now_utc(),
        "machine": finish_machine_state(machine),
        "bounds": {"requests": args.requests, "seconds": args.seconds},
        "client_pod_image": RUNTIME_IMAGE,
        "levels": rows,
    }
    out = write_results("service_calls", results)

    print(f"\nbounded at {args.requests} requests or {args.seconds:.0f} s per level")
    print_table(
        ["call", "clients", "ingress p50 ms", "ingress p99 ms", "ingress req/s",
         "pod p50 ms", "pod p99 ms", "pod req/s", "errors"],
        [
            [r["call"], r["ingress"]["clients"],
             r["ingress"].get("p50_ms", "-"), r["ingress"].get("p99_ms", "-"),
             r["ingress"]["requests_per_s"],
             r["pod_to_pod"].get("p50_ms", "-"), r["pod_to_pod"].get("p99_ms", "-"),
             r["pod_to_pod"]["requests_per_s"],
             r["ingress"]["errors"] + r["pod_to_pod"]["errors"]]
            for r in rows
        ],
    )  # fmt: skip
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
