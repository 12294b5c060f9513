"""Benchmark: the dashboard's services view with 1,000 DaeployServices.

envtest's real kube-apiserver and etcd (tests/envtest.py, the binaries ``hack/cluster build``
makes) hold 1,000 DaeployServices in one namespace: 500 names with 2 versions each, every object
with the status the operator writes (main mark, traffic, conditions, running since), so the
API server sends what it would on a cluster. The dashboard (services/dashboard) runs in uvicorn
on a loopback port and is asked over real HTTP with a ServiceAccount token bound to ``view``
rights, as a browser with a login would be.

Measured, side by side in one run:
- **first render**: the first ``GET <base>/ns/<ns>/`` after the dashboard started (new
  client, new TLS connection to the API server). The API server has listed the objects once
  before, as on a cluster, where the operator's watch keeps its copy of them warm; that first
  list is reported too (``api_server_first_list_s``);
- **warm renders**: the same page again, ``--rounds`` times (p50, max);
- **the API list alone**: the same user's ``list`` of the 1,000 objects with the CLI's own
  client (what ``daeploy ls`` costs), so the dashboard's own share is the difference;
- the last page and a search, warm.

Goal: first render under 1 s. Prints a table and writes ``bench/results/dashboard.json``.
Usage: ``.venv/bin/python bench/dashboard.py [--services 1000] [--rounds 20]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "hack"))

import envtest  # noqa: E402

from daeploy.contract import API_GROUP, API_GROUP_VERSION, DASHBOARD_PATH, KIND, PLURAL  # noqa: E402
from daeploy.names import version_object_name, version_path  # noqa: E402
from daeploy_dashboard.app import create_app  # noqa: E402
from daeploy_dashboard.settings import Settings  # noqa: E402
from daeploy_dashboard.userkube import Clients  # noqa: E402
from daeploy_operator.kinds import resource_path  # noqa: E402

RESULTS = REPO / "bench" / "results" / "dashboard.json"
NAMESPACE = "bench-dashboard"
GOAL_SECONDS = 1.0


def _status(main: bool) -> dict[str, Any]:
    stamp = "2024-05-01T12:00:00Z"
    condition = {"status": "True", "lastTransitionTime": stamp, "reason": "Ready", "message": ""}
    return {
        "observedGeneration": 1,
        "phase": "running",
        "mainMark": "*" if main else "",
        "main": main,
        "traffic": "main 100%" if main else "shadow",
        "trafficPercent": 100 if main else 0,
        "shadow": not main,
        "running": "Running (since 2024-05-01 12:00:00)",
        "runningSince": stamp,
        "availableReplicas": 1,
        "url": version_path("x", "1.0.0"),
        "conditions": [{"type": t, **condition} for t in ("Ready", "Available", "Routed")],
    }


def _populate(api: Any, services: int) -> None:
    """``services`` objects, two versions per name, each with an operator-like status."""
    names = services // 2

    def make(index: int) -> None:
        name = f"svc_{index // 2:04d}"
        version = f"{index % 2 + 1}.0.0"
        main = index % 2 == 0
        body = {
            "apiVersion": API_GROUP_VERSION, "kind": KIND,
            "metadata": {"name": version_object_name(name, version)},
            "spec": {"name": name, "version": version, "main": main,
                     "image": f"localhost/{name.replace('_', '-')}:{version}"},
        }  # fmt: skip
        path = resource_path(API_GROUP_VERSION, KIND, NAMESPACE)
        made = api.request("POST", path, body=body) or {}
        status_path = f"{path}/{made['metadata']['name']}/status"
        api.request("PATCH", status_path, body={"status": _status(main)},
                    content_type="application/merge-patch+json")  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, range(names * 2)))


def _viewer_token(api: Any) -> str:
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer"}}
    api.request("POST", resource_path("v1", "ServiceAccount", NAMESPACE), body=account)
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "viewer", "namespace": NAMESPACE},
        "rules": [{"apiGroups": [API_GROUP], "resources": [PLURAL], "verbs": ["list"]}],
    }  # fmt: skip
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "viewer", "namespace": NAMESPACE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
        "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": NAMESPACE}],
    }  # fmt: skip
    rbac = "rbac.authorization.k8s.io/v1"
    api.request("POST", resource_path(rbac, "Role", NAMESPACE), body=role)
    api.request("POST", resource_path(rbac, "RoleBinding", NAMESPACE), body=binding)
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"expirationSeconds": 3600}}  # fmt: skip
    path = resource_path("v1", "ServiceAccount", NAMESPACE, "viewer", "token")
    return str((api.request("POST", path, body=request) or {})["status"]["token"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _timed(http: httpx.Client, url: str, headers: dict[str, str]) -> tuple[float, str, str]:
    """Seconds for one GET, the page, and the dashboard's Server-Timing (API, rendering)."""
    start = time.perf_counter()
    answer = http.get(url, headers=headers)
    took = time.perf_counter() - start
    if answer.status_code != 200:
        raise SystemExit(f"GET {url} answered {answer.status_code}: {answer.text[:500]}")
    return took, answer.text, answer.headers.get("server-timing", "")


