"""The gate's Go cache (operator/gate-cache/): its own tests, with the project's Go toolchain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "operator" / "gate-cache"
sys.path.insert(0, str(REPO / "hack"))

from localcluster.gobuild import go_env  # noqa: E402


def test_go_tests_of_the_gate_cache_pass() -> None:
    env = go_env() | {
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "HOME": os.environ.get("HOME", "/root"),
    }
    run = subprocess.run(["go", "test", "-count=1", "."], cwd=SOURCE, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ok" in run.stdout


def test_gate_cache_is_gofmt_clean_and_vetted() -> None:
    fmt = subprocess.run(["gofmt", "-l", "."], cwd=SOURCE, capture_output=True, text=True)
    assert fmt.returncode == 0 and fmt.stdout == "", fmt.stdout + fmt.stderr
    vet = subprocess.run(["go", "vet", "."], cwd=SOURCE, env=go_env(),
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert vet.returncode == 0, vet.stdout + vet.stderr
