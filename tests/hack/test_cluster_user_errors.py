"""``hack/cluster`` failures a user can cause end in one line per problem, naming the fix, with
exit code 1 (2 for usage errors), and never in a traceback. Run through the real script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from daeploy.contract import ENV_PREFIX

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "hack" / "cluster"


def _run(
    *args: str, user: str | None = None, script: Path = CLUSTER, **env: str
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    full_env.update(DAEPLOY_PYTHON=sys.executable, **env)
    argv = [str(script), *args]
    if user:  # a real unprivileged user, with a Python it may execute
        full_env["DAEPLOY_PYTHON"] = "/usr/bin/python3"
        argv = ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=120)


def _one_line_each(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("hack/cluster: ") for line in lines), proc.stderr
    return lines


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (("up",), {"DAEPLOY_LC_SLOT": "one"}, "DAEPLOY_LC_SLOT='one': give a number"),
        (("status",), {"DAEPLOY_LC_SLOT": "9"}, "cluster slot 9: use 0..8"),
        (("image", "build", "/nonexistent", "-t", "a/b:1"), {}, "is not a folder"),
        (("image", "build", str(REPO / "hack"), "-t", "a/b:1"), {}, "no Dockerfile at"),
        (("image", "build", str(REPO / "services/yatzee"), "-t", "a/b"), {}, "explicit version"),
        (
            ("image", "build", str(REPO / "services/yatzee"), "-t", "a/b:latest"),
            {},
            "never latest",
        ),
        (("kubectl", "get", "nodes"), {"DAEPLOY_LC_SLOT": "7"}, "the cluster is not up"),
        (("images",), {"DAEPLOY_LC_SLOT": "7"}, "the cluster is not up"),
        (
            ("image", "build", str(REPO / "services/yatzee"), "-t", "a/b:1"),
            {"DAEPLOY_LC_SLOT": "7"},
            "the cluster is not up",
        ),
    ],
    ids=[
        "slot-not-a-number",
        "slot-out-of-range",
        "image-context-missing",
        "image-no-dockerfile",
        "image-tag-without-version",
        "image-tag-latest",
        "kubectl-cluster-down",
        "images-cluster-down",
        "image-build-cluster-down",
    ],
)
def test_user_error_is_one_line_with_the_fix(args, env, words):
    proc = _run(*args, **env)
    assert proc.returncode == 1, proc.stderr
    lines = _one_line_each(proc)
    assert len(lines) == 1 and words in lines[0], lines


def test_usage_errors_exit_2():
    proc = _run("frobnicate")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "invalid choice" in proc.stderr
    proc = _run("image", "build")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_not_root_is_said_up_front() -> None:
    """Run from a copy anyone may read: the checkout may sit in a folder only root can enter
    (CI clones into ``mktemp -d``; pytest's own tmp_path is root's only too), and that user must
    reach the script to be told."""
    readable = Path(tempfile.mkdtemp(prefix="daeploy-hack-"))
    try:
        shutil.copytree(
            REPO / "hack", readable / "hack", ignore=shutil.ignore_patterns("__pycache__")
        )
        for folder in (readable, *(p for p in readable.rglob("*") if p.is_dir())):
            folder.chmod(0o755)
        proc = _run("up", user="65534", script=readable / "hack" / "cluster")
    finally:
        shutil.rmtree(readable)
    assert proc.returncode == 1
    lines = _one_line_each(proc)
    assert any("not root: run it with sudo" in line for line in lines), lines


def test_missing_go_is_said_up_front_when_something_must_be_built(tmp_path):
    """An empty build cache and no Go on PATH: the problem and its fix, before anything runs."""
    bare_path = os.pathsep.join(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    proc = _run("build", DAEPLOY_LC_CACHE=str(tmp_path / "cache"), PATH=bare_path)
    assert proc.returncode == 1
    lines = _one_line_each(proc)
    assert any("Go is not installed: install Go >= 1.24" in line for line in lines), lines
    assert not (tmp_path / "cache").exists(), "nothing may be built or written before the check"
