"""Start and stop the node's daemons by PID, never by name.

A PID file records the PID and the process's start time, so a stale file can never make us
signal an unrelated process that happens to reuse the number.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .layout import Layout


@dataclass(frozen=True)
class Daemon:
    name: str
    argv: tuple[str, ...]
    in_netns: bool = True
    env: dict[str, str] = field(default_factory=dict)
    """Added to this tool's environment for the daemon."""


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces; fields after the closing parenthesis are fixed.
    return stat.rsplit(")", 1)[1].split()[19]


def _pidfile(layout: Layout, name: str) -> Path:
    return layout.pids / f"{name}.pid"


def running_pid(layout: Layout, name: str) -> int | None:
    path = _pidfile(layout, name)
    try:
        pid_text, started = path.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return pid if _start_time(pid) == started else None


def start(layout: Layout, daemon: Daemon) -> int:
    """Start unless already running; the daemon outlives this tool (own session, no stdin)."""
    pid = running_pid(layout, daemon.name)
    if pid:
        return pid
    from . import network  # late: keeps this module free of network imports for tests

    argv = list(daemon.argv)
    if daemon.in_netns:
        argv = network.in_netns(argv, layout.net)  # nsenter execs: the PID is the daemon's own
    layout.pids.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    log = (layout.logs / f"{daemon.name}.log").open("ab")
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **daemon.env} if daemon.env else None,
    )
    log.close()
    started = None
    for _ in range(50):
        started = _start_time(proc.pid)
        if started:
            break
        time.sleep(0.01)
    _pidfile(layout, daemon.name).write_text(f"{proc.pid} {started}\n")
    return proc.pid


def alive(layout: Layout, name: str) -> bool:
    return running_pid(layout, name) is not None


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    started = _start_time(pid)
    if started is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap if it is our child
        if _start_time(pid) != started:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(50):
        if _start_time(pid) != started:
            return
        time.sleep(0.1)


def stop(layout: Layout, name: str, timeout: float = 15.0) -> None:
    pid = running_pid(layout, name)
    if pid:
        stop_pid(pid, timeout)
    _pidfile(layout, name).unlink(missing_ok=True)


def log_tail(layout: Layout, name: str, lines: int = 20) -> str:
    path = layout.logs / f"{name}.log"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
