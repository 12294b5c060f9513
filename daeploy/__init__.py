"""Daeploy: typed Python functions as versioned HTTP services on Kubernetes.

``from daeploy import service`` gives the process-wide ``Service``. It and the modules 1.x
services reach as attributes (``daeploy.communication``, ``daeploy.utilities``,
``daeploy.testing``) are loaded on first use, so ``import daeploy.names`` (operator, CLI) does
not build a web app.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daeploy import communication, testing, utilities
    from daeploy._service import Service

    service: Service

__all__ = ["communication", "service", "testing", "utilities"]

# Submodules Daeploy 1.x imported in its package, so ``import daeploy`` then
# ``daeploy.communication.notify(...)`` works without importing the submodule.
_LAZY_MODULES = frozenset({"communication", "testing", "utilities"})


def __getattr__(name: str) -> Any:
    if name == "service":
        from daeploy._service import service

        return service
    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'daeploy' has no attribute {name!r}")
