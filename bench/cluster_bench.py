"""What the four cluster benchmarks share: the cluster handle, the operator, namespaces with
their own ingress host, watches stamped on arrival, a bounded load, process sampling and results.

The cluster handle and the operator install are the test suite's own (tests/conftest.py's
``Cluster``, tests/cluster/conftest.py's ``daeploy_operator``), imported rather than copied so a
benchmark runs against exactly what the tests set up. Every clock here is ``time.monotonic()``.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from kubernetes import config as kube_config
from kubernetes.watch.watch import iter_resp_lines

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
sys.path.insert(0, str(REPO / "hack"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.append(str(REPO / "tests" / "cluster"))

from call_service import percentile, summary  # noqa: E402  (bench/, the script's folder)
from conftest import Cluster  # noqa: E402  (tests/conftest.py)
from kube_helpers import condition, manifest, wait_until  # noqa: E402  (tests/cluster/)

from daeploy_operator.api import ApiServer  # noqa: E402
from daeploy_operator.kinds import resource_path  # noqa: E402
from localcluster import (  # noqa: E402
    images,
    network,
    node,
    processes,
    project_images,
    registry,
    versions,
)
from localcluster.layout import Layout  # noqa: E402

__all__ = ["Cluster", "condition", "manifest", "percentile", "summary", "wait_until"]

HOST_ANNOTATION = "daeploy.io/host"
AUTH_HEADERS: dict[str, str] = {}
"""``Authorization`` for calls to services, once install_operator() ran."""
OPERATOR_DEPLOYMENT = "daeploy-operator"


def _load(name: str, path: Path) -> ModuleType:
    """Import by path: tests/ and tests/cluster/ both hold a conftest.py."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cluster_fixtures = _load("cluster_fixtures", REPO / "tests" / "cluster" / "conftest.py")


# --- the cluster, the images and the operator ------------------------------------------------


def connect() -> Cluster:
    """The running cluster, brought up first if it is not healthy (never taken down here)."""
    if os.geteuid() != 0:
        sys.exit("the cluster benchmarks need root (the node runs as root; /proc of its pods)")
    layout = Layout()
    started = node.up(layout)
    return Cluster(layout, started_here=not started.get("already_up", False))


def ensure_images(cluster: Cluster, rebuild: bool = False) -> dict[str, str]:
    """Build the project's images that containerd lacks (all of them with ``rebuild``)."""
    loaded = images.loaded_images(cluster.layout)
    done: dict[str, str] = {}
    gate_cache = project_images.GATE_CACHE_IMAGE
    if rebuild or not ({gate_cache, f"docker.io/{gate_cache}"} & loaded):
        start = time.monotonic()
        project_images.build_gate_cache(cluster.layout)
        done[gate_cache] = f"built in {time.monotonic() - start:.1f}s"
    else:
        done[gate_cache] = "already loaded"
    for tag, dockerfile, context in project_images.PROJECT_IMAGES:
        if rebuild or not ({tag, f"docker.io/{tag}"} & loaded):
            start = time.monotonic()
            images.build_and_load(cluster.layout, context, tag, dockerfile)
            done[tag] = f"built in {time.monotonic() - start:.1f}s"
        else:
            done[tag] = "already loaded"
    runtime = project_images.RUNTIME_IMAGE
    if rebuild or not registry.digest(cluster.layout, *_name_and_tag(runtime)):
        project_images.push_runtime(cluster.layout)
        done[project_images.runtime_in_registry(cluster.layout)] = "pushed"
    return done


def _name_and_tag(local_tag: str) -> tuple[str, str]:
    name, _, tag = local_tag.removeprefix("localhost/").rpartition(":")
    return name, tag


def install_operator(cluster: Cluster, built: Mapping[str, str]) -> str:
    """The ``daeploy_operator`` fixture's body, run once: CRD, helm upgrade, rollout restart.

    The restart also gives every benchmark an operator that starts fresh (memory, caches).
    """
    install = cluster_fixtures.daeploy_operator.__wrapped__(cluster, built)
    namespace = str(next(install))
    # Access control is on, as the chart installs it: calls carry the tests' caller token.
    AUTH_HEADERS.update(cluster.auth_headers)
    return namespace


