"""Identities and rights: who a service is, who may call it, and the accounts people use.

- Per service name: the ServiceAccount its pods run as (``daeploy-<name>``), so a callee's
  check sees which service calls; and a Role plus RoleBinding that let the services listed in
  ``spec.callers`` invoke it.
- Per namespace: the events Role every service's account is bound to (notify(), and reading
  the per-name Services for their traffic tables); the
  peers Role, which lets every service of the namespace call those that set no
  ``spec.callers`` (Daeploy 1.x's default: services call each other freely); and two accounts
  for people and scripts, ``daeploy-caller`` (call every service) and ``daeploy-admin`` (also
  change parameters); ``daeploy token`` asks for their tokens.

Nothing else is granted: a service's token cannot read or change anything else in the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from daeploy.contract import (
    ADMIN_ACCOUNT,
    API_GROUP,
    CALLER_ACCOUNT,
    CALLERS_ROLE_SUFFIX,
    EVENTS_ROLE,
    INVOKE_RESOURCE,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    PARAMETERS_RESOURCE,
    PEERS_ROLE,
)
from daeploy.names import (
    InvalidNameError,
    service_account_name,
    service_object_name,
    validate_service_name,
)

from ..names import name_labels
from ..spec import ServiceVersion
from .owners import shared_owners

EVENT_VERBS = ("create", "update", "patch")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
RBAC_API = "rbac.authorization.k8s.io/v1"
INVOKE_RULE = {"apiGroups": [API_GROUP], "resources": [INVOKE_RESOURCE], "verbs": ["create"]}
PARAMETERS_RULE = {
    "apiGroups": [API_GROUP],
    "resources": [PARAMETERS_RESOURCE],
    "verbs": ["update"],
}
ACCOUNT_RULES: dict[str, list[dict[str, Any]]] = {
    CALLER_ACCOUNT: [INVOKE_RULE],
    ADMIN_ACCOUNT: [INVOKE_RULE, PARAMETERS_RULE],
}


def _metadata(
    name: str,
    namespace: str,
    owners: Iterable[ServiceVersion],
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": labels or {MANAGED_BY_LABEL: MANAGED_BY_OPERATOR},
        "ownerReferences": shared_owners(owners),
    }


def _account(name: str, namespace: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def _binding(
    name: str, namespace: str, owners: Iterable[ServiceVersion], subjects: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "apiVersion": RBAC_API,
        "kind": "RoleBinding",
        "metadata": _metadata(name, namespace, owners),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": subjects,
    }


# --- per service name ------------------------------------------------------------------------


def build_service_account(
    name: str, namespace: str, owners: Sequence[ServiceVersion]
) -> dict[str, Any]:
    """The name's own identity; owned by its versions, so it goes with the last one."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(service_account_name(name), namespace, owners, name_labels(name)),
    }


def callers_role_name(name: str) -> str:
    return service_account_name(name) + CALLERS_ROLE_SUFFIX


def build_callers_role(
    name: str, namespace: str, owners: Sequence[ServiceVersion]
) -> dict[str, Any]:
    """Invoke this service and no other: ``resourceNames`` is the service name."""
    return {
        "apiVersion": RBAC_API,
        "kind": "Role",
        "metadata": _metadata(callers_role_name(name), namespace, owners, name_labels(name)),
        "rules": [INVOKE_RULE | {"resourceNames": [name]}],
    }


def caller_subject(caller: str, namespace: str) -> dict[str, str]:
    """``yatzee`` (same namespace) or ``games/yatzee``; InvalidNameError for anything else."""
    caller_namespace, _, caller_name = caller.rpartition("/")
    if caller_namespace and not _NAMESPACE.fullmatch(caller_namespace):
        raise InvalidNameError(f"{caller!r}: give a service name or namespace/name")
    return _account(
        service_account_name(validate_service_name(caller_name)), caller_namespace or namespace
    )