def run(services: int, rounds: int) -> dict[str, Any]:
    plane = envtest.start([REPO / "crds" / f"{PLURAL}.yaml"])
    try:
        api = envtest.connect(plane).api
        api.request("POST", "/api/v1/namespaces",
                    body={"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"name": NAMESPACE}})  # fmt: skip
        began = time.perf_counter()
        _populate(api, services)
        populated = time.perf_counter() - began
        # On a cluster the operator's watch keeps the API server's copy of the objects warm;
        # here one list does it (and shows what the very first list after a restart costs).
        start = time.perf_counter()
        api.list(API_GROUP_VERSION, KIND, NAMESPACE)
        cold_list = time.perf_counter() - start
        token = _viewer_token(api)
        ca = yaml.safe_load(plane.kubeconfig.read_text())["clusters"][0]["cluster"][
            "certificate-authority"
        ]
        settings = Settings(api_url=plane.server, ca_file=ca)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        try:
            headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
            page = f"http://127.0.0.1:{port}{DASHBOARD_PATH}/ns/{NAMESPACE}/"
            with httpx.Client(timeout=60) as http:
                first, html, first_timing = _timed(http, page, headers)
                rows = html.count("<tr data-service=")
                warm = [_timed(http, page, headers)[0] for _ in range(rounds)]
                last_page = [_timed(http, f"{page}?page=10", headers)[0] for _ in range(5)]
                search = [_timed(http, f"{page}?q=svc_04", headers)[0] for _ in range(5)]
            lister = Clients(settings)
            kube = lister.kube(token, NAMESPACE)
            listed: list[float] = []
            count = 0
            for _ in range(rounds):
                start = time.perf_counter()
                count = len(kube.list_services())
                listed.append(time.perf_counter() - start)
            lister.close()
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        envtest.stop(plane)
    p50 = statistics.median
    return {
        "services": services,
        "listed_objects": count,
        "rows_on_first_page": rows,
        "populate_seconds": round(populated, 2),
        "api_server_first_list_s": round(cold_list, 4),
        "first_render_s": round(first, 4),
        "first_render_server_timing": first_timing,
        "warm_render_p50_s": round(p50(warm), 4),
        "warm_render_max_s": round(max(warm), 4),
        "api_list_p50_s": round(p50(listed), 4),
        "dashboard_share_p50_s": round(p50(warm) - p50(listed), 4),
        "ratio_render_to_list_p50": round(p50(warm) / p50(listed), 2),
        "last_page_p50_s": round(p50(last_page), 4),
        "search_p50_s": round(p50(search), 4),
        "goal_first_render_s": GOAL_SECONDS,
        "goal_met": first < GOAL_SECONDS,
        "machine": {
            "cores": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    result = run(args.services, args.rounds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    width = max(len(key) for key in result)
    for key, value in result.items():
        if key != "machine":
            print(f"{key:<{width}}  {value}")
    print(f"{'machine':<{width}}  {result['machine']}")


if __name__ == "__main__":
    main()
