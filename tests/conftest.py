"""Session fixtures shared by every test folder.

``cluster`` is the tests' own local cluster, in slot ``DAEPLOY_TEST_SLOT`` (default 1: its own
files, network namespace, addresses and cgroups), so the cluster a user works on (slot 0, what
``make demo`` starts) and its workloads are never touched. It reuses a healthy cluster in that
slot or brings one up (and then takes it down at the end). A test that needs the cluster fails,
with the reason, when the cluster cannot come up: it is never skipped.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from daeploy.contract import PLURAL

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

import envtest as control_plane  # noqa: E402
from envtest import EnvTest  # noqa: E402

from daeploy_operator.api import ApiError, ApiServer  # noqa: E402
from daeploy_operator.kinds import KINDS, resource_path  # noqa: E402
from localcluster import images, node  # noqa: E402
from localcluster import project_images as project_image_builds  # noqa: E402
from localcluster.components import HELM, KUBERNETES  # noqa: E402
from localcluster.components.traefik import crds_file as traefik_crds_file  # noqa: E402
from localcluster.layout import Layout  # noqa: E402


@dataclass
class Cluster:
    """A handle on the running local cluster, for tests."""

    layout: Layout
    started_here: bool = False
    env: dict[str, str] = field(default_factory=dict)
    auth_headers: dict[str, str] = field(default_factory=dict)
    """``Authorization`` for calls through the ingress, once the operator is installed."""

    def __post_init__(self) -> None:
        path = os.pathsep.join([str(KUBERNETES.bin_dir), str(HELM.bin_dir), os.environ["PATH"]])
        self.env = dict(
            os.environ,
            KUBECONFIG=str(self.kubeconfig),
            PATH=path,
            DAEPLOY_LC_SLOT=str(self.layout.net.slot),
            DAEPLOY_INGRESS_URL=self.ingress_url,
        )

    @property
    def ingress_url(self) -> str:
        return self.layout.net.ingress_url

    @property
    def kubeconfig(self) -> Path:
        return self.layout.admin_kubeconfig

    def _run(self, argv: list[str], input: str | None, check: bool, timeout: float
             ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        proc = subprocess.run(
            argv, input=input, capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return self._run([str(KUBERNETES.binary("kubectl")), *args], input, check, timeout)

    def helm(self, *args: str, input: str | None = None, check: bool = True,
             timeout: float = 300) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return self._run([str(HELM.binary()), *args], input, check, timeout)

    def build_image(self, context: Path, tag: str, dockerfile: Path | None = None) -> None:
        images.build_and_load(self.layout, context, tag, dockerfile)


def _bring_up(layout: Layout) -> bool:
    if os.geteuid() != 0:
        pytest.fail("cluster tests need root (network namespaces, containerd)", pytrace=False)
    was_up = layout.admin_kubeconfig.exists() and node.healthy(layout)
    try:
        # On a running node ``up`` only adds what this checkout has that the node lacks (the
        # registry, the volume provisioner) and re-applies the system pods.
        node.up(layout)
    except Exception as exc:  # the reason goes into the failure, whatever it is
        pytest.fail(f"the local cluster could not come up: {exc}", pytrace=False)
    return not was_up


def test_layout() -> Layout:
    raw = os.environ.get("DAEPLOY_TEST_SLOT", "1")
    if not raw.isdigit():
        pytest.fail(f"DAEPLOY_TEST_SLOT={raw!r}: give a slot number 0..8", pytrace=False)
    return Layout.for_slot(int(raw))


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    layout = test_layout()
    handle = Cluster(layout, started_here=_bring_up(layout))
    yield handle
    if handle.started_here and os.environ.get("DAEPLOY_KEEP_CLUSTER") != "1":
        node.down(layout)


@pytest.fixture(scope="session")
def project_images(cluster: Cluster) -> dict[str, float]:
    """Build the project's images from their Dockerfiles and load them, once a session."""
    try:
        return project_image_builds.build_all(cluster.layout)
    except Exception as exc:
        pytest.fail(f"building the project's images failed: {exc}", pytrace=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The README's walk-throughs (which reinstall the operator with the chart's defaults) run
    after the other cluster tests, and tests that take the cluster down run last."""

    def order(item: pytest.Item) -> int:
        if item.get_closest_marker("lifecycle"):
            return 2
        return 1 if item.get_closest_marker("readme") else 0

    items.sort(key=order)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lifecycle: takes the cluster down and up again (runs last)")
    config.addinivalue_line("markers", "readme: runs a README walk-through on the cluster")


# --- envtest: a real API server without a node, for fast tests ---------------------------------

CRD = REPO / "crds" / f"{PLURAL}.yaml"


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


TRAEFIK_KINDS_USED = ("middlewares", "ingressroutes", "traefikservices")


def traefik_used_crds() -> list[Path]:
    """Traefik's CRDs of the kinds the operator writes (the access gate's Middleware, the
    traffic routes), each cut from the release's CRD file into a file of its own."""
    docs = traefik_crds_file().read_text().split("\n---\n")
    cuts = []
    for kind in TRAEFIK_KINDS_USED:
        cut = traefik_crds_file().with_name(f"traefik-{kind}-crd.yaml")
        if not cut.is_file():
            (doc,) = [d for d in docs if f"name: {kind}.traefik.io" in d]
            cut.write_text(doc)
        cuts.append(cut)
    return cuts


def _start_control_plane() -> control_plane.ControlPlane:
    """The control plane, or a failed test with the reason (never a skip)."""
    try:
        return control_plane.start([CRD, *traefik_used_crds()])
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
        try:
            found = api.list(api_version, kind, namespace)
        except ApiError as error:
            if error.status != 404:  # a kind this API server lacks (Traefik's Middleware)
                raise
            continue
        for obj in found:
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