def prepare(rebuild: bool = False) -> tuple[Cluster, str]:
    """Cluster up, images loaded, operator installed; returns the handle and its namespace."""
    cluster = connect()
    built = ensure_images(cluster, rebuild)
    print("images: " + ", ".join(f"{t} {s}" for t, s in built.items()), file=sys.stderr)
    return cluster, install_operator(cluster, built)


def api(cluster: Cluster) -> ApiServer:
    """The operator's own API door, on the admin kubeconfig."""
    return ApiServer(kube_config.new_client_from_config(config_file=str(cluster.kubeconfig)))


def get_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def operator_env(cluster: Cluster, namespace: str) -> dict[str, str]:
    deployment = get_json(cluster, "get", "deployment", OPERATOR_DEPLOYMENT, "-n", namespace)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container.get("env") or []}


# --- the machine -----------------------------------------------------------------------------


def _meminfo_mib() -> dict[str, float]:
    wanted = {"MemTotal", "MemAvailable"}
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in wanted:
            out[key] = round(int(rest.split()[0]) / 1024, 1)
    return out


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def image_digests(cluster: Cluster) -> dict[str, str]:
    """containerd's digest of each project image, to tell which build a run measured."""
    listing = subprocess.run(
        images.ctr(cluster.layout, "images", "list"), capture_output=True, text=True, check=True
    ).stdout
    wanted = {tag for tag, _, _ in project_images.PROJECT_IMAGES}
    digests = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()
        ref = fields[0].removeprefix("docker.io/") if fields else ""
        if ref in wanted and len(fields) > 2:
            digests[ref] = fields[2]
    return digests


def machine_state(cluster: Cluster, operator_namespace: str) -> dict[str, Any]:
    """What a reader needs to compare runs: cores, load, memory, the operator's settings."""
    env = operator_env(cluster, operator_namespace)
    import kopf

    return {
        "nproc": os.cpu_count(),
        "load_average_before": load_average(),
        "memory_mib": _meminfo_mib(),
        "operator_resync_seconds": float(env.get("DAEPLOY_RESYNC_SECONDS", "30")),
        "operator_watch_server_timeout": env.get("DAEPLOY_WATCH_SERVER_TIMEOUT"),
        "versions": {
            "python": platform.python_version(),
            "kubernetes": versions.KUBERNETES,
            "etcd": versions.ETCD,
            "traefik": versions.TRAEFIK,
            "coredns": versions.COREDNS,
            "kopf": getattr(kopf, "__version__", "unknown"),
            "httpx": httpx.__version__,
        },
        "platform": platform.platform(),
        "project_images": image_digests(cluster),
    }


def finish_machine_state(state: dict[str, Any]) -> dict[str, Any]:
    state["load_average_after"] = load_average()
    state["memory_mib_after"] = _meminfo_mib()
    return state


def write_results(name: str, results: dict[str, Any]) -> Path:
    out = RESULTS_DIR / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return out


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A plain table; floats get two decimals."""
    cells = [[f"{c:.2f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    for line in [headers, *cells]:
        first, *rest = zip(line, widths, strict=True)
        print("  ".join([first[0].ljust(first[1]), *(c.rjust(w) for c, w in rest)]))


def now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- namespaces with their own ingress host ---------------------------------------------------


def delete_namespace(cluster: Cluster, name: str, timeout: int = 300) -> float:
    """Delete and wait until it is gone (its Ingresses hold routes until then); seconds taken."""
    start = time.monotonic()
    cluster.kubectl(
        "delete", "namespace", name, "--ignore-not-found", "--wait=true", f"--timeout={timeout}s",
        timeout=timeout + 20,
    )  # fmt: skip
    return time.monotonic() - start


@contextmanager
def bench_namespace(cluster: Cluster, prefix: str, host: str) -> Iterator[str]:
    """A fresh namespace whose Ingresses serve ``host`` only; deleted and waited for at the end."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "annotations": {HOST_ANNOTATION: host}},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(namespace))
    try:
        yield name
    finally:
        delete_namespace(cluster, name)


def ingress_client(host: str, timeout: float = 10) -> httpx.Client:
    """Requests to the cluster's ingress address, for one namespace's host, with a token."""
    return httpx.Client(
        base_url=network.INGRESS_URL, headers={"Host": host, **AUTH_HEADERS}, timeout=timeout
    )


# --- watches ---------------------------------------------------------------------------------


