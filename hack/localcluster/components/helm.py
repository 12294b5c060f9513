"""helm v3, for installing the operator's chart the way users do."""

from __future__ import annotations

from .. import versions
from ..gobuild import GoComponent

HELM = GoComponent(
    name="helm",
    module="helm.sh/helm/v3",
    version=versions.HELM,
    packages=("helm.sh/helm/v3/cmd/helm",),
    ldflags=(f"-X helm.sh/helm/v3/internal/version.version={versions.HELM}",),
)
