"""The CNCF distribution registry (v3), an OCI registry the node's containerd pulls from."""

from __future__ import annotations

from .. import versions
from ..gobuild import GoComponent

REGISTRY = GoComponent(
    name="registry",
    module="github.com/distribution/distribution/v3",
    version=versions.REGISTRY,
    packages=("github.com/distribution/distribution/v3/cmd/registry",),
    ldflags=(f"-X github.com/distribution/distribution/v3/version.version={versions.REGISTRY}",),
)
