"""A real distribution registry (the one the local cluster runs) on a free loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

from localcluster import gobuild  # noqa: E402
from localcluster.components import REGISTRY  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def registry_binary() -> Path:
    if not REGISTRY.is_built():
        gobuild.build(REGISTRY)
    return REGISTRY.binary()


@pytest.fixture
def registry_host(registry_binary: Path, tmp_path: Path) -> Iterator[str]:
    """``127.0.0.1:<port>`` of a registry of its own, stopped by PID after the test."""
    host = f"127.0.0.1:{_free_port()}"
    config = tmp_path / "registry.json"
    config.write_text(
        json.dumps(
            {
                "version": "0.1",
                "log": {"level": "error"},
                "storage": {
                    "filesystem": {"rootdirectory": str(tmp_path / "registry-data")},
                    "delete": {"enabled": True},
                },
                "http": {"addr": host},
            }
        )
    )
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
    process = subprocess.Popen(
        [str(registry_binary), "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://{host}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"registry did not start: {process.stderr.read()!r}")
            time.sleep(0.1)
        yield host
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
