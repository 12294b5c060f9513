"""Helpers for the SDK tests: real service processes on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from daeploy.contract import (
    CALL_CONNECT_TIMEOUT_ENV,
    CALL_RETRIES_ENV,
    CALL_TIMEOUT_ENV,
    CALL_TRAFFIC_SECONDS_ENV,
    GATEWAY_URL_ENV,
    GRACEFUL_TIMEOUT_ENV,
    PORT_ENV,
    READY_PATH,
    RESERVED_ENV,
    SERVICE_URLS_ENV,
    SHUTDOWN_DELAY_ENV,
    WORKDIR_ENV,
)

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "services"
APPS = Path(__file__).resolve().parent / "apps"
START_TIMEOUT = 20.0

# Environment variables that would change how a service finds others or who it is.
SDK_VARIABLES = (
    *RESERVED_ENV,  # what the operator sets on every pod
    SERVICE_URLS_ENV,
    GATEWAY_URL_ENV,
    WORKDIR_ENV,
    SHUTDOWN_DELAY_ENV,
    GRACEFUL_TIMEOUT_ENV,
    CALL_TIMEOUT_ENV,
    CALL_CONNECT_TIMEOUT_ENV,
    CALL_RETRIES_ENV,
    CALL_TRAFFIC_SECONDS_ENV,
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SDK_VARIABLES}
    env.update(extra or {})
    return env


@dataclass
class RunningService:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        return stop_process(self.process, sig, timeout)


def stop_process(
    process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0
) -> int:
    """``sig`` to the process we started (by its PID), SIGKILL after ``timeout``."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


def wait_ready(service: RunningService, path: str = READY_PATH) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(
                f"service exited with {service.process.returncode}:\n{service.log()}"
            )
        try:
            if httpx.get(service.url + path, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    service.stop()
    raise AssertionError(f"service not ready within {START_TIMEOUT} s:\n{service.log()}")


Starter = Callable[..., RunningService]


def make_starter(log_dir: Path, started: list[RunningService]) -> Starter:
    def start(
        command: list[str] | Path,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        cwd: Path | None = None,
        wait: bool = True,
    ) -> RunningService:
        """Start ``python <script>`` (or a full command) with DAEPLOY_PORT set."""
        port = port or free_port()
        argv = [sys.executable, str(command)] if isinstance(command, Path) else command
        log_path = log_dir / f"service-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                env=clean_env({PORT_ENV: str(port), **(env or {})}),
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        service = RunningService(process, port, log_path)
        started.append(service)
        if wait:
            wait_ready(service)
        return service

    return start
