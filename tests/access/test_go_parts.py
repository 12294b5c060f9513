"""The access gate's Go parts: the cache in front of the gate (operator/gate-cache/) and the
Traefik plugin (operator/traefik-access/). Their own tests, with the project's Go toolchain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

from localcluster.gobuild import go_env  # noqa: E402

PARTS = [REPO / "operator" / "gate-cache", REPO / "operator" / "traefik-access"]


@pytest.mark.parametrize("source", PARTS, ids=lambda p: p.name)
def test_go_tests_pass(source: Path) -> None:
    run = subprocess.run(["go", "test", "-count=1", "."], cwd=source, env=go_env(),
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("ok"), run.stdout


@pytest.mark.parametrize("source", PARTS, ids=lambda p: p.name)
def test_gofmt_clean_and_vetted(source: Path) -> None:
    fmt = subprocess.run(["gofmt", "-l", "."], cwd=source, capture_output=True, text=True)
    assert fmt.returncode == 0 and fmt.stdout == "", fmt.stdout + fmt.stderr
    vet = subprocess.run(["go", "vet", "."], cwd=source, env=go_env(),
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert vet.returncode == 0, vet.stdout + vet.stderr


def test_the_plugin_uses_only_the_standard_library() -> None:
    """Traefik's Yaegi interpreter loads a local plugin's own source and nothing else."""
    gomod = (PARTS[1] / "go.mod").read_text()
    assert "require" not in gomod, gomod
