"""The PersistentVolumeClaim of a version that asks for persistence (spec.persistence).

One claim per version, controlled by its DaeployService: the monitoring store's SQLite file is
the version's own (as in Daeploy 1.x, one database per version), it outlives the version's pods
and goes when the version goes. ReadWriteOnce is enough: a version's pods share a node during a
rolling update on a one-node cluster, and every cluster's storage offers it. Without a storage
class named, the API server gives the claim the cluster's default class.
"""

from __future__ import annotations

from typing import Any

from ..names import data_claim_name, version_labels
from ..spec import ServiceVersion
from .owners import controller_owner


def build_data_claim(version: ServiceVersion) -> dict[str, Any] | None:
    """The claim for ``version``, or None when its spec asks for no persistence."""
    persistence = version.persistence
    if persistence is None:
        return None
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": persistence.size}},
    }
    if persistence.storage_class:
        spec["storageClassName"] = persistence.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": data_claim_name(version.name, version.version),
            "namespace": version.namespace,
            "labels": version_labels(version.name, version.version),
            "ownerReferences": [controller_owner(version)],
        },
        "spec": spec,
    }
