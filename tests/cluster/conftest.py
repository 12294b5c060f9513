"""Cluster fixtures for the operator: the chart installed once a session, fresh namespaces.

Builds on the session fixtures ``cluster`` and ``project_images`` from tests/conftest.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daeploy.contract import (
    API_GROUP,
    CRD_NAME,
    GATE_NAME,
    INVOKE_RESOURCE,
    OPERATOR_NAME,
    PARAMETERS_RESOURCE,
    PLURAL,
    TOKEN_AUDIENCE,
)
from localcluster import addons

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / OPERATOR_NAME
CRD = REPO / "crds" / f"{PLURAL}.yaml"
OPERATOR_NAMESPACE = "daeploy-system"
OPERATOR_RELEASE = OPERATOR_NAME
OPERATOR_IMAGE_REPOSITORY = f"localhost/{OPERATOR_NAME}"
OPERATOR_IMAGE_TAG = "0.1.0"
TEST_CALLER = "daeploy-tests-caller"


@pytest.fixture(scope="session")
def daeploy_operator(cluster: Any, project_images: Any) -> Iterator[str]:
    """The operator, installed by its chart into daeploy-system and Ready; yields the namespace.

    The CRD is applied first: helm installs crds/ only on a first install and never upgrades it.
    The rollout restart makes a reused cluster run the image built in this session.
    """
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    # A first install that failed leaves a release helm will not upgrade; start it over.
    previous = cluster.helm(
        "status", OPERATOR_RELEASE, "-n", OPERATOR_NAMESPACE, "-o", "json", check=False
    )
    if previous.returncode == 0 and json.loads(previous.stdout)["info"]["status"] != "deployed":
        cluster.helm("uninstall", OPERATOR_RELEASE, "-n", OPERATOR_NAMESPACE, "--wait")
    cluster.helm(
        "upgrade",
        "--install",
        OPERATOR_RELEASE,
        str(CHART),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--create-namespace",
        "--set",
        f"image.repository={OPERATOR_IMAGE_REPOSITORY}",
        "--set",
        f"image.tag={OPERATOR_IMAGE_TAG}",
        "--set",
        "image.pullPolicy=IfNotPresent",
        "--set",
        "resyncSeconds=10",
        # The local cluster's Traefik runs on the host network: the gate goes next to it.
        "--set",
        "access.gate.hostNetwork=true",
        # ... and Traefik asks it from its own process, through the project's plugin.
        "--set",
        f"access.traefikPlugin={addons.PLUGIN_NAME}",
        "--wait",
        "--timeout",
        "240s",
        timeout=300,
    )
    deployment = f"deployment/{OPERATOR_RELEASE}"
    for restarted in (deployment, f"daemonset/{GATE_NAME}"):
        cluster.kubectl("-n", OPERATOR_NAMESPACE, "rollout", "restart", restarted)
    cluster.kubectl(
        "-n", OPERATOR_NAMESPACE, "rollout", "status", deployment, "--timeout=240s", timeout=260
    )
    cluster.kubectl(
        "-n",
        OPERATOR_NAMESPACE,
        "wait",
        "--for=condition=Available",
        deployment,
        "--timeout=120s",
        timeout=140,
    )
    cluster.kubectl("-n", OPERATOR_NAMESPACE, "rollout", "status", f"daemonset/{GATE_NAME}",
                    "--timeout=120s", timeout=140)  # fmt: skip
    caller = json.dumps({"apiVersion": "v1", "kind": "List", "items": _test_caller()})
    cluster.kubectl("apply", "--server-side", "-f", "-", input=caller)
    token = cluster.kubectl(
        "-n", OPERATOR_NAMESPACE, "create", "token", TEST_CALLER,
        f"--audience={TOKEN_AUDIENCE}", "--duration=4h",
    ).stdout.strip()  # fmt: skip
    cluster.auth_headers = {"Authorization": f"Bearer {token}"}
    yield OPERATOR_NAMESPACE
    cluster.auth_headers = {}
    cluster.kubectl("delete", "-f", "-", "--ignore-not-found", input=caller, check=False)


def _test_caller() -> list[dict[str, Any]]:
    """The tests' own identity for calls through the ingress: may invoke every service and
    change its parameters, in every namespace (the secure default stays on in the tests)."""
    meta = {"name": TEST_CALLER, "labels": {"app.kubernetes.io/part-of": "daeploy-tests"}}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {**meta, "namespace": OPERATOR_NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta,
         "rules": [
             {"apiGroups": [API_GROUP], "resources": [INVOKE_RESOURCE], "verbs": ["create"]},
             {"apiGroups": [API_GROUP], "resources": [PARAMETERS_RESOURCE], "verbs": ["update"]},
         ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": TEST_CALLER},
         "subjects": [{"kind": "ServiceAccount", "name": TEST_CALLER,
                       "namespace": OPERATOR_NAMESPACE}]},
    ]  # fmt: skip


@pytest.fixture
def fresh_namespace(cluster: Any) -> Iterator[Callable[[str], str]]:
    """Make namespaces named ``<prefix>-<random>``; they are deleted, and waited for, afterwards.

    Waiting matters: a namespace's Ingresses hold their routes until they are gone.
    """
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        cluster.kubectl("create", "namespace", name)
        made.append(name)
        return name

    yield make
    for name in made:
        cluster.kubectl("delete", "namespace", name, "--wait=true", "--timeout=180s", timeout=200)
