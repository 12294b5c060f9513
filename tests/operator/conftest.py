"""Fixtures for the operator's offline tests (helpers live in operator_fakes.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from operator_fakes import InMemoryCluster


@pytest.fixture
def memory_cluster() -> Iterator[InMemoryCluster]:
    yield InMemoryCluster()
