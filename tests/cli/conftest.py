"""Fixtures for CLI tests: the CLI in-process, a real API server (envtest) and its operator.

``apiserver`` is a fresh namespace on the session's envtest with KUBECONFIG pointing at it;
``operator`` runs the real reconciler over that namespace meanwhile; ``kubelet`` serves pod
logs (see cli_envtest.py for what each stands in for).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_envtest import ApiNamespace, FakeKubelet, OperatorLoop, write_kubeconfig
from cli_support import Daeploy, write_service
from envtest import EnvTest

from daeploy.cli import assign, claim, kill, progress

FAST_POLL = 0.1


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


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process CLI polls the API server ten times a second instead of once."""
    for module in (assign, claim, kill, progress):
        monkeypatch.setattr(module, "POLL_SECONDS", FAST_POLL)


@pytest.fixture
def no_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KUBECONFIG names a file that does not exist: any cluster access fails with its own error."""
    path = tmp_path / "absent-kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def apiserver(
    envtest: EnvTest, envtest_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ApiNamespace]:
    kubeconfig = write_kubeconfig(envtest, tmp_path / "kubeconfig", envtest_namespace)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    handle = ApiNamespace(envtest, envtest_namespace, kubeconfig)
    yield handle
    handle.remove_config_maps()


@pytest.fixture
def operator(apiserver: ApiNamespace) -> Iterator[OperatorLoop]:
    loop = OperatorLoop(apiserver.envtest, apiserver.namespace).start()
    yield loop
    loop.stop()


@pytest.fixture(scope="session")
def _kubelet(envtest: EnvTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKubelet]:
    kubelet = FakeKubelet(envtest.api, tmp_path_factory.mktemp("kubelet")).start()
    yield kubelet
    kubelet.stop()


@pytest.fixture
def kubelet(_kubelet: FakeKubelet) -> Iterator[FakeKubelet]:
    yield _kubelet
    _kubelet.forget()


@pytest.fixture
def service_folder(tmp_path: Path) -> Path:
    return write_service(tmp_path / "die_roller_service")
