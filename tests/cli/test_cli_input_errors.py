"""Bad input gets one clear line, before any cluster is contacted, and unreachable clusters too."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import Daeploy, one_line_error, write_service

from daeploy.cli.packing import MAX_SOURCE_BYTES
from daeploy.contract import PORT_ENV


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["deploy", "Die_Roller", "1.0.0", "SVC"], "invalid service name 'Die_Roller'"),
        (["deploy", "_die", "1.0.0", "SVC"], "invalid service name '_die'"),
        (["deploy", "die", "1.0", "SVC"], "invalid version '1.0': use a semantic version"),
        (["deploy", "die", "1.0.0", "SVC", "-e", "NOEQUALS"], "NOEQUALS is not set in your"),
        (["deploy", "die", "1.0.0", "SVC", "-e", "1X=2"], "the name '1X' must be letters"),
        (["deploy", "die", "1.0.0", "SVC", "-e", f"{PORT_ENV}=1"], "set by Daeploy"),
        (["deploy", "die", "1.0.0", "SVC", "--image", "repo/x:1"], "not both"),
        (["deploy", "die", "1.0.0"], "missing PATH"),
        (["deploy", "die", "1.0.0", "--image", "has space"], "invalid --image"),
        (["deploy", "die", "1.0.0", "NOWHERE"], "does not exist"),
        (["deploy", "die", "1.0.0", "EMPTY"], "has no service.py"),
        (["ls", "Bad"], "invalid service name 'Bad'"),
        (["assign", "die", "v1"], "invalid version 'v1'"),
        (["kill", "die", "x.y.z"], "invalid version 'x.y.z'"),
        (["logs", "die-roller"], "invalid service name 'die-roller'"),
        (["notifications", "x" * 41], "at most 40 characters"),
        (["--namespace", "Team_A", "ls"], "invalid --namespace 'Team_A'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    daeploy: Daeploy, no_cluster: Path, tmp_path: Path, args: list[str], expected: str
) -> None:
    write_service(tmp_path / "svc")
    (tmp_path / "empty").mkdir()
    paths = {"SVC": tmp_path / "svc", "NOWHERE": tmp_path / "nowhere", "EMPTY": tmp_path / "empty"}
    result = daeploy(*[str(paths.get(arg, arg)) for arg in args])
    assert result.exit_code == 2, result.output
    assert expected in one_line_error(result)


def test_too_large_folder_is_refused_before_contacting_the_cluster(
    daeploy: Daeploy, no_cluster: Path, tmp_path: Path
) -> None:
    folder = write_service(tmp_path / "svc")
    (folder / "weights.bin").write_bytes(os.urandom(MAX_SOURCE_BYTES + 1))
    result = daeploy("deploy", "die", "1.0.0", str(folder), "--ship", "configmap")
    assert result.exit_code == 2
    line = one_line_error(result)
    assert "more than 1.0 MB" in line
    assert "--registry" in line
    assert ".daeployignore" in line
    assert "--image" in line


def test_missing_kubeconfig_is_named(daeploy: Daeploy, no_cluster: Path) -> None:
    result = daeploy("ls")
    assert result.exit_code == 1
    line = one_line_error(result)
    assert f"{no_cluster} does not exist" in line
    assert "KUBECONFIG" in line


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_kubeconfig(path: Path, port: int) -> Path:
    path.write_text(
        f"""\
apiVersion: v1
kind: Config
clusters:
- name: dead
  cluster:
    server: https://127.0.0.1:{port}
    insecure-skip-tls-verify: true
contexts:
- name: dead-context
  context: {{cluster: dead, user: me}}
current-context: dead-context
users:
- name: me
  user: {{token: not-a-secret}}
"""
    )
    return path


def test_unreachable_cluster_is_one_line_naming_server_context_and_file(
    tmp_path: Path,
) -> None:
    """The installed console script, a real client and a real refused connection."""
    port = closed_port()
    kubeconfig = dead_kubeconfig(tmp_path / "kubeconfig", port)
    script = Path(sys.executable).parent / "daeploy"
    run = subprocess.run(
        [str(script), "ls"],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(
        f"Error: cannot reach the Kubernetes cluster at https://127.0.0.1:{port}"
    )
    assert "'dead-context'" in lines[0]
    assert str(kubeconfig) in lines[0]
    assert "connection refused" in lines[0]


def test_deploy_to_unreachable_cluster_fails_after_local_checks(
    daeploy: Daeploy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service_folder: Path
) -> None:
    kubeconfig = dead_kubeconfig(tmp_path / "kubeconfig", closed_port())
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    result = daeploy("deploy", "die_roller", "1.0.0", str(service_folder))
    assert result.exit_code == 1
    assert "cannot reach the Kubernetes cluster" in one_line_error(result)


def test_unknown_context_lists_the_known_ones(
    daeploy: Daeploy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(dead_kubeconfig(tmp_path / "kc", closed_port())))
    result = daeploy("--context", "prod", "ls")
    assert result.exit_code == 2
    assert "available contexts: dead-context" in one_line_error(result)


def test_version_option(daeploy: Daeploy) -> None:
    result = daeploy("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == "daeploy 0.1.0"
