"""The answer to one access request, in the HTTP status a gate would return for it.

A forwardAuth endpoint or a service passes ``status`` on as is: 200 let through, 401 prove who
you are (``WWW-Authenticate: Bearer``), 403 you may not, 503 we could not ask Kubernetes (try
again; never a cached answer). ``reason`` is short, safe to show the caller and never holds the
token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daeploy.access.actions import Request

ALLOWED = 200
UNAUTHENTICATED = 401
FORBIDDEN = 403
UNAVAILABLE = 503


@dataclass(frozen=True)
class Decision:
    status: int
    reason: str
    user: str | None = None
    """The Kubernetes username the token belongs to, once the token is known to be valid."""

    @property
    def allowed(self) -> bool:
        return self.status == ALLOWED

    @property
    def cacheable(self) -> bool:
        """Only the API server's own verdicts are; a failure to reach it is asked again."""
        return self.status != UNAVAILABLE


def decision_body(decision: Decision, request: Request) -> dict[str, Any]:
    """What a caller is told: allowed or not, why, and which right on which service counts."""
    return {
        "allowed": decision.allowed,
        "status": decision.status,
        "reason": decision.reason,
        "namespace": request.namespace,
        "service": request.service,
        "needs": f"{request.action.verb} {request.action.value}",
    }
