"""Benchmark: from applying a DaeployService to its first 200 through the ingress, against
applying the equivalent Deployment, Service and Ingress directly.

The direct Deployment and Service come from the operator's own builders (same image, probes,
rollout strategy, Service port), relabelled so the operator ignores them and without owners;
the direct Ingress routes /services/<name> to that Service with the operator's ingress class.
Both kinds run in one namespace with its own ingress host, alternating round by round, each
trial under a fresh name. The clock starts before the first API request (server-side apply
from Python) and stops at the first 200 of ``POST .../roll_die``, polled every 50 ms. Watches
stamp the steps in between (Deployment created, pod Ready, endpoints, Ingress) so the table
shows where the time goes. Goal: median DaeployService / median direct <= 1.10.

Prints a table and writes ``bench/results/time_to_serve.json``. Needs root. Usage:
``.venv/bin/python bench/time_to_serve.py [--rounds 5] [--rebuild]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
from cluster_bench import (
    Seen,
    Watch,
    api,
    bench_namespace,
    finish_machine_state,
    first,
    has_condition,
    ingress_client,
    machine_state,
    manifest,
    name_of,
    now_utc,
    operator_env,
    pod_ready,
    prepare,
    print_table,
    ready_endpoints,
    write_results,
)

from daeploy.contract import MANAGED_BY_LABEL, SERVICE_LABEL
from daeploy.names import label_value, service_object_name, version_object_name
from daeploy_operator.api import ApiServer
from daeploy_operator.names import SERVICE_PORT
from daeploy_operator.resources.deployment import build_version_deployment
from daeploy_operator.resources.service import build_version_service
from daeploy_operator.spec import ServiceVersion

HOST = "time-to-serve.bench.local"
IMAGE = "localhost/die-roller:1.0.0"
VERSION = "1.0.0"
GOAL_RATIO = 1.10
POLL_SECONDS = 0.05
SERVE_TIMEOUT = 180.0
BENCH_MANAGER = "daeploy-bench"
MILESTONES = (
    "applied",
    "deployment_created",
    "pod_created",
    "pod_ready",
    "deployment_available",
    "ingress_created",
    "endpoints_ready",
    "dsvc_ready",
    "first_200_version_route",
    "first_200",
)


def _relabel(value: Any) -> Any:
    """Our label instead of the operator's, so its child watches never see these objects."""
    if isinstance(value, dict):
        return {
            k: (BENCH_MANAGER if k == MANAGED_BY_LABEL else _relabel(v))
            for k, v in value.items()
            if k not in ("ownerReferences", "annotations")
        }
    if isinstance(value, list):
        return [_relabel(v) for v in value]
    return value


def direct_objects(
    name: str, namespace: str, ingress_class: str, runtime_image: str
) -> list[dict[str, Any]]:
    """The Deployment, Service and Ingress a person would write for what the operator makes."""
    version = ServiceVersion(
        resource_name=version_object_name(name, VERSION),
        namespace=namespace,
        uid="",
        name=name,
        version=VERSION,
        image=IMAGE,
    )
    deployment = build_version_deployment(version, runtime_image)
    # The operator's ServiceAccount exists only next to DaeployServices.
    deployment["spec"]["template"]["spec"]["serviceAccountName"] = "default"
    service = build_version_service(version)
    backend = {"name": name_of(service), "port": {"number": SERVICE_PORT}}
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": service_object_name(name), "namespace": namespace,
                     "labels": service["metadata"]["labels"]},
        "spec": {
            "ingressClassName": ingress_class,
            "rules": [{"host": HOST, "http": {"paths": [
                {"path": f"/services/{name}", "pathType": "Prefix", "backend": {"service": backend}}
            ]}}],
        },
    }  # fmt: skip
    return [_relabel(o) for o in (deployment, service, ingress)]


def first_200s(paths: dict[str, str], start: float) -> dict[str, float]:
    """Poll every path every 50 ms; seconds from ``start`` to each one's first 200."""
    found: dict[str, float] = {}
    with ingress_client(HOST, timeout=5) as client:
        while len(found) < len(paths):
            if time.monotonic() - start > SERVE_TIMEOUT:
                raise RuntimeError(f"no 200 within {SERVE_TIMEOUT:.0f}s on {paths}")
            tick = time.monotonic()
            for key, path in paths.items():
                if key in found:
                    continue
                try:
                    if client.post(path, json={}).status_code == 200:
                        found[key] = time.monotonic() - start
                except httpx.HTTPError:
                    pass
            time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - tick)))
    return found


def wait_gone(server: ApiServer, namespace: str, name: str) -> None:
    """Until no pod or Deployment of the name is left, so rounds do not overlap."""
    labels = {SERVICE_LABEL: label_value(name)}
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if not server.list("v1", "Pod", namespace, labels) and not server.list(
            "apps/v1", "Deployment", namespace, labels
        ):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the pods of {name} did not go within 180s")


