"""Owner references, which let the garbage collector clean up after DaeployServices."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daeploy.contract import API_GROUP_VERSION, KIND

from ..spec import ServiceVersion


def controller_owner(version: ServiceVersion) -> dict[str, Any]:
    """A version's own children are controlled by it and go when it goes."""
    return {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "name": version.resource_name,
        "uid": version.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def shared_owners(versions: Iterable[ServiceVersion]) -> list[dict[str, Any]]:
    """Shared children are owned by every version, none controlling: gone with the last one."""
    return [
        {
            "apiVersion": API_GROUP_VERSION,
            "kind": KIND,
            "name": v.resource_name,
            "uid": v.uid,
            "controller": False,
            "blockOwnerDeletion": False,
        }
        for v in sorted(versions, key=lambda v: v.resource_name)
    ]
