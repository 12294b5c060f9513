"""Exceptions a service raises on purpose, as Daeploy 1.x offered them.

``HTTPException`` is FastAPI's own class, not a copy: every service is a FastAPI app, so raising
it from an entrypoint makes the service answer with its ``status_code`` and ``{"detail": ...}``,
exactly as 1.x services expect (``raise HTTPException(409, "already exists")``).

Failed calls to other services are not here: they raise ``ServiceCallError`` and its
subclasses from :mod:`daeploy.communication`.
"""

from __future__ import annotations

from fastapi import HTTPException

__all__ = ["HTTPException"]
