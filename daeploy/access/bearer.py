"""Take the bearer token out of the ``Authorization`` header, or say why there is none.

Strict on purpose: exactly one header value of the form ``Bearer <token>`` (the scheme is case
insensitive, RFC 7235). Two values, another scheme or a token with characters RFC 6750 does not
allow are refused before anything reaches the API server, so an ambiguous request (one header
for the gate, another for the service) cannot slip through.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence

MAX_TOKEN_LENGTH = 16 * 1024
# RFC 6750 b64token: what a JWT (three base64url parts) is made of.
_CREDENTIALS = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")


class NoToken(ValueError):
    """No usable bearer token; the message is the reason, without the header's value."""


def bearer_token(authorization: str | Sequence[str] | None) -> str:
    """The token of the single ``Authorization: Bearer <token>`` value; else raise NoToken.

    ``authorization`` is what the web framework gives: None or no values when the header is
    missing, a string for one value, a sequence for each value the request carried.
    """
    values = [authorization] if isinstance(authorization, str) else list(authorization or ())
    if not values:
        raise NoToken("no Authorization header: send Authorization: Bearer <token>")
    if len(values) > 1:
        raise NoToken(f"{len(values)} Authorization headers: send exactly one")
    match = _CREDENTIALS.fullmatch(values[0].strip())
    if match is None:
        raise NoToken("the Authorization header is not of the form: Bearer <token>")
    token = match.group(1)
    if len(token) > MAX_TOKEN_LENGTH:
        raise NoToken(f"the bearer token is longer than {MAX_TOKEN_LENGTH} characters")
    return token


def token_audiences(token: str) -> list[str]:
    """The ``aud`` claim of a JWT, unverified: only for our own token, or to pick which
    audience to ask the API server about."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return []
    aud = claims.get("aud") if isinstance(claims, dict) else None
    return [aud] if isinstance(aud, str) else [a for a in aud or [] if isinstance(a, str)]
