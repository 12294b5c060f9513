"""Benchmark: make another version main under a steady load, and back; how long until every
answer comes from the new main, and how many requests fail.

die_roller 1.0.0 (the tutorial's image, a die: 1..6) serves ``/services/die_roller`` in a
namespace with its own ingress host while 4 sequential clients post ``roll_die`` through the
ingress, each at most every 20 ms. Then 2.0.0 is applied with ``main: true``; its image, built
from a temp folder ``FROM localhost/daeploy-runtime:0.1.0``, answers 7, which a die never does,
so every answer names the version that served it. Once all answers are 7, 2.0.0 gives up main
(``main: false``) and the route goes back to 1.0.0. Watches stamp when 2.0.0's pod is Ready,
its Deployment Available, its DaeployService Available, and the per-name Service's selector
moving. A switch is complete at the send time of the last request the old version answered.

Goals: 0 failed requests over at least 5,000, and the switch complete within 2 s of the new
version being Available. Prints a table and writes ``bench/results/main_switch.json``. Needs
root. Usage: ``.venv/bin/python bench/main_switch.py [--clients 4] [--min-requests 6000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster_bench import (
    Answer,
    Cluster,
    Load,
    Seen,
    Watch,
    api,
    bench_namespace,
    finish_machine_state,
    first,
    has_condition,
    images,
    ingress_client,
    machine_state,
    manifest,
    name_of,
    now_utc,
    pod_ready,
    prepare,
    print_table,
    summary,
    wait_until,
    write_results,
)

from daeploy.contract import SERVICE_LABEL, VERSION_LABEL
from daeploy.names import label_value, service_object_name, version_object_name
from daeploy_operator.api import ApiServer

HOST = "main-switch.bench.local"
NAME = "die_roller"
V1, V2 = "1.0.0", "2.0.0"
V1_IMAGE = "localhost/die-roller:1.0.0"
V2_IMAGE = "localhost/bench-die-roller:2.0.0"
V2_ANSWER = 7
PATH = f"/services/{NAME}/roll_die"
GOAL_FAILURES = 0
GOAL_MIN_REQUESTS = 5000
GOAL_SWITCH_SECONDS = 2.0
SETTLE_SECONDS = 2.0

V2_SERVICE = f'''\
from daeploy import service


@service.entrypoint
def roll_die() -> int:
    """Not a die: {V2_ANSWER} tells every caller that version 2.0.0 answered."""
    return {V2_ANSWER}


if __name__ == "__main__":
    service.run()
'''
V2_DOCKERFILE = """\
FROM localhost/daeploy-runtime:0.1.0
WORKDIR /app
COPY service.py /app/service.py
USER 10001
EXPOSE 8000
CMD ["python", "service.py"]
"""


def build_v2(cluster: Cluster, rebuild: bool) -> str:
    if not rebuild and V2_IMAGE in images.loaded_images(cluster.layout):
        return "already loaded"
    with tempfile.TemporaryDirectory(prefix="bench-v2-") as tmp:
        context = Path(tmp)
        (context / "service.py").write_text(V2_SERVICE)
        (context / "Dockerfile").write_text(V2_DOCKERFILE)
        start = time.monotonic()
        cluster.build_image(context, V2_IMAGE)
    return f"built in {time.monotonic() - start:.1f}s"


def is_v2(answer: Answer) -> bool:
    return answer.value == V2_ANSWER


def is_v1(answer: Answer) -> bool:
    return answer.status == 200 and answer.value != V2_ANSWER


def settled(answers: list[Answer], start: float, is_new: Callable[[Answer], bool]) -> bool:
    """The new version answered, and nothing else did for the last SETTLE_SECONDS of requests."""
    after = [a for a in answers if a.sent >= start and a.status == 200]
    if not any(is_new(a) for a in after):
        return False
    last_old = max((a.sent for a in after if not is_new(a)), default=start)
    return max(a.sent for a in after) - last_old >= SETTLE_SECONDS


def switch_figures(
    answers: list[Answer], start: float, end: float, is_new: Callable[[Answer], bool],
    moments: dict[str, float | None],
) -> dict[str, Any]:  # fmt: skip
    """When routing moved, measured from ``start`` and from each of ``moments``."""
    window = [a for a in answers if start <= a.sent < end]
    old = [a.sent for a in window if a.status == 200 and not is_new(a)]
    new = [a.sent for a in window if is_new(a)]
    complete = max(old, default=start)
    figures: dict[str, Any] = {
        "requests": len(window),
        "failed": sum(1 for a in window if a.status != 200),
        "first_new_after_request_s": round(min(new) - start, 3) if new else None,
        "complete_after_request_s": round(complete - start, 3),
        "mixed_window_s": round(max(0.0, complete - min(new)), 3) if new else None,
    }
    for label, at in moments.items():
        figures[f"{label}_after_request_s"] = None if at is None else round(at - start, 3)
        figures[f"complete_after_{label}_s"] = None if at is None else round(complete - at, 3)
    return figures


def moments_of(watches: dict[str, Watch], start: float, version: str) -> dict[str, float | None]:
    """When the watches first saw ``version`` ready at each level, and the Service move to it."""
    resource = version_object_name(NAME, version)
    label = label_value(version)

    def at(plural: str, match: Callable[[Seen], bool]) -> float | None:
        return first(watches[plural].seen, match, after=start)

    def of_version(s: Seen) -> bool:
        labels = s.obj["metadata"].get("labels") or {}
        return labels.get(SERVICE_LABEL) == label_value(NAME) and labels.get(VERSION_LABEL) == label

    return {
        "pod_ready": at("pods", lambda s: of_version(s) and pod_ready(s.obj)),
        "deployment_available": at(
            "deployments",
            lambda s: (
                name_of(s.obj) == resource
                and int((s.obj.get("status") or {}).get("availableReplicas") or 0) >= 1
            ),
        ),
        "dsvc_available": at(
            "daeployservices",
            lambda s: name_of(s.obj) == resource and has_condition(s.obj, "Available"),
        ),
        "service_selects_it": at(
            "services",
            lambda s: (
                name_of(s.obj) == service_object_name(NAME)
                and ((s.obj.get("spec") or {}).get("selector") or {}).get(VERSION_LABEL) == label
            ),
        ),
    }


def set_main(server: ApiServer, namespace: str, version: str, main: bool) -> None:
    path = (
        f"/apis/daeploy.io/v1alpha1/namespaces/{namespace}/daeployservices/"
        f"{version_object_name(NAME, version)}"
    )
    server.request(
        "PATCH", path, body={"spec": {"main": main}}, content_type="application/merge-patch+json"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4, help="concurrent sequential clients")
    parser.add_argument(
        "--interval", type=float, default=0.02, help="seconds between a client's requests"
    )
    parser.add_argument("--min-requests", type=int, default=6000, help="requests in the whole run")
    parser.add_argument("--rebuild", action="store_true", help="rebuild every project image")
    args = parser.parse_args()  # fmt: skip

    cluster, operator_namespace = prepare(args.rebuild)
    v2_built = build_v2(cluster, args.rebuild)
    machine = machine_state(cluster, operator_namespace)
    server = api(cluster)
    with bench_namespace(cluster, "bench-switch", HOST) as namespace:
        v1 = manifest(NAME, V1, main=True, image=V1_IMAGE)
        v1["metadata"]["namespace"] = namespace
        server.apply(v1)
        with ingress_client(HOST) as client:
            wait_until(
                lambda: client.post(PATH, json={}).status_code == 200,
                "die_roller 1.0.0 to answer through the ingress", timeout=180, every=0.5,
            )  # fmt: skip
        plurals = ("daeployservices", "deployments", "services", "pods")
        watches = {p: Watch(server, p, namespace) for p in plurals}
        for watch in watches.values():
            watch.__enter__()
        load = Load(
            HOST, PATH, clients=args.clients, interval=args.interval,
            max_requests=args.min_requests * 3, max_seconds=600,
        )  # fmt: skip
        with load:
            wait_until(lambda: len(load.answers) >= 200, "the load to get going", timeout=60)

            to_v2 = time.monotonic()
            v2 = manifest(NAME, V2, main=True, image=V2_IMAGE)
            v2["metadata"]["namespace"] = namespace
            server.apply(v2)
            wait_until(
                lambda: settled(load.answers, to_v2, is_v2),
                "every answer to come from 2.0.0", timeout=240, every=0.25,
            )  # fmt: skip
            time.sleep(1.0)

            back = time.monotonic()
            set_main(server, namespace, V2, False)
            wait_until(
                lambda: settled(load.answers, back, is_v1),
                "every answer to come from 1.0.0 again", timeout=240, every=0.25,
            )  # fmt: skip
            wait_until(
                lambda: len(load.answers) >= args.min_requests or load.finished,
                f"{args.min_requests} requests", timeout=600, every=0.5,
            )  # fmt: skip
        for watch in watches.values():
            watch.__exit__()
        answers = sorted(load.answers, key=lambda a: a.sent)

    forward = switch_figures(answers, to_v2, back, is_v2, moments_of(watches, to_v2, V2))
    moved_back = moments_of(watches, back, V1)["service_selects_it"]
    backward = switch_figures(
        answers, back, float("inf"), is_v1, {"service_selects_it": moved_back}
    )
    failures = [a for a in answers if a.status != 200]
    span = answers[-1].done - answers[0].sent
    latency = summary([a.done - a.sent for a in answers if a.status == 200])
    goal_switch = forward["complete_after_deployment_available_s"]
    met = {
        "no_failures": len(failures) == GOAL_FAILURES,
        "enough_requests": len(answers) >= GOAL_MIN_REQUESTS,
        "switch_within_2s_of_available": goal_switch is not None
        and goal_switch <= GOAL_SWITCH_SECONDS,
    }
    results = {
        "benchmark": "main_switch",
        "when": now_utc(),
        "machine": finish_machine_state(machine),
        "v2_image": {"tag": V2_IMAGE, "answer": V2_ANSWER, "build": v2_built},
        "load": {
            "clients": args.clients,
            "interval_s": args.interval,
            "requests": len(answers),
            "failed": len(failures),
            "failures": [f"{a.status} {a.error}" for a in failures[:20]],
            "requests_per_s": round(len(answers) / span, 1),
            "latency": latency,
        },
        "switch_to_2_0_0": forward,
        "switch_back_to_1_0_0": backward,
        "goals": {
            "failed_requests": GOAL_FAILURES,
            "min_requests": GOAL_MIN_REQUESTS,
            "switch_seconds_after_available": GOAL_SWITCH_SECONDS,
        },
        "goals_met": met,
    }
    out = write_results("main_switch", results)

    print(f"\nmain switch under load: {args.clients} clients, {len(answers)} requests "
          f"({results['load']['requests_per_s']}/s), {len(failures)} failed, "
          f"p50 {latency['p50_ms']:.1f} ms, p99 {latency['p99_ms']:.1f} ms")  # fmt: skip
    print_table(
        ["seconds after the switch request", "1.0.0 -> 2.0.0", "2.0.0 -> 1.0.0"],
        [
            [label, _cell(forward.get(key)), _cell(backward.get(key))]
            for label, key in (
                ("new pod Ready", "pod_ready_after_request_s"),
                ("new Deployment Available", "deployment_available_after_request_s"),
                ("new DaeployService Available", "dsvc_available_after_request_s"),
                ("per-name Service selects it", "service_selects_it_after_request_s"),
                ("first answer from the new main", "first_new_after_request_s"),
                ("last answer from the old main", "complete_after_request_s"),
                ("switch after Deployment Available", "complete_after_deployment_available_s"),
                ("switch after DaeployService Available", "complete_after_dsvc_available_s"),
                ("switch after the Service moved", "complete_after_service_selects_it_s"),
                ("mixed answers window", "mixed_window_s"),
                ("failed requests", "failed"),
            )
        ],
    )
    print("goals: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items()))
    print(f"\nwritten to {out}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
