"""Which service, and which action, a request through the ingress is for.

The gate sees the original request only as headers the ingress controller sets: Traefik's
forwardAuth sends ``X-Forwarded-Uri`` and ``X-Forwarded-Method`` (from the request itself, never
from the client unless told to trust it), nginx's auth-url ``X-Original-URI`` and
``X-Original-Method``. The route segment after ``/services/`` names the service (see
daeploy.names.parse_route_segment).

A path the router and the gate could read differently is refused rather than interpreted: dot
segments, empty segments, backslashes, and any percent-encoding in the route segment or of a
dot, slash, backslash or NUL anywhere. No client of ours sends them, and refusing them keeps
the gate's reading and the router's the same by construction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from daeploy.access.actions import Action
from daeploy.contract import ROUTE_PREFIX
from daeploy.names import InvalidNameError, parse_route_segment

URI_HEADERS = ("x-forwarded-uri", "x-original-uri")
METHOD_HEADERS = ("x-forwarded-method", "x-original-method")
MAX_URI_LENGTH = 8 * 1024
PARAMETERS_SEGMENT = "~parameters"
READ_METHODS = frozenset({"GET", "HEAD"})

# %2e . %2f / %5c \ %00 NUL, in either case: an encoded path separator or dot segment.
_ENCODED_TRICK = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_METHOD = re.compile(r"[A-Z]{1,16}")


class NotARoute(ValueError):
    """The request is not for a service route, or could be read two ways; the message says why."""


@dataclass(frozen=True)
class Target:
    """The service a request is for (by name; any version of it) and what it does there."""

    service: str
    version: str | None
    action: Action


def original_request(headers: Mapping[str, list[str]]) -> tuple[str, str]:
    """(method, URI) of the request the ingress asks about; each header must appear once."""
    uri = _single(headers, URI_HEADERS)
    method = _single(headers, METHOD_HEADERS)
    if not _METHOD.fullmatch(method):
        raise NotARoute("the forwarded method is not an HTTP method")
    return method, uri


def _single(headers: Mapping[str, list[str]], names: tuple[str, ...]) -> str:
    found = [(name, value) for name in names for value in headers.get(name, [])]
    if len(found) != 1:
        raise NotARoute(f"expected exactly one of the headers {', '.join(names)}")
    return found[0][1]


def target(method: str, uri: str) -> Target:
    """The service and action for ``method uri``; NotARoute for anything else or ambiguous."""
    if len(uri) > MAX_URI_LENGTH:
        raise NotARoute(f"the path is longer than {MAX_URI_LENGTH} characters")
    path = uri.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        raise NotARoute("the path does not start with /")
    if "\\" in path or _ENCODED_TRICK.search(path):
        raise NotARoute("the path holds a backslash or an encoded dot, slash or NUL")
    segments = path.split("/")
    # '', 'services', '<route>', rest...; a trailing slash leaves one empty last segment.
    inner = segments[1:-1] if len(segments) > 2 and segments[-1] == "" else segments[1:]
    if any(s in ("", ".", "..") for s in inner):
        raise NotARoute("the path has an empty, '.' or '..' segment")
    if len(segments) < 3 or "/" + segments[1] != ROUTE_PREFIX:
        raise NotARoute(f"not a service route: the path must start with {ROUTE_PREFIX}/<name>")
    route = segments[2]
    if "%" in route:
        raise NotARoute("the service name in the path is percent-encoded")
    try:
        service, version = parse_route_segment(route)
    except InvalidNameError:
        raise NotARoute("the path names no valid service or version") from None
    rest = "/".join(unquote(s) for s in segments[3:])
    return Target(service, version, action_for(method, rest))


def action_for(method: str, route_path: str) -> Action:
    """The action a request for ``route_path`` (the path below the service's prefix) needs."""
    first = route_path.lstrip("/").split("/", 1)[0]
    if first == PARAMETERS_SEGMENT and method.upper() not in READ_METHODS:
        return Action.PARAMETERS
    return Action.INVOKE
