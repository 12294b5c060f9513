"""Daeploy: typed Python functions as versioned HTTP services on Kubernetes.

``from daeploy import service`` gives the process-wide ``Service``. It is loaded on first use,
so ``import daeploy.names`` (operator, CLI) does not build a web app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daeploy._service import Service

    service: Service

__all__ = ["service"]


def __getattr__(name: str) -> Any:
    if name == "service":
        from daeploy._service import service

        return service
    raise AttributeError(f"module 'daeploy' has no attribute {name!r}")
