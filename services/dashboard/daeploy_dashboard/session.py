"""Who is asking: the bearer token of the request (header or login cookie), and CSRF checks.

The dashboard keeps no sessions and no secrets of its own. The login cookie holds the user's
Kubernetes token (HttpOnly, SameSite=Strict, Secure behind https); the forms' CSRF value is
derived from that token, so only a page that could read it (ours) can fill it in, and any
replica checks it without shared state. A request with ``Authorization: Bearer`` needs none:
browsers never add that header on their own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from daeploy.contract import DASHBOARD_LOGIN_COOKIE, DASHBOARD_TOKEN_COOKIE

_CSRF_CONTEXT = b"daeploy dashboard form"
MAX_TOKEN_LENGTH = 16384


@dataclass(frozen=True)
class Credentials:
    token: str
    from_cookie: bool

    @property
    def csrf(self) -> str:
        return csrf_value(self.token)


def csrf_value(token: str) -> str:
    return hmac.new(token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()[:32]


def credentials(request: Request) -> Credentials | None:
    """The request's token: ``Authorization: Bearer`` first, else the login cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return Credentials(value.strip(), from_cookie=False)
    cookie = request.cookies.get(DASHBOARD_TOKEN_COOKIE, "").strip()
    return Credentials(cookie, from_cookie=True) if cookie else None


def csrf_ok(creds: Credentials, sent: str) -> bool:
    """A cookie-authenticated form must carry the value derived from its token."""
    return not creds.from_cookie or hmac.compare_digest(sent or "", creds.csrf)


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_nonce_ok(request: Request, sent: str) -> bool:
    """Double submit: the login form's hidden value equals the cookie set with the form."""
    kept = request.cookies.get(DASHBOARD_LOGIN_COOKIE, "")
    return bool(kept) and hmac.compare_digest(kept, sent or "")


def is_https(request: Request) -> bool:
    """Behind the ingress the scheme is in X-Forwarded-Proto (Traefik sets it)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return (forwarded or request.url.scheme) == "https"


def token_claims(token: str) -> dict[str, Any]:
    """The JWT payload, unverified: only to pick the namespace to show first. The API server
    checks the token on every call; nothing here trusts these claims."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_namespace(token: str) -> str | None:
    """A ServiceAccount token's namespace (``kubernetes.io.namespace``), if it has one."""
    inner = token_claims(token).get("kubernetes.io")
    namespace = inner.get("namespace") if isinstance(inner, dict) else None
    return namespace if isinstance(namespace, str) and namespace else None
