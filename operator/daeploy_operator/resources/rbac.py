"""The ``daeploy-service`` ServiceAccount of a namespace, allowed only to post Events.

notify() attaches Events to the service's DaeployService; nothing else is granted, so a service's
token cannot read or change anything in the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daeploy.contract import EVENTS_ROLE, MANAGED_BY_LABEL, MANAGED_BY_OPERATOR, SERVICE_ACCOUNT

from ..spec import ServiceVersion
from .owners import shared_owners

EVENT_VERBS = ("create", "update", "patch")


def _metadata(name: str, namespace: str, owners: Iterable[ServiceVersion]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {MANAGED_BY_LABEL: MANAGED_BY_OPERATOR},
        "ownerReferences": shared_owners(owners),
    }


def build_service_account(namespace: str, owners: Iterable[ServiceVersion]) -> dict[str, Any]:
    """Owned by every DaeployService of the namespace, so it goes with the last one."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(SERVICE_ACCOUNT, namespace, owners),
    }


def build_events_role(namespace: str, owners: Iterable[ServiceVersion]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(EVENTS_ROLE, namespace, owners),
        "rules": [{"apiGroups": [""], "resources": ["events"], "verbs": list(EVENT_VERBS)}],
    }


def build_events_role_binding(namespace: str, owners: Iterable[ServiceVersion]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(EVENTS_ROLE, namespace, owners),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": EVENTS_ROLE,
        },
        "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}],
    }
