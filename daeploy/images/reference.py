"""Image references (``host[:port]/path/name[:tag][@sha256:...]``), as Docker reads them."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

DEFAULT_REGISTRY = "docker.io"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")


class ReferenceError(ValueError):
    """The text is not an image reference; the message says which part is wrong."""


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def reference(self) -> str:
        """What to ask the registry's manifests endpoint for: the digest wins over the tag."""
        return self.digest or self.tag or "latest"

    def pinned(self, digest: str) -> Reference:
        """This image by digest alone: what a pod must run, whatever the tag says later."""
        return replace(self, tag=None, digest=digest)

    def with_tag(self, tag: str) -> Reference:
        return replace(self, tag=tag, digest=None)


def _looks_like_host(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost"


def check_repository(repository: str, what: str = "repository") -> str:
    for component in repository.split("/"):
        if not _COMPONENT.match(component):
            raise ReferenceError(
                f"{what} {repository!r}: {component!r} is not a valid path component "
                "(lowercase letters, digits, and . _ - between them)"
            )
    return repository


def parse(text: str) -> Reference:
    """Parse an image reference; a bare ``name`` means Docker Hub's ``library/name``."""
    value = text.strip()
    if not value or any(c.isspace() for c in value):
        raise ReferenceError(f"image {text!r}: give a reference such as host/app:1.0")
    digest = None
    if "@" in value:
        value, digest = value.split("@", 1)
        if not _DIGEST.match(digest):
            raise ReferenceError(f"image {text!r}: digest {digest!r} is not sha256:<64 hex>")
    first, _, rest = value.partition("/")
    if rest and _looks_like_host(first):
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, value
        if "/" not in path:
            path = f"library/{path}"
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
        if not _TAG.match(tag):
            raise ReferenceError(f"image {text!r}: tag {tag!r} is not a valid tag")
    check_repository(path, f"image {text!r} repository")
    return Reference(registry, path, tag, digest)


def parse_registry(text: str) -> tuple[str, str, bool | None]:
    """``[http://|https://]HOST[:PORT][/PATH]`` as (host, path, insecure or None for unsaid)."""
    value = text.strip().rstrip("/")
    insecure: bool | None = None
    for scheme, flag in (("http://", True), ("https://", False)):
        if value.startswith(scheme):
            value, insecure = value[len(scheme) :], flag
    host, _, path = value.partition("/")
    if not host or any(c.isspace() for c in value) or "@" in value:
        raise ReferenceError(
            f"registry {text!r}: give HOST[:PORT][/PATH], for example ghcr.io/my-team"
        )
    if path:
        check_repository(path, f"registry {text!r} path")
    return host, path, insecure
