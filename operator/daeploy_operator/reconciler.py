"""One reconcile of one service name in one namespace: read, decide, build, apply, report.

Every path ends in applying the full desired state, so a missed event, an operator restart or a
hand-edited child heal the same way. All versions of a name are reconciled together because
they share the per-name Service and Ingress and compete for the main route.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from daeploy.contract import (
    API_GROUP_VERSION,
    KIND,
    ROUTE_CLAIM_ANNOTATION,
    SERVICE_ACCOUNT,
    VERSION_LABEL,
)
from daeploy.names import InvalidNameError, label_value

from . import ownership
from . import status as status_rules
from .api import ApiError, Cluster
from .applied import AppliedRecord, child_key
from .names import name_child_name, name_labels
from .ownership import NotOwnedError
from .resources.deployment import build_version_deployment
from .resources.ingress import build_name_ingress, ingress_hosts
from .resources.rbac import (
    build_events_role,
    build_events_role_binding,
    build_service_account,
)
from .resources.service import (
    build_name_service,
    build_version_service,
    selected_version_label,
)
from .routing import (
    RouteClaim,
    claim_times,
    group_claim_time,
    main_route,
    route_holder,
    split_duplicates,
)
from .settings import OperatorSettings
from .spec import ServiceVersion

logger = logging.getLogger(__name__)

EventPoster = Callable[[dict[str, Any], status_rules.Event], None]


def _no_events(reference: dict[str, Any], event: status_rules.Event) -> None:
    """Default for tests and tools that run a reconcile outside the operator."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Reconciler:
    cluster: Cluster
    settings: OperatorSettings
    post_event: EventPoster = _no_events
    clock: Callable[[], datetime] = field(default=_utcnow)
    applied: AppliedRecord = field(default_factory=AppliedRecord)

    def reconcile_key(self, key: tuple[str, str], force: bool = False) -> None:
        """Entry for the coalescing runner, which keys runs by (namespace, name)."""
        self.reconcile(*key, force=force)

    def reconcile_namespace_key(self, namespace: str, force: bool = False) -> None:
        """Entry for the coalescing runner of namespace access, keyed by namespace."""
        self.reconcile_namespace_access(namespace, force=force)

    def reconcile(self, namespace: str, name: str, *, force: bool = False) -> None:
        """Make one name's children match its versions; ``force`` re-applies unchanged ones."""
        now = self.clock()
        group = self._live_versions(namespace, name)
        if not group:
            # The garbage collector removes the children of deleted DaeployServices.
            return
        try:
            service_account = child_key("v1", "ServiceAccount", namespace, SERVICE_ACCOUNT)
            if not self.applied.has(service_account):
                # Pods of a Deployment cannot start before their ServiceAccount exists. Later
                # changes of the owners come through the namespace's own runner and the resync.
                self.reconcile_namespace_access(namespace)
            self._reconcile_group(namespace, name, group, now, force)
        except ApiError as error:
            # Said on every version's status, not only in the operator's log; then retried.
            self._report_failure(group, error, now)
            raise

    def _reconcile_group(
        self,
        namespace: str,
        name: str,
        group: list[ServiceVersion],
        now: datetime,
        force: bool,
    ) -> None:
        holders, duplicates = split_duplicates(group)
        refused: dict[str, status_rules.Condition] = {}
        for v in holders:
            refusal = self._apply_version_children(v, force)
            if refusal:
                refused[v.resource_name] = refusal

        deployments, pods = self._observe_versions(namespace, name)
        availability = {
            v.resource_name: refused[v.resource_name]
            if v.resource_name in refused
            else status_rules.availability(
                v,
                deployments.get(label_value(v.version)),
                pods.get(label_value(v.version), []),
            )
            for v in holders
        }
        claims = claim_times(holders, now)
        current = self.cluster.get("v1", "Service", namespace, name_child_name(name))
        route = main_route(
            holders,
            claims,
            {k: c.status for k, c in availability.items()},
            selected_version_label(current),
        )
        # A name's shared children that are someone else's hold every version's routes back.
        taken: list[NotOwnedError] = []
        try:
            self._apply(build_name_service(name, namespace, group, route.target), force)
        except NotOwnedError as error:
            taken.append(error)

        # The namespace's own host is never contested; the shared one ('' or a host set for it)
        # goes to the namespace that deployed the name first.
        host = self._host(namespace)
        own_host = "" if host else self.settings.namespace_host(namespace)
        claimed_at = group_claim_time(group)
        holder_namespace = route_holder(
            RouteClaim(namespace, claimed_at), self._other_claims(namespace, name, host)
        )
        hosts = [host] if holder_namespace == namespace else []
        if own_host:
            hosts.append(own_host)
        routes_here = bool(hosts)
        if routes_here:
            if holder_namespace != namespace:
                holder_namespace, host = namespace, own_host  # status speaks of the own host
            self._apply_or_note(
                taken,
                build_name_ingress(
                    name,
                    namespace,
                    group,
                    [v.version for v in holders],
                    main_version=route.target,
                    hosts=hosts,
                    ingress_class=self.settings.ingress_class,
                    claimed_at=claimed_at,
                ),
                force,
            )
        elif self._delete_if_ours(
            "networking.k8s.io/v1", "Ingress", namespace, name_child_name(name)
        ):
            logger.info(
                "removed the Ingress of %s in %s: namespace %s holds its routes on host %r",
                name,
                namespace,
                holder_namespace,
                host,
            )

        for v in group:
            holder = duplicates.get(v.resource_name)
            if holder is not None:
                available, routed = status_rules.duplicate(v, holder)
                new = status_rules.build_status(
                    v,
                    available=available,
                    routed_=routed,
                    route=route,
                    claimed_at=None,
                    host=host,
                    routes_here=False,
                    available_replicas=0,
                    now=now,
                )
            else:
                deployment = deployments.get(label_value(v.version)) or {}
                routed_ = (
                    status_rules.not_owned(status_rules.ROUTED, str(taken[0]))
                    if taken
                    else status_rules.routed(v, route, holder_namespace=holder_namespace, host=host)
                )
                new = status_rules.build_status(
                    v,
                    available=availability[v.resource_name],
                    routed_=routed_,
                    route=route,
                    claimed_at=claims.get(v.resource_name),
                    host=host,
                    routes_here=routes_here,
                    available_replicas=int(
                        (deployment.get("status") or {}).get("availableReplicas") or 0
                    ),
                    now=now,
                    rolling=status_rules.rollout(deployment),
                )
            self._report(v, new)

    def reconcile_namespace_access(self, namespace: str, *, force: bool = False) -> None:
        """The namespace's ServiceAccount and events Role, owned by all its DaeployServices.

        Separate from the per-name reconcile because it needs every object of the namespace:
        reading them all for each name would make a burst quadratic.
        """
        owners = self._live_versions(namespace)
        if not owners:
            return
        # The ServiceAccount comes first: pods of a Deployment cannot start without it.
        self._apply(build_service_account(namespace, owners), force)
        self._apply(build_events_role(namespace, owners), force)
        self._apply(build_events_role_binding(namespace, owners), force)

    def _apply(self, manifest: dict[str, Any], force: bool) -> None:
        """Server-side apply; a child not applied before in this process is checked first."""
        if not force and self.applied.unchanged(manifest):
            return
        meta = manifest["metadata"]
        key = child_key(
            manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"]
        )
        if not self.applied.has(key):
            existing = self.cluster.get(*key[:2], meta.get("namespace"), meta["name"])
            ownership.check(existing, manifest["kind"], meta["name"])
        self.applied.record(manifest, self.cluster.apply(manifest))

    def _apply_or_note(
        self, taken: list[NotOwnedError], manifest: dict[str, Any], force: bool
    ) -> None:
        try:
            self._apply(manifest, force)
        except NotOwnedError as error:
            taken.append(error)

    def _delete_if_ours(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        existing = self.cluster.get(api_version, kind, namespace, name)
        if existing is None or not ownership.owned_by_daeploy(existing):
            return False
        return self.cluster.delete(api_version, kind, namespace, name)

    def _live_versions(self, namespace: str, name: str | None = None) -> list[ServiceVersion]:
        versions = []
        fields = {"spec.name": name} if name else None
        for obj in self.cluster.list(API_GROUP_VERSION, KIND, namespace, fields=fields):
            try:
                version = ServiceVersion.from_object(obj)
            except (InvalidNameError, KeyError, TypeError, ValueError) as error:
                logger.warning(
                    "skipping %s %s/%s: %s",
                    KIND,
                    namespace,
                    (obj.get("metadata") or {}).get("name"),
                    error,
                )
                continue
            if not version.deleting:
                versions.append(version)
        return versions

    def _apply_version_children(
        self, version: ServiceVersion, force: bool
    ) -> status_rules.Condition | None:
        """Apply a version's Deployment and Service; why not, if they cannot be.

        A spec the CRD accepts can still build a child the API server refuses (for example an
        unknown resource name in spec.resources); that belongs in the status, not in a retry loop.
        """
        for child in (
            build_version_deployment(version, self.settings.runtime_image),
            build_version_service(version),
        ):
            try:
                self._apply(child, force)
            except NotOwnedError as error:
                return status_rules.not_owned(status_rules.AVAILABLE, str(error))
            except ApiError as error:
                if error.status not in (400, 422):
                    raise
                return status_rules.refused(f"the API server refused the {child['kind']}: {error}")
        return None

    def _observe_versions(
        self, namespace: str, name: str
    ) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        """Deployments and pods of the name, keyed by their version label."""
        labels = name_labels(name)
        deployments = {
            (d["metadata"].get("labels") or {}).get(VERSION_LABEL, ""): d
            for d in self.cluster.list("apps/v1", "Deployment", namespace, labels)
        }
        pods: dict[str, list[dict[str, Any]]] = {}
        for pod in self.cluster.list("v1", "Pod", namespace, labels):
            label = (pod["metadata"].get("labels") or {}).get(VERSION_LABEL, "")
            pods.setdefault(label, []).append(pod)
        return deployments, pods

    def _host(self, namespace: str) -> str:
        ns = self.cluster.get("v1", "Namespace", None, namespace) or {}
        annotations: Mapping[str, str] = (ns.get("metadata") or {}).get("annotations") or {}
        return self.settings.host_for(namespace, annotations)

    def _other_claims(self, namespace: str, name: str, host: str) -> list[RouteClaim]:
        """Claims of other namespaces on the same name and host, from their Ingresses."""
        claims = []
        for ingress in self.cluster.list(
            "networking.k8s.io/v1", "Ingress", None, name_labels(name)
        ):
            metadata = ingress.get("metadata") or {}
            if metadata.get("namespace") == namespace or host not in ingress_hosts(ingress):
                continue
            claimed_at = (metadata.get("annotations") or {}).get(ROUTE_CLAIM_ANNOTATION) or (
                metadata.get("creationTimestamp") or ""
            )
            claims.append(RouteClaim(metadata.get("namespace", ""), claimed_at))
        return claims

    def _report_failure(self, group: list[ServiceVersion], error: ApiError, now: datetime) -> None:
        for v in group:
            new = status_rules.with_reconcile_failure(v, str(error), now)
            try:
                self._report(v, new)
            except ApiError as second:
                logger.warning("could not report the failure on %s: %s", v.resource_name, second)

    def _report(self, version: ServiceVersion, new: dict[str, Any]) -> None:
        if new == dict(version.status):
            return
        self.cluster.apply_status(version.reference(), new)
        for event in status_rules.status_events(version.status, new):
            self.post_event(version.reference(), event)
