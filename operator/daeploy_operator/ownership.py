"""Whose object is it: the operator writes or deletes only children a DaeployService owns.

A user's own Service or Ingress may carry the name a child would get. Taking it over would
rewrite it, and the garbage collector would later remove it with our DaeployService. Knative asks
``IsControlledBy`` before every write; here an object counts as ours when a DaeployService is
among its owners (shared per-name children have several owners and no controller).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daeploy.contract import API_GROUP, KIND


class NotOwnedError(Exception):
    """A child's name is taken by an object no DaeployService owns."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(
            f"{kind} {name!r} already exists and no {KIND} owns it, so it was left alone: "
            f"delete or rename that {kind}, or deploy the service under another name"
        )
        self.kind = kind
        self.name = name


def owned_by_daeploy(obj: Mapping[str, Any]) -> bool:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        group = str(ref.get("apiVersion", "")).split("/", 1)[0]
        if group == API_GROUP and ref.get("kind") == KIND:
            return True
    return False


def check(existing: Mapping[str, Any] | None, kind: str, name: str) -> None:
    """Raise NotOwnedError unless the object is absent or ours."""
    if existing is not None and not owned_by_daeploy(existing):
        raise NotOwnedError(kind, name)