def build_callers_role_binding(
    name: str, namespace: str, owners: Sequence[ServiceVersion]
) -> dict[str, Any]:
    """The callers of every version together: a right is the service's, not a version's.

    Always applied, with no subjects when no version lists callers, so removing the last
    caller takes the right away.
    """
    subjects: dict[tuple[str, str], dict[str, str]] = {}
    for version in owners:
        for caller in version.callers or ():
            try:
                subject = caller_subject(caller, namespace)
            except InvalidNameError:
                continue  # the CRD's pattern refuses these; an older object may hold one
            subjects[(subject["namespace"], subject["name"])] = subject
    binding = _binding(callers_role_name(name), namespace, owners, [*sorted_values(subjects)])
    binding["metadata"]["labels"] = name_labels(name)
    return binding


def sorted_values(items: dict[tuple[str, str], dict[str, str]]) -> list[dict[str, str]]:
    return [items[k] for k in sorted(items)]


# --- per namespace ---------------------------------------------------------------------------


def build_events_role(namespace: str, owners: Iterable[ServiceVersion]) -> dict[str, Any]:
    """What every service of the namespace may do: post Events (notify), and read the per-name
    Services, whose traffic annotation call_service splits and mirrors by."""
    owners = list(owners)
    services = sorted({service_object_name(v.name) for v in owners})
    return {
        "apiVersion": RBAC_API,
        "kind": "Role",
        "metadata": _metadata(EVENTS_ROLE, namespace, owners),
        "rules": [
            {"apiGroups": [""], "resources": ["events"], "verbs": list(EVENT_VERBS)},
            {
                "apiGroups": [""],
                "resources": ["services"],
                "verbs": ["get"],
                "resourceNames": services,
            },
        ],
    }


def _service_accounts(namespace: str, owners: Sequence[ServiceVersion]) -> list[dict[str, str]]:
    accounts = sorted({service_account_name(v.name) for v in owners})
    return [_account(a, namespace) for a in accounts]


def build_events_role_binding(namespace: str, owners: Sequence[ServiceVersion]) -> dict[str, Any]:
    """Every service name's account of the namespace may post Events."""
    return _binding(EVENTS_ROLE, namespace, owners, _service_accounts(namespace, owners))


def open_to_peers(owners: Sequence[ServiceVersion]) -> list[str]:
    """Service names no version of which restricts its callers (spec.callers unset)."""
    restricted = {v.name for v in owners if v.callers is not None}
    unrestricted = {v.name for v in owners if v.callers is None}
    return sorted(unrestricted - restricted)


def build_peers_role(namespace: str, owners: Sequence[ServiceVersion]) -> dict[str, Any]:
    """Invoke the namespace's services that set no callers. No rule at all when there are
    none: a rule with empty ``resourceNames`` would mean every name."""
    names = open_to_peers(owners)
    return {
        "apiVersion": RBAC_API,
        "kind": "Role",
        "metadata": _metadata(PEERS_ROLE, namespace, owners),
        "rules": [INVOKE_RULE | {"resourceNames": names}] if names else [],
    }


def build_peers_role_binding(namespace: str, owners: Sequence[ServiceVersion]) -> dict[str, Any]:
    return _binding(PEERS_ROLE, namespace, owners, _service_accounts(namespace, owners))


def build_people_accounts(namespace: str, owners: Sequence[ServiceVersion]) -> list[dict[str, Any]]:
    """``daeploy-caller`` and ``daeploy-admin``: ServiceAccount, Role and RoleBinding each."""
    manifests: list[dict[str, Any]] = []
    for account, rules in ACCOUNT_RULES.items():
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": _metadata(account, namespace, owners),
            }
        )
        manifests.append(
            {
                "apiVersion": RBAC_API,
                "kind": "Role",
                "metadata": _metadata(account, namespace, owners),
                "rules": rules,
            }
        )
        manifests.append(_binding(account, namespace, owners, [_account(account, namespace)]))
    return manifests
