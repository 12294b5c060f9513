"""The cluster's Go components, one module each, all pinned in ``versions``."""

from __future__ import annotations

from ..gobuild import GoComponent
from .coredns import COREDNS
from .etcd import ETCD
from .helm import HELM
from .kubernetes import KUBERNETES
from .prometheus import PROMETHEUS
from .registry import REGISTRY
from .traefik import TRAEFIK

ALL: tuple[GoComponent, ...] = (KUBERNETES, ETCD, COREDNS, TRAEFIK, HELM, REGISTRY, PROMETHEUS)
