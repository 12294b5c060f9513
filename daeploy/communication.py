"""What a service uses to talk to others: call their entrypoints, notify people.

``call_service`` finds a callee by name (see ``daeploy.calls`` for how, and its environment
variables); ``notify`` records a Kubernetes Event (see ``daeploy.notifications``).
"""

from daeploy.calls import (
    ServiceCallError,
    ServiceTimeoutError,
    ServiceUnreachableError,
    async_call_service,
    call_service,
)
from daeploy.notifications import Severity, notify

__all__ = [
    "ServiceCallError",
    "ServiceTimeoutError",
    "ServiceUnreachableError",
    "Severity",
    "async_call_service",
    "call_service",
    "notify",
]
