"""Benchmark: requests per second of the tutorial's ``roll_die``, our ``service.run()`` against
Daeploy 1.x's own, side by side in one run (issue 14).

The same ``services/die_roller/service.py`` (copied into a temp folder per side) runs twice, each
with its SDK's defaults: once with this repository's SDK (``.venv``) and once with Daeploy
``--version`` (1.3.1, the latest on PyPI) from a virtual environment of its own, made once and
kept under ``--cache`` (``/var/cache/daeploy-bench/daeploy-<version>-venv``). Each server is a
real process, pinned to the same CPU (``--server-cpu``), its stdout and stderr in a log file as a
container's would be. 1.x listens on 0.0.0.0:8000 (fixed in its ``service.run()``); ours gets
``DAEPLOY_PORT`` 8001, as the operator sets it. 1.x gets its own name variables and a manager
URL on a loopback port that refuses (it never calls it here).

As root the measurement runs in a network namespace of its own (``unshare --net``) with only
its loopback: 1.x's fixed port is free whatever else runs on the machine, and nothing can leave.

Load: ``wrk`` (Debian's, installed with apt-get if missing), 1 thread, ``--connections`` (8)
kept-alive connections, pinned to another CPU (``--client-cpu``), ``POST /roll_die`` with an
empty body (what ``call_service("die_roller", "roll_die")`` sends), ``--seconds`` (5) per
round after an untimed warm-up, rounds alternating ours, theirs, ours, theirs... Meanwhile a
kubelet-like prober GETs each server every 2 s on a new connection: ours at its readiness path,
1.x (which has no health path) at ``/~parameters``. Both keep their access logs: at the end each
log's lines are counted, so the run shows that every entrypoint call was logged and which side
logged the probes.

Prints requests per second per round, the medians, the ratio ours / theirs (goal: >= 1.2) and
each server's CPU time per request (from /proc), and writes ``bench/results/throughput.json``.
Usage: ``.venv/bin/python bench/throughput.py [--rounds 6] [--seconds 5] [--connections 8]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from daeploy.contract import (
    LEGACY_NAME_ENV,
    LEGACY_VERSION_ENV,
    PORT_ENV,
    READY_PATH,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "sdk"))
from sdk_support import stop_process  # noqa: E402  (tests/sdk/: the tests stop services the same way)

RESULTS = REPO / "bench" / "results" / "throughput.json"
APP = REPO / "services" / "die_roller" / "service.py"
GOAL_RATIO = 1.2
DEFAULT_VERSION = "1.3.1"
DEFAULT_CACHE = Path("/var/cache/daeploy-bench")
OURS_PORT = 8001
THEIRS_PORT = 8000  # 1.x: uvicorn.run(app, host="0.0.0.0", port=8000), not configurable
# 1.x's own variable (not ours, so not in daeploy.contract): where its notify() would post.
MANAGER_URL_1X_ENV = "DAEPLOY_MANAGER_URL"
REFUSING_URL = "http://127.0.0.1:9"  # nothing listens on the discard port: refused at once
PROBE_PATH_1X = "/~parameters"  # 1.x has no health path; its cheapest JSON route
PROBE_SECONDS = 2.0  # the readinessProbe's periodSeconds the operator gives service pods
WARMUP_SECONDS = 2
SIDES = ("ours", "theirs")
IN_NETNS_FLAG = "--in-own-network"

WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = ""
done = function(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f}\\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


# --- what the run needs: wrk, the 1.x venv, its own network ----------------------------------


def ensure_wrk() -> str:
    """wrk from Debian, installed with apt-get the first time (root, as the cluster's packages)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: run as root (installs it) or `apt-get install wrk`")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]
    print("installing wrk (apt-get)", file=sys.stderr)
    for command in (
        [*apt, "update", "-qq"],
        [*apt, "install", "-y", "-qq", "--no-install-recommends", "wrk"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get installed wrk but it is not on PATH")
    return found


def ensure_venv(cache: Path, version: str) -> Path:
    """A venv with ``daeploy==version`` from PyPI, made once and kept (keyed by version); its
    python. A marker written last tells a finished venv from an interrupted one."""
    venv = cache / f"daeploy-{version}-venv"
    python = venv / "bin" / "python"
    marker = venv / ".bench-complete"
    if marker.is_file() and python.exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"making {venv} (pip install daeploy=={version})", file=sys.stderr)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"daeploy=={version}"], check=True)
    marker.write_text(f"daeploy=={version}\n")
    return python


