"""The in-cluster API server as a pod reaches it: its address, the ServiceAccount's token and CA.

Notifications (Events) and access reviews both talk to the API server from a service's pod with
plain httpx; one place reads the mounted ServiceAccount and builds the client, so both re-read a
rotated token and trust the same CA.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class PodApi:
    url: str
    token_file: Path
    verify: bool | str
    """The mounted CA bundle's path, or True (system CAs) when none is mounted."""

    def read_token(self) -> str:
        """Read on every request: the kubelet rotates the projected token."""
        return self.token_file.read_text().strip()


def pod_api() -> PodApi:
    """From KUBERNETES_SERVICE_HOST/PORT and the mounted ServiceAccount (KeyError outside a pod)."""
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    host = f"[{host}]" if ":" in host else host
    ca_file = SERVICE_ACCOUNT_DIR / "ca.crt"
    return PodApi(
        f"https://{host}:{port}",
        SERVICE_ACCOUNT_DIR / "token",
        str(ca_file) if ca_file.exists() else True,
    )


def api_client(
    api_url: str, verify: bool | str, timeout: float, *, trust_env: bool = True
) -> httpx.Client:
    """An httpx client for the API server; ``verify`` is True, False or a CA bundle's path."""
    verify_arg: bool | ssl.SSLContext = (
        ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    )
    return httpx.Client(
        base_url=api_url.rstrip("/"),
        verify=verify_arg,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
        trust_env=trust_env,
    )