@dataclass
class Seen:
    at: float
    type: str
    obj: dict[str, Any]


WATCH_PATHS = {
    "daeployservices": ("daeploy.io/v1alpha1", "DaeployService"),
    "deployments": ("apps/v1", "Deployment"),
    "services": ("v1", "Service"),
    "pods": ("v1", "Pod"),
    "ingresses": ("networking.k8s.io/v1", "Ingress"),
}


def watch_path(plural: str, namespace: str) -> str:
    if plural == "endpointslices":
        return f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
    return resource_path(*WATCH_PATHS[plural], namespace)


class Watch:
    """Every event of one resource in one namespace, stamped on arrival, in a thread.

    ``on_event`` (if given) runs in the watch thread; ``seen`` keeps every event otherwise.
    """

    def __init__(
        self,
        server: ApiServer,
        plural: str,
        namespace: str,
        on_event: Callable[[Seen], None] | None = None,
    ) -> None:
        self.plural = plural
        self.seen: list[Seen] = []
        self._client = server._client
        self._path = watch_path(plural, namespace)
        self._on_event = on_event or self.seen.append
        self._stop = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{plural}", daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            if self._response is not None:
                self._response.shutdown()
        except Exception:  # the stream may be closed already; the thread is a daemon anyway
            pass
        self._thread.join(5)

    def _run(self) -> None:
        version = ""
        while not self._stop.is_set():
            query = [("watch", "true"), ("timeoutSeconds", "60")]
            if version:
                query.append(("resourceVersion", version))
            method, url, headers, *_ = self._client.param_serialize(
                method="GET",
                resource_path=self._path,
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            try:
                response = self._client.call_api(method, url, headers, _request_timeout=(5, 90))
                self._response = response.response
                for line in iter_resp_lines(response.response):
                    at = time.monotonic()
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        version = ""  # 410 Gone: start over from a fresh list
                        break
                    version = (obj.get("metadata") or {}).get("resourceVersion", version)
                    self._on_event(Seen(at, event["type"], obj))
            except Exception:
                if self._stop.is_set():
                    return
                time.sleep(0.2)


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def first(seen: list[Seen], match: Callable[[Seen], bool], after: float = 0.0) -> float | None:
    """When the first event after ``after`` matching ``match`` arrived."""
    return next((s.at for s in seen if s.at >= after and match(s)), None)


def pod_ready(obj: Mapping[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def has_condition(obj: dict[str, Any], kind: str, status: str = "True") -> bool:
    return condition(obj, kind).get("status") == status


def ready_endpoints(obj: Mapping[str, Any]) -> int:
    """Ready addresses in an EndpointSlice."""
    return sum(
        1
        for e in obj.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready") is not False
    )


# --- load ------------------------------------------------------------------------------------


@dataclass
class Answer:
    sent: float
    done: float
    client: int
    status: int  # 0: no HTTP answer
    value: Any = None
    error: str = ""


@dataclass
class Load:
    """``clients`` sequential clients on one path, each at most one request per ``interval``.

    Bounded by ``max_requests`` in all and ``max_seconds``; ``answers`` keeps every request.
    """

    host: str
    path: str
    clients: int = 4
    interval: float = 0.02
    max_requests: int = 20000
    max_seconds: float = 300
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sent = 0
        self._threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True)
            for i in range(self.clients)
        ]

    def __enter__(self) -> Load:
        self._deadline = time.monotonic() + self.max_seconds
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    @property
    def finished(self) -> bool:
        return not any(t.is_alive() for t in self._threads)

    def _client(self, index: int) -> None:
        with ingress_client(self.host) as client:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                with self._lock:
                    if self._sent >= self.max_requests:
                        return
                    self._sent += 1
                sent = time.monotonic()
                try:
                    response = client.post(self.path, json={})
                    value = response.json() if response.status_code == 200 else None
                    answer = Answer(sent, time.monotonic(), index, response.status_code, value)
                    if response.status_code != 200:
                        answer.error = response.text[:200]
                except (httpx.HTTPError, ValueError) as error:
                    answer = Answer(sent, time.monotonic(), index, 0, error=repr(error))
                self.answers.append(answer)
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - sent)))


