"""Fixtures for the operator's offline tests (helpers live in operator_fakes.py).

``memory_cluster`` is the in-memory fake; ``envtest`` is a real kube-apiserver and etcd on
127.0.0.1 (tests/envtest.py) with our CRD, one per session, and ``envtest_namespace`` a fresh
namespace of it per test.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import envtest as control_plane
import pytest
from envtest import EnvTest
from operator_fakes import InMemoryCluster

from daeploy.contract import PLURAL
from daeploy_operator.api import ApiError, ApiServer
from daeploy_operator.kinds import KINDS, resource_path

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / f"{PLURAL}.yaml"


@pytest.fixture
def memory_cluster() -> Iterator[InMemoryCluster]:
    yield InMemoryCluster()


@pytest.fixture(scope="session")
def envtest() -> Iterator[EnvTest]:
    plane = _start_control_plane()
    # Shown with -s: what a session with envtest tests pays once.
    print(
        f"\nenvtest: etcd + kube-apiserver + CRD ready in {plane.started_in:.2f}s", file=sys.stderr
    )
    try:
        yield control_plane.connect(plane)
    finally:
        control_plane.stop(plane)


def _start_control_plane() -> control_plane.ControlPlane:
    """The control plane, or a failed test with the reason (never a skip)."""
    try:
        return control_plane.start([CRD])
    except control_plane.EnvTestError as error:
        reason = f"envtest: {error}"
    pytest.fail(reason, pytrace=False)


@pytest.fixture
def envtest_namespaces(envtest: EnvTest) -> Iterator[Callable[[str], str]]:
    """Make namespaces named ``<prefix>-<random>``; all of them are removed after the test."""
    made: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}-{secrets.token_hex(4)}"
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        envtest.api.request("POST", resource_path("v1", "Namespace"), body=body)
        made.append(name)
        return name

    yield make
    for name in made:
        _remove_namespace(envtest.api, name)


@pytest.fixture
def envtest_namespace(envtest_namespaces: Callable[[str], str]) -> str:
    return envtest_namespaces("t")


def _remove_namespace(api: ApiServer, namespace: str) -> None:
    """Do what the missing controllers would: empty the namespace, then let it go.

    Without the namespace controller a deleted namespace stays Terminating with its objects,
    and lists across namespaces (the reconciler's Ingress claims) would see them in later tests.
    """
    for (api_version, kind), (_, namespaced) in KINDS.items():
        if not namespaced:
            continue
        for obj in api.list(api_version, kind, namespace):
            api.delete(api_version, kind, namespace, obj["metadata"]["name"])
    path = resource_path("v1", "Namespace", None, namespace)
    try:
        api.request("DELETE", path)
    except ApiError as error:
        if error.status != 404:
            raise
        return
    # Dropping the 'kubernetes' finalizer is the namespace controller's last step.
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace},
            "spec": {"finalizers": []}}  # fmt: skip
    api.request("PUT", f"{path}/finalize", body=body)