def milestones(
    watches: dict[str, Watch], name: str, start: float, *, routed_service: str
) -> dict[str, float | None]:
    """Seconds from ``start`` to the first sight of each step, from the watches."""
    label = label_value(name)

    def of(plural: str, match: Callable[[Seen], bool]) -> float | None:
        at = first(watches[plural].seen, match, after=start)
        return None if at is None else round(at - start, 3)

    def labelled(s: Seen) -> bool:
        return (s.obj["metadata"].get("labels") or {}).get(SERVICE_LABEL) == label

    deployment = version_object_name(name, VERSION)
    return {
        "deployment_created": of("deployments", lambda s: name_of(s.obj) == deployment),
        "pod_created": of("pods", labelled),
        "pod_ready": of("pods", lambda s: labelled(s) and pod_ready(s.obj)),
        "deployment_available": of(
            "deployments",
            lambda s: (
                name_of(s.obj) == deployment
                and int((s.obj.get("status") or {}).get("availableReplicas") or 0) >= 1
            ),
        ),
        "ingress_created": of("ingresses", lambda s: name_of(s.obj) == service_object_name(name)),
        "endpoints_ready": of(
            "endpointslices",
            lambda s: (
                (s.obj["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
                == routed_service
                and ready_endpoints(s.obj) > 0
            ),
        ),
        "dsvc_ready": of(
            "daeployservices",
            lambda s: (
                name_of(s.obj) == version_object_name(name, VERSION)
                and has_condition(s.obj, "Ready")
            ),
        ),
    }


def trial(
    server: ApiServer,
    namespace: str,
    kind: str,
    name: str,
    watches: dict[str, Watch],
    settings: dict[str, str],
) -> dict[str, Any]:
    if kind == "daeploy":
        objects = [manifest(name, VERSION, main=True, image=IMAGE)]
        objects[0]["metadata"]["namespace"] = namespace
        paths = {
            "first_200": f"/services/{name}/roll_die",
            "first_200_version_route": f"/services/{name}_{VERSION}/roll_die",
        }
    else:
        objects = direct_objects(
            name,
            namespace,
            settings.get("DAEPLOY_INGRESS_CLASS", "traefik"),
            settings.get("DAEPLOY_RUNTIME_IMAGE", "localhost/daeploy-runtime:0.1.0"),
        )
        paths = {"first_200": f"/services/{name}/roll_die"}
    start = time.monotonic()
    for obj in objects:
        server.apply(obj)
    applied = time.monotonic() - start
    served = first_200s(paths, start)
    steps = milestones(watches, name, start, routed_service=version_object_name(name, VERSION))
    result: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "applied": round(applied, 3),
        **steps,
        **{k: round(v, 3) for k, v in served.items()},
    }
    if kind == "daeploy":
        server.delete(
            "daeploy.io/v1alpha1", "DaeployService", namespace, version_object_name(name, VERSION)
        )
    else:
        for obj in reversed(objects):
            server.delete(obj["apiVersion"], obj["kind"], namespace, name_of(obj))
    wait_gone(server, namespace, name)
    return result


def median_of(trials: list[dict[str, Any]], key: str) -> float | None:
    values = [t[key] for t in trials if t.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="trials of each kind")
    parser.add_argument("--rebuild", action="store_true", help="rebuild every project image")
    args = parser.parse_args()

    cluster, operator_namespace = prepare(args.rebuild)
    machine = machine_state(cluster, operator_namespace)
    settings = operator_env(cluster, operator_namespace)
    server = api(cluster)
    trials: list[dict[str, Any]] = []
    with bench_namespace(cluster, "bench-tts", HOST) as namespace:
        plurals = ("daeployservices", "deployments", "pods", "ingresses", "endpointslices")
        watches = {p: Watch(server, p, namespace) for p in plurals}
        for watch in watches.values():
            watch.__enter__()
        try:
            # One untimed direct trial first: the first pod of a run pays for cold caches.
            trial(server, namespace, "plain", "warmup", watches, settings)
            for index in range(args.rounds):
                order = ("daeploy", "plain") if index % 2 == 0 else ("plain", "daeploy")
                for kind in order:
                    name = f"{'dsvc' if kind == 'daeploy' else 'direct'}_{index}"
                    result = trial(server, namespace, kind, name, watches, settings)
                    trials.append(result)
                    print(f"round {index} {kind:8} first 200 after {result['first_200']:.2f}s")
        finally:
            for watch in watches.values():
                watch.__exit__()

    daeploy = [t for t in trials if t["kind"] == "daeploy"]
    plain = [t for t in trials if t["kind"] == "plain"]
    medians = {
        kind: {m: median_of(group, m) for m in MILESTONES}
        for kind, group in (("daeploy", daeploy), ("plain", plain))
    }
    ratio = round(medians["daeploy"]["first_200"] / medians["plain"]["first_200"], 3)
    ratio_version = round(
        medians["daeploy"]["first_200_version_route"] / medians["plain"]["first_200"], 3
    )
    results = {
        "benchmark": "time_to_serve",
        "when": now_utc(),
        "machine": finish_machine_state(machine),
        "rounds": args.rounds,
        "image": IMAGE,
        "poll_seconds": POLL_SECONDS,
        "median_seconds": medians,
        "ratio": ratio,
        "ratio_version_route": ratio_version,
        "goal_ratio": GOAL_RATIO,
        "goal_met": ratio <= GOAL_RATIO,
        "trials": trials,
    }
    out = write_results("time_to_serve", results)

    print(f"\nfirst 200 through the ingress after apply, {args.rounds} rounds alternating, {IMAGE}")
    rows = []
    for label, group, key in (
        ("direct Deployment+Service+Ingress", plain, "first_200"),
        ("DaeployService, /services/<name>", daeploy, "first_200"),
        ("DaeployService, /services/<name>_<version>", daeploy, "first_200_version_route"),
    ):
        values = [t[key] for t in group]
        rows.append([label, statistics.median(values), min(values), max(values)])
    print_table(["", "median s", "min s", "max s"], rows)
    verdict = "meets" if ratio <= GOAL_RATIO else "misses"
    print(f"ratio DaeployService / direct: {ratio:.3f} ({verdict} the goal <= {GOAL_RATIO}); "
          f"version route: {ratio_version:.3f}")  # fmt: skip
    print("\nmedian seconds after apply, step by step")
    print_table(
        ["step", "direct", "DaeployService"],
        [[m, _cell(medians["plain"][m]), _cell(medians["daeploy"][m])] for m in MILESTONES],
    )
    print(f"\nwritten to {out}")


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