def closed_loop(
    url: str, clients: int, requests: int, seconds: float, headers: dict[str, str]
) -> dict[str, Any]:
    """``clients`` threads POST ``url`` back to back until ``requests`` or ``seconds`` run out.

    Self-contained on purpose (httpx and the standard library only): service_calls.py ships
    this very function's source into a pod, so both sides of a comparison run the same loop.
    """
    import threading
    import time

    import httpx

    lock = threading.Lock()
    left = [requests]
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.monotonic() + seconds

    def loop() -> None:
        with httpx.Client(headers=headers, timeout=30) as client:
            while time.monotonic() < stop_at:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                start = time.perf_counter()
                try:
                    response = client.post(url, json={})
                    ok = response.status_code == 200
                    detail = f"HTTP {response.status_code}"
                except httpx.HTTPError as error:
                    ok, detail = False, repr(error)
                elapsed = time.perf_counter() - start
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    else:
                        errors.append(detail)

    with httpx.Client(headers=headers, timeout=30) as warm:
        for _ in range(10):
            warm.post(url, json={})
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "latencies": latencies,
        "errors": errors[:20],
        "error_count": len(errors),
        "seconds": time.perf_counter() - started,
    }


# --- the API server's own accounting --------------------------------------------------------

_METRIC = re.compile(
    r"^(apiserver_request_duration_seconds_(?:sum|count)|apiserver_response_sizes_sum)"
    r"\{(.*)\} (\S+)$"
)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def apiserver_requests(cluster: Cluster) -> dict[str, dict[str, float]]:
    """Requests served so far by (verb, resource/subresource): count, seconds, response bytes."""
    stats: dict[str, dict[str, float]] = {}
    for line in cluster.kubectl("get", "--raw", "/metrics", timeout=60).stdout.splitlines():
        match = _METRIC.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match.group(2)))
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        key = f"{labels.get('verb', '')} {resource}"
        field_name = {
            "apiserver_request_duration_seconds_sum": "seconds",
            "apiserver_request_duration_seconds_count": "count",
            "apiserver_response_sizes_sum": "bytes",
        }[match.group(1)]
        entry = stats.setdefault(key, {"count": 0.0, "seconds": 0.0, "bytes": 0.0})
        entry[field_name] += float(match.group(3))
    return stats


def requests_between(
    before: dict[str, dict[str, float]],
    after: dict[str, dict[str, float]],
    top: int | None = 12,
) -> list[dict[str, Any]]:
    """The request kinds that took the API server longest in between, longest first (all of
    them with ``top=None``).

    WATCH is left out: a watch's duration is how long it stayed open, not work.
    """
    rows = []
    for key, now in after.items():
        if key.startswith("WATCH"):
            continue
        then = before.get(key, {})
        count = now["count"] - then.get("count", 0.0)
        if count <= 0:
            continue
        rows.append({
            "request": key,
            "count": int(count),
            "seconds": round(now["seconds"] - then.get("seconds", 0.0), 1),
            "mib": round((now["bytes"] - then.get("bytes", 0.0)) / 2**20, 1),
        })  # fmt: skip
    return sorted(rows, key=lambda r: -r["seconds"])[:top]


