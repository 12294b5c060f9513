"""CoreDNS; run with a Corefile without ``forward`` so no query leaves the cluster."""

from __future__ import annotations

from .. import versions
from ..gobuild import GoComponent

COREDNS = GoComponent(
    name="coredns",
    module="github.com/coredns/coredns",
    version=versions.COREDNS,
    packages=("github.com/coredns/coredns",),
    ldflags=(f"-X github.com/coredns/coredns/coremain.GitCommit={versions.COREDNS}",),
)
