"""A real distribution registry (the one the local cluster runs) on a free loopback port."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_artifacts import running_registry

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

from localcluster import gobuild  # noqa: E402
from localcluster.components import REGISTRY  # noqa: E402


@pytest.fixture(scope="session")
def registry_binary() -> Path:
    if not REGISTRY.is_built():
        gobuild.build(REGISTRY)
    return REGISTRY.binary()


@pytest.fixture
def registry_host(registry_binary: Path, tmp_path: Path) -> Iterator[str]:
    with running_registry(registry_binary, tmp_path) as host:
        yield host