# --- sampling processes from the host --------------------------------------------------------


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def container_pids(cluster: Cluster, container_id: str) -> list[int]:
    """Host PIDs of a container: its containerd task, then every process in the task's cgroup."""
    container_id = container_id.split("://", 1)[-1]
    listing = subprocess.run(
        images.ctr(cluster.layout, "tasks", "list"), capture_output=True, text=True, check=True
    ).stdout
    task = next((int(line.split()[1]) for line in listing.splitlines()
                 if line.split() and line.split()[0] == container_id), None)  # fmt: skip
    if task is None:
        raise RuntimeError(f"containerd lists no task for container {container_id}")
    for line in Path(f"/proc/{task}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(",") or controllers == "":
            base = "/sys/fs/cgroup/memory" if controllers else "/sys/fs/cgroup"
            procs = Path(base + path) / "cgroup.procs"
            if procs.exists():
                return sorted({task, *(int(p) for p in procs.read_text().split())})
    return [task]


def operator_pids(cluster: Cluster, namespace: str) -> list[int]:
    """The running operator container's processes."""
    deployment = get_json(cluster, "get", "deployment", OPERATOR_DEPLOYMENT, "-n", namespace)
    selector = ",".join(
        f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
    )
    pods = get_json(cluster, "get", "pods", "-n", namespace, "-l", selector)["items"]
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if status.get("containerID") and "running" in (status.get("state") or {}):
                return container_pids(cluster, status["containerID"])
    raise RuntimeError(f"no running operator container in {namespace}")


def operator_container_state(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """Restarts of the operator's current pods, and why its container last stopped."""
    pods = get_json(cluster, "get", "pods", "-n", namespace)["items"]
    statuses = [
        s
        for p in pods
        if p["metadata"]["name"].startswith(OPERATOR_DEPLOYMENT)
        for s in (p.get("status") or {}).get("containerStatuses") or []
    ]
    last = [(s.get("lastState") or {}).get("terminated") or {} for s in statuses]
    return {
        "restarts": sum(int(s.get("restartCount") or 0) for s in statuses),
        "last_termination": [
            f"{t.get('reason')} (exit {t.get('exitCode')}) at {t.get('finishedAt')}"
            for t in last
            if t
        ],
    }


def daemon_pids(cluster: Cluster, name: str) -> list[int]:
    pid = processes.running_pid(cluster.layout, name)
    return [pid] if pid else []


def rss_kib(pid: int) -> int:
    """Resident memory of a process, 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pid: int) -> int:
    try:
        # The command name may hold spaces; the fields after its closing parenthesis do not.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


@dataclass
class Sample:
    at: float
    rss_mib: float
    cpu_s: float
    restarted: bool = False  # new processes since the last sample: no rate across it


class Sampler:
    """RSS and CPU time of some processes every ``every`` seconds, in a thread.

    When every process is gone (a container restarted), ``resolve`` finds the new ones, at most
    every 2 s; CPU time keeps adding up across restarts and ``restarts`` counts them.
    """

    def __init__(self, resolve: Callable[[], list[int]], every: float = 0.5) -> None:
        self.every = every
        self.samples: list[Sample] = []
        self.restarts = 0
        self._resolve = resolve
        self.pids = resolve()
        self._ticks = {p: _cpu_ticks(p) for p in self.pids}
        self._cpu_s = 0.0
        self._next_resolve = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _alive(self) -> tuple[list[int], bool]:
        """The processes alive now, and whether they replaced the ones seen before."""
        alive = [p for p in self.pids if Path(f"/proc/{p}").exists()]
        if alive or time.monotonic() < self._next_resolve:
            return alive, False
        self._next_resolve = time.monotonic() + 2.0
        try:
            found = self._resolve()
        except Exception:  # no running container right now; look again later
            return [], False
        if set(found) == set(self.pids):
            return [], False
        self.restarts += 1
        # Started after the last sample: all of their CPU time is new.
        self._ticks.update({p: 0 for p in found if p not in self._ticks})
        self.pids = found
        return [p for p in found if Path(f"/proc/{p}").exists()], True

    def sample(self) -> Sample:
        alive, restarted = self._alive()
        for pid in alive:
            ticks = _cpu_ticks(pid)
            self._cpu_s += max(0, ticks - self._ticks.get(pid, ticks)) / CLOCK_TICKS
            self._ticks[pid] = ticks
        rss = sum(rss_kib(p) for p in alive) / 1024
        return Sample(time.monotonic(), rss, self._cpu_s, restarted)

    def __enter__(self) -> Sampler:
        self.samples.append(self.sample())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.samples.append(self.sample())

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(self.sample())

    def between(self, start: float, end: float) -> dict[str, float]:
        """Peak RSS, CPU seconds and peak/mean CPU (in cores) over [start, end]."""
        window = [s for s in self.samples if start - self.every <= s.at <= end + self.every]
        if len(window) < 2:
            return {}
        rates = [
            (b.cpu_s - a.cpu_s) / (b.at - a.at)
            for a, b in itertools.pairwise(window)
            if b.at > a.at and not b.restarted
        ]
        return {
            "rss_start_mib": round(window[0].rss_mib, 1),
            "rss_peak_mib": round(max(s.rss_mib for s in window), 1),
            "rss_end_mib": round(window[-1].rss_mib, 1),
            "cpu_seconds": round(window[-1].cpu_s - window[0].cpu_s, 2),
            "cpu_peak_cores": round(max(rates, default=0.0), 2),
            "cpu_mean_cores": round(
                (window[-1].cpu_s - window[0].cpu_s) / (window[-1].at - window[0].at), 2
            ),
        }
