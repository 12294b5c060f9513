"""Fixtures for CLI tests: the CLI in-process, and a fake API server when a test needs one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_fake_cluster import FakeCluster
from cli_support import Daeploy, write_service


@pytest.fixture
def daeploy() -> Daeploy:
    return Daeploy()


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times print in local time; make local time UTC so expected tables are fixed."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def no_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KUBECONFIG names a file that does not exist: any cluster access fails with its own error."""
    path = tmp_path / "absent-kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCluster]:
    cluster = FakeCluster().start()
    kubeconfig = cluster.write_kubeconfig(tmp_path / "fake-kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def service_folder(tmp_path: Path) -> Path:
    return write_service(tmp_path / "die_roller_service")
