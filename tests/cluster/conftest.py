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

from daeploy.contract import CRD_NAME, OPERATOR_NAME, PLURAL

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / OPERATOR_NAME
CRD = REPO / "crds" / f"{PLURAL}.yaml"
OPERATOR_NAMESPACE = "daeploy-system"
OPERATOR_RELEASE = OPERATOR_NAME
OPERATOR_IMAGE_REPOSITORY = f"localhost/{OPERATOR_NAME}"
OPERATOR_IMAGE_TAG = "0.1.0"


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
        "--wait",
        "--timeout",
        "240s",
        timeout=300,
    )
    deployment = f"deployment/{OPERATOR_RELEASE}"
    cluster.kubectl("-n", OPERATOR_NAMESPACE, "rollout", "restart", deployment)
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
    yield OPERATOR_NAMESPACE


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
