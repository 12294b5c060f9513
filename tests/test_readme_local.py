"""The README's blocks that need no cluster, run as written: the two Python snippets as real
services talking over HTTP, the install steps into a fresh virtualenv, and the two-process run."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from readme_blocks import REPO, block, run_bash

from daeploy.contract import ENV_PREFIX, PORT_ENV, READY_PATH, SERVICE_NAME_ENV, SERVICE_URLS_ENV


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _user_env(**extra: str) -> dict[str, str]:
    """A shell like a user's: the project's virtualenv first on PATH, no DAEPLOY_* leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith((ENV_PREFIX, "KUBERNETES_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


@pytest.fixture
def start(tmp_path: Path) -> Iterator:
    started: list[subprocess.Popen[bytes]] = []

    def run(script: Path, name: str, **env: str) -> str:
        port = _free_port()
        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            env=_user_env(**{PORT_ENV: str(port), SERVICE_NAME_ENV: name}, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / f"{name}.log").read_text()
            try:
                if httpx.get(f"{url}{READY_PATH}", timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"{name} did not start:\n{(tmp_path / f'{name}.log').read_text()}")

    yield run
    for proc in started:
        proc.terminate()
        proc.wait(10)


def test_python_snippets_serve_and_call_each_other(tmp_path, start):
    die_roller = tmp_path / "die_roller.py"
    die_roller.write_text(block("python-roll-die"))
    yatzee = tmp_path / "yatzee.py"
    yatzee.write_text(block("python-yatzee"))
    roller_url = start(die_roller, "die_roller")
    assert httpx.post(f"{roller_url}/roll_die", json={}, timeout=10).json() == 4
    yatzee_url = start(
        yatzee, "yatzee", **{SERVICE_URLS_ENV: json.dumps({"die_roller": roller_url})}
    )
    reply = httpx.post(f"{yatzee_url}/play", json={}, timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.json() == [4, 4, 4, 4, 4]


def test_two_processes_block_plays_yatzee():
    result = run_bash(block("two-processes"), env=_user_env(), timeout=120)
    # The services log to the same terminal; curl's answers have no newline of their own.
    plays = re.findall(r"\[[1-6](?:, ?[1-6]){4}\]", result.stdout)
    assert len(plays) == 1, result.stdout
    dice = json.loads(plays[0])
    assert len(dice) == 5 and all(1 <= d <= 6 for d in dice) and dice == sorted(dice), dice


def test_install_block_gives_a_working_daeploy_command(tmp_path):
    """A fresh virtualenv from PyPI, as a new user makes it: no project venv on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith((ENV_PREFIX, "VIRTUAL_ENV"))}
    env["HOME"] = str(tmp_path)
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p != str(Path(sys.executable).parent)
    )
    # pip builds in the clone (setuptools' build/ and *.egg-info): leave the tree as found.
    leftovers = [REPO / "build", REPO / "daeploy.egg-info"]
    before = {path: path.exists() for path in leftovers}
    try:
        result = run_bash(block("install"), env=env, timeout=600)
    finally:
        for path, existed in before.items():
            if not existed:
                shutil.rmtree(path, ignore_errors=True)
    assert "Usage: daeploy" in result.stdout
    assert "deploy" in result.stdout and "assign" in result.stdout
    assert "daeploy" in result.stdout.splitlines()[-1]  # the service object printed
    assert (tmp_path / "daeploy-venv" / "bin" / "daeploy").exists()