def package_versions(python: Path | str, ours: bool) -> dict[str, str | None]:
    """What a side's python imports, and from where."""
    names = ["daeploy", "fastapi", "starlette", "uvicorn", "pydantic", "h11", "httptools", "uvloop"]
    code = (
        "import importlib.metadata as m, json, daeploy\n"
        "out = {'daeploy_file': daeploy.__file__}\n"
        f"for n in {names!r}:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    with tempfile.TemporaryDirectory() as empty:  # not this folder's daeploy or egg-info
        done = subprocess.run(
            [str(python), "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=empty,
            env=server_env(keep_pythonpath=ours),
        )
    return json.loads(done.stdout)


def rerun_in_own_network(argv: list[str]) -> int:
    """This script again, in a new network namespace (root only), where it sets up loopback."""
    command = ["unshare", "--net", "--", sys.executable, str(Path(__file__)), IN_NETNS_FLAG, *argv]
    return subprocess.run(command).returncode


def loopback_up() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


# --- the servers -----------------------------------------------------------------------------


def server_env(keep_pythonpath: bool) -> dict[str, str]:
    """This shell's environment less what would change what an SDK does; PYTHONPATH only for
    ours (``PYTHONPATH=<another checkout>`` measures that checkout's SDK as ours)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DAEPLOY_") and "." not in k and (keep_pythonpath or k != "PYTHONPATH")
    }


@dataclass
class Server:
    side: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    probe_path: str
    probes: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM by PID; SIGKILL after ``timeout``."""
        return stop_process(self.process, timeout=timeout)


def pinned(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


def start_server(
    side: str,
    python: Path | str,
    folder: Path,
    port: int,
    env: dict[str, str],
    probe_path: str,
    cpu: int | None,
) -> Server:
    """``python service.py`` in ``folder`` (a copy of the tutorial's), pinned, logging to a file."""
    folder.mkdir(parents=True)
    shutil.copy(APP, folder / "service.py")
    log_path = folder.parent / f"{side}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*pinned(cpu), str(python), "service.py"],
            cwd=folder,
            env={**server_env(keep_pythonpath=side == "ours"), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Server(side, process, port, log_path, probe_path)


def wait_answering(server: Server, timeout: float = 60.0) -> int:
    """Until the probe path answers 200, then one ``roll_die`` call; returns the die."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise SystemExit(
                f"{server.side} exited with {server.process.returncode}:\n"
                + server.log_path.read_text(errors="replace")[-3000:]
            )
        try:
            if httpx.get(server.url + server.probe_path, timeout=1).status_code == 200:
                server.probes.append(200)
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{server.side} did not answer within {timeout:.0f} s")
        time.sleep(0.1)
    response = httpx.post(server.url + "/roll_die", timeout=5)
    response.raise_for_status()
    die = response.json()
    if die not in range(1, 7):
        raise SystemExit(f"{server.side}: roll_die answered {die!r}")
    return int(die)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Prober(threading.Thread):
    """GET each server's probe path every ``PROBE_SECONDS`` on a new connection, as the
    kubelet does; the status codes are kept on each server."""

    def __init__(self, servers: list[Server]) -> None:
        super().__init__(daemon=True)
        self.servers = servers
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(PROBE_SECONDS):
            for server in self.servers:
                try:
                    code = httpx.get(server.url + server.probe_path, timeout=1).status_code
                except httpx.HTTPError:
                    code = 0
                server.probes.append(code)


# --- the load --------------------------------------------------------------------------------


def run_wrk(
    wrk: str, script: Path, url: str, connections: int, seconds: float, cpu: int | None
) -> dict[str, Any]:
    command = [
        *pinned(cpu),
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    match = re.search(r"^WRK_JSON (.*)$", done.stdout, re.MULTILINE)
    if not match:
        raise SystemExit(f"no summary from wrk:\n{done.stdout}{done.stderr}")
    figures = json.loads(match.group(1))
    figures["seconds"] = figures.pop("duration_us") / 1e6
    figures["errors"] = sum(figures.pop(k) for k in ("connect", "read", "write", "timeout"))
    figures["non_2xx"] = figures.pop("status")
    figures["requests_per_s"] = round(figures["requests"] / figures["seconds"], 1)
    return figures


def one_round(
    wrk: str, script: Path, server: Server, args: argparse.Namespace, timed: bool = True
) -> dict[str, Any]:
    cpu_before = cpu_seconds(server.process.pid)
    figures = run_wrk(
        wrk,
        script,
        server.url + "/roll_die",
        args.connections,
        args.seconds if timed else WARMUP_SECONDS,
        args.client_cpu,
    )
    cpu = cpu_seconds(server.process.pid) - cpu_before
    figures["server_cpu_s"] = round(cpu, 2)
    figures["server_cpu_ms_per_request"] = round(1000 * cpu / max(1, figures["requests"]), 4)
    return figures


# --- the logs --------------------------------------------------------------------------------


def count_log(server: Server) -> dict[str, int]:
    """Access-log lines of entrypoint calls and of probes, in the server's own log file."""
    text = server.log_path.read_text(errors="replace")
    calls = len(re.findall(r'"POST /roll_die HTTP/1\.1" 200', text))
    probes = len(re.findall(rf'"GET {re.escape(server.probe_path)} HTTP/1\.1" 200', text))
    return {"roll_die_lines": calls, "probe_lines": probes, "bytes": len(text.encode())}


# --- the run ---------------------------------------------------------------------------------


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def default_cpus() -> tuple[int | None, int | None]:
    """Servers on the last CPU, wrk on the first, when there are two or more."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[-1], cpus[0]) if len(cpus) >= 2 else (None, None)


def parse_args(argv: list[str]) -> argparse.Namespace:
    server_cpu, client_cpu = default_cpus()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds per side")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per round")
    parser.add_argument("--connections", type=int, default=8, help="wrk's connections")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="Daeploy 1.x from PyPI")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where its venv is kept")
    parser.add_argument("--server-cpu", type=int, default=server_cpu, help="both servers' CPU")
    parser.add_argument("--client-cpu", type=int, default=client_cpu, help="wrk's CPU")
    parser.add_argument(
        "--host-network",
        action="store_true",
        help="stay in the host's network namespace (ports 8000 and 8001 must be free; 1.x binds "
        "0.0.0.0)",
    )
    parser.add_argument(IN_NETNS_FLAG, action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def measure(args: argparse.Namespace, wrk: str, theirs_python: Path) -> dict[str, Any]:
    machine: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average_before": load_average(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "own_network_namespace": bool(args.in_own_network),
        "server_cpu": args.server_cpu,
        "client_cpu": args.client_cpu,
        "packages": {
            "ours": package_versions(sys.executable, ours=True),
            "theirs": package_versions(theirs_python, ours=False),
        },
    }
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as temp:
        folder = Path(temp)
        script = folder / "roll_die.lua"
        script.write_text(WRK_SCRIPT)
        servers: dict[str, Server] = {}
        prober: Prober | None = None
        try:
            servers["ours"] = start_server(
                "ours",
                sys.executable,
                folder / "ours" / "die_roller",
                OURS_PORT,
                {
                    PORT_ENV: str(OURS_PORT),
                    SERVICE_NAME_ENV: "die_roller",
                    SERVICE_VERSION_ENV: "1.0.0",
                },
                READY_PATH,
                args.server_cpu,
            )
            servers["theirs"] = start_server(
                "theirs",
                theirs_python,
                folder / "theirs" / "die_roller",
                THEIRS_PORT,
                {
                    LEGACY_NAME_ENV: "die_roller",
                    LEGACY_VERSION_ENV: "1.0.0",
                    MANAGER_URL_1X_ENV: REFUSING_URL,
                },
                PROBE_PATH_1X,
                args.server_cpu,
            )
            for server in servers.values():
                wait_answering(server)
            prober = Prober(list(servers.values()))
            prober.start()
            for side in SIDES:
                one_round(wrk, script, servers[side], args, timed=False)
            for index in range(args.rounds):
                for side in SIDES:
                    figures = one_round(wrk, script, servers[side], args)
                    rounds.append({"round": index + 1, "side": side, **figures})
                    print(
                        f"round {index + 1} {side:7}{figures['requests_per_s']:>9.1f} req/s"
                        f"  p50 {figures['p50_us'] / 1000:.2f} ms"
                        f"  server CPU {figures['server_cpu_ms_per_request']:.3f} ms/request",
                        flush=True,
                    )
        finally:
            if prober is not None:
                prober.stopped.set()
                prober.join(5)
            exit_codes = {side: server.stop() for side, server in servers.items()}
        logs = {side: count_log(server) for side, server in servers.items()}
        probes = {
            side: {"sent": len(s.probes), "ok": s.probes.count(200)} for side, s in servers.items()
        }
    machine["load_average_after"] = load_average()
    by_side = {side: [r for r in rounds if r["side"] == side] for side in SIDES}
    sides: dict[str, Any] = {}
    for side, rows in by_side.items():
        requests = sum(r["requests"] for r in rows)
        seconds = sum(r["seconds"] for r in rows)
        cpu = sum(r["server_cpu_s"] for r in rows)
        sides[side] = {
            "median_requests_per_s": median([r["requests_per_s"] for r in rows]),
            "pooled_requests_per_s": round(requests / seconds, 1),
            "requests": requests,
            "errors": sum(r["errors"] for r in rows),
            "non_2xx": sum(r["non_2xx"] for r in rows),
            "server_cpu_ms_per_request": round(1000 * cpu / max(1, requests), 4),
            "exit_code": exit_codes.get(side),
            "log": logs.get(side),
            "probes": probes.get(side),
        }
    ratio = round(
        sides["ours"]["median_requests_per_s"] / sides["theirs"]["median_requests_per_s"], 3
    )
    pairs = [
        round(o["requests_per_s"] / t["requests_per_s"], 3)
        for o, t in zip(by_side["ours"], by_side["theirs"], strict=True)
    ]
    return {
        "benchmark": "throughput",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "bounds": {
            "rounds_per_side": args.rounds,
            "seconds_per_round": args.seconds,
            "warmup_seconds_per_side": WARMUP_SECONDS,
            "connections": args.connections,
            "wrk_threads": 1,
            "probe_every_s": PROBE_SECONDS,
            "daeploy_1x": args.version,
        },
        "goal_ratio": GOAL_RATIO,
        "ratio_of_medians": ratio,
        "ratio_pooled": round(
            sides["ours"]["pooled_requests_per_s"] / sides["theirs"]["pooled_requests_per_s"], 3
        ),
        "ratio_per_round": pairs,
        "ratio_cpu_per_request": round(
            sides["theirs"]["server_cpu_ms_per_request"]
            / sides["ours"]["server_cpu_ms_per_request"],
            3,
        ),
        "goal_met": ratio >= GOAL_RATIO,
        "sides": sides,
        "rounds": rounds,
    }


def report(results: dict[str, Any]) -> None:
    sides = results["sides"]
    print(f"\n{'':8}{'median/s':>10}{'pooled/s':>10}{'CPU ms/req':>12}{'errors':>8}{'non-2xx':>9}")
    for side in SIDES:
        s = sides[side]
        print(
            f"{side:8}{s['median_requests_per_s']:>10.1f}{s['pooled_requests_per_s']:>10.1f}"
            f"{s['server_cpu_ms_per_request']:>12.3f}{s['errors']:>8}{s['non_2xx']:>9}"
        )
    print(
        f"ratio ours / theirs: medians {results['ratio_of_medians']:.3f}, pooled "
        f"{results['ratio_pooled']:.3f}, per round {results['ratio_per_round']}; CPU per request "
        f"theirs / ours {results['ratio_cpu_per_request']:.3f}"
    )
    verdict = "met" if results["goal_met"] else "MISSED"
    print(f"goal ours / theirs >= {GOAL_RATIO} (medians): {verdict}")
    for side in SIDES:
        s = sides[side]
        served = s["requests"]
        print(
            f"{side} log: {s['log']['roll_die_lines']} roll_die lines (>= {served} timed calls), "
            f"{s['log']['probe_lines']} probe lines for {s['probes']['ok']} probes answered 200 "
            f"of {s['probes']['sent']}; exit code {s['exit_code']}"
        )
    machine = results["machine"]
    for side in SIDES:
        p = machine["packages"][side]
        print(
            f"{side}: daeploy {p['daeploy']} ({p['daeploy_file']}), fastapi {p['fastapi']}, "
            f"uvicorn {p['uvicorn']}, httptools {p['httptools']}, uvloop {p['uvloop']}"
        )
    print(
        f"load average before {machine['load_average_before']}, after "
        f"{machine['load_average_after']}; written to {RESULTS.relative_to(REPO)}"
    )


def main() -> None:
    argv = sys.argv[1:]
    args = parse_args(argv)
    # Installs first, while the network is the host's (Debian's and PyPI's packages).
    wrk = ensure_wrk()
    theirs_python = ensure_venv(args.cache, args.version)
    if args.in_own_network:
        loopback_up()
    elif not args.host_network and os.geteuid() == 0 and shutil.which("unshare"):
        raise SystemExit(rerun_in_own_network(argv))
    results = measure(args, wrk, theirs_python)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    report(results)


if __name__ == "__main__":
    main()
