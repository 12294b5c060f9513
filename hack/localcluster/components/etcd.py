"""etcd 3.6, the version Kubernetes 1.34 is tested against (Debian's 3.4 is end of life)."""

from __future__ import annotations

from .. import versions
from ..gobuild import GoComponent

ETCD = GoComponent(
    name="etcd",
    module="go.etcd.io/etcd/server/v3",
    version=versions.ETCD,
    packages=("go.etcd.io/etcd/server/v3",),
    output="etcd",
)
