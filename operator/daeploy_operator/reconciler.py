"""One reconcile of one service name in one namespace, in named phases.

- **versions**: each version's Deployment and Service (and claim, with spec.persistence);
- **main**: which version ``/services/<name>`` serves, and the per-name Service that says so;
- **routes**: which hosts this namespace holds for the name, and the Ingress that serves them;
- **status**: each version's conditions, from what the phases above saw and decided.

Every phase reads the cluster from a :class:`~.indexes.IndexedReads` view (the operator's watch
indexes), builds the full desired state with the pure builders, and applies only what changed.
Every path ends in the full desired state, so a missed event, an operator restart or a
hand-edited child heal the same way. All versions of a name are reconciled together because
they share the per-name Service and Ingress and compete for the main route.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from daeploy.contract import ROUTE_CLAIM_ANNOTATION, TRAEFIK_API_VERSION, VERSION_LABEL
from daeploy.names import InvalidNameError, label_value

from . import ownership
from . import status as status_rules
from .api import ApiError, Cluster
from .applied import AppliedRecord, child_key
from .indexes import TRAFFIC_CHILD_KINDS, WATCHED_CHILD_KINDS, IndexedReads
from .names import name_child_name
from .ownership import NotOwnedError
from .resources.deployment import build_version_deployment
from .resources.ingress import build_name_ingress, ingress_hosts
from .resources.middleware import build_access_middleware
from .resources.rbac import (
    build_callers_role,
    build_callers_role_binding,
    build_events_role,
    build_events_role_binding,
    build_peers_role,
    build_peers_role_binding,
    build_people_accounts,
    build_service_account,
)
from .resources.service import (
    build_name_service,
    build_version_service,
    selected_version_label,
)
from .resources.strip_prefix import build_strip_middleware, strip_name
from .resources.traffic import (
    build_mirror_service,
    build_name_ingress_route,
    build_split_service,
    mirror_name,
    needs_mirror,
    needs_split,
    split_name,
)
from .resources.volume import build_data_claim
from .routing import (
    MainRoute,
    RouteClaim,
    Traffic,
    claim_times,
    group_claim_time,
    main_route,
    route_holder,
    split_duplicates,
    traffic_split,
)
from .settings import OperatorSettings
from .spec import ServiceVersion

logger = logging.getLogger(__name__)

EventPoster = Callable[[dict[str, Any], status_rules.Event], None]
View = Callable[[], IndexedReads]


def _no_events(reference: dict[str, Any], event: status_rules.Event) -> None:
    """Default for tests and tools that run a reconcile outside the operator."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Pass:
    """One reconcile of one name: what every phase reads, and the children found taken."""

    view: IndexedReads
    namespace: str
    name: str
    group: list[ServiceVersion]
    now: datetime
    force: bool
    taken: list[NotOwnedError] = field(default_factory=list)
    """Shared children (per-name Service, Ingress) whose names someone else's objects hold."""


@dataclass
class Versions:
    """What the versions phase found: holders, duplicates, and each holder's availability."""

    holders: list[ServiceVersion]
    duplicates: dict[str, ServiceVersion]
    availability: dict[str, status_rules.Condition]
    deployments: dict[str, dict[str, Any]]


@dataclass
class Main:
    """What the main phase decided: where /services/<name> points, and each version's claim."""

    route: MainRoute
    claims: dict[str, str | None]
    traffic: Traffic


@dataclass
class Routes:
    """What the routes phase decided for the name in this namespace."""

    holder_namespace: str
    host: str
    routes_here: bool


@dataclass
class Reconciler:
    cluster: Cluster
    """Where writes go: server-side apply, status, deletes."""
    view: View
    """What a reconcile reads: the operator's live indexes, or a fresh listing for tools."""
    settings: OperatorSettings
    post_event: EventPoster = _no_events
    clock: Callable[[], datetime] = field(default=_utcnow)
    applied: AppliedRecord = field(default_factory=AppliedRecord)

    def reconcile_key(self, key: tuple[str, str], force: bool = False) -> None:
        """Entry for the work queue, which keys runs by (namespace, name)."""
        self.reconcile(*key, force=force)

    def reconcile_namespace_key(self, namespace: str, force: bool = False) -> None:
        """Entry for the work queue of namespace access, keyed by namespace."""
        self.reconcile_namespace_access(namespace, force=force)

    def reconcile(self, namespace: str, name: str, *, force: bool = False) -> None:
        """Make one name's children match its versions; ``force`` also heals silent drift."""
        now = self.clock()
        view = self.view()
        group = _live_versions(view, namespace, name)
        if not group:
            # The garbage collector removes the children of deleted DaeployServices.
            return
        try:
            run = Pass(view, namespace, name, group, now, force)
            self._identity_phase(run)
            versions = self._versions_phase(run)
            main = self._main_phase(run, versions)
            routes = self._routes_phase(run, versions, main)
            self._status_phase(run, versions, main, routes)
        except ApiError as error:
            # Said on every version's status, not only in the operator's log; then retried.
            self._report_failure(group, error, now)
            raise

    # --- phases ------------------------------------------------------------------------------

    def _identity_phase(self, run: Pass) -> None:
        """The name's ServiceAccount (its pods cannot start without it) and who may call it."""
        account = build_service_account(run.name, run.namespace, run.group)
        meta = account["metadata"]
        first = not self.applied.has(child_key("v1", "ServiceAccount", run.namespace, meta["name"]))
        self._apply_or_note(run, account)
        if self.settings.access:
            self._apply_or_note(run, build_callers_role(run.name, run.namespace, run.group))
            self._apply_or_note(run, build_callers_role_binding(run.name, run.namespace, run.group))
        if first:
            # The events binding names every service account of the namespace. Later changes
            # of the owners come through the namespace's own runner and the resync.
            self.reconcile_namespace_access(run.namespace)

    def _versions_phase(self, run: Pass) -> Versions:
        """Each version's Deployment and Service, then how available each version is."""
        holders, duplicates = split_duplicates(run.group)
        refused: dict[str, status_rules.Condition] = {}
        for v in holders:
            refusal = self._apply_version_children(run.view, v, run.force)
            if refusal:
                refused[v.resource_name] = refusal
        label = label_value(run.name)
        deployments = _by_version(run.view.children("Deployment", run.namespace, label))
        pods: dict[str, list[dict[str, Any]]] = {}
        for pod in run.view.children("Pod", run.namespace, label):
            pods.setdefault(_version_label(pod), []).append(pod)
        availability = {
            v.resource_name: refused.get(v.resource_name)
            or status_rules.availability(
                v,
                deployments.get(label_value(v.version)),
                pods.get(label_value(v.version), []),
            )
            for v in holders
        }
        return Versions(holders, duplicates, availability, deployments)

    def _main_phase(self, run: Pass, versions: Versions) -> Main:
        """Decide main and apply the per-name Service; a taken name is noted, not fatal."""
        claims = claim_times(versions.holders, run.now)
        current = run.view.child("v1", "Service", run.namespace, name_child_name(run.name))
        available = {k: c.status for k, c in versions.availability.items()}
        route = main_route(versions.holders, claims, available, selected_version_label(current))
        if self.settings.traefik_routes:
            traffic = traffic_split(versions.holders, route.target, available)
            table: Traffic | None = traffic
        else:
            # An Ingress path has one backend: the main answers everything, nobody is copied.
            traffic = Traffic(route.target, {route.target: 100} if route.target else {}, ())
            table = None
        self._apply_or_note(
            run, build_name_service(run.name, run.namespace, run.group, route.target, table)
        )
        return Main(route, claims, traffic)

    def _routes_phase(self, run: Pass, versions: Versions, main: Main) -> Routes:
        """The namespace's own host is never contested; the shared one ('' or a host set for
        it) goes to the namespace that deployed the name first."""
        view, namespace, name, route = run.view, run.namespace, run.name, main.route
        host = self.settings.host_for(namespace, view.namespace_annotations(namespace))
        own_host = "" if host else self.settings.namespace_host(namespace)
        claimed_at = group_claim_time(run.group)
        holder_namespace = route_holder(
            RouteClaim(namespace, claimed_at), _other_claims(view, namespace, name, host)
        )
        hosts = [host] if holder_namespace == namespace else []
        if own_host:
            hosts.append(own_host)
        if not hosts:
            self._remove_traffic_routes(
                run, Traffic(route.target, {}, ()), ingress_route=True, strip=True
            )
            if self._delete_if_ours(view, "networking.k8s.io/v1", "Ingress", namespace, name):
                logger.info(
                    "removed the Ingress of %s in %s: namespace %s holds its routes on host %r",
                    name,
                    namespace,
                    holder_namespace,
                    host,
                )
            return Routes(holder_namespace, host, routes_here=False)
        if holder_namespace != namespace:
            holder_namespace, host = namespace, own_host  # status speaks of the own host
        # Public only when every version is: the ingress check covers all of a name's routes.
        guarded = self.settings.access and not all(v.public for v in run.group)
        # Versions not built on the SDK get their own paths with the prefix stripped; that
        # takes Traefik's routes (without them their paths arrive whole, said in Routed).
        plain = [v.version for v in versions.holders if not v.probe.sdk]
        plain = plain if self.settings.traefik_routes else []
        ingress_route = route.target is not None or bool(plain)
        if self.settings.traefik_routes and ingress_route:
            self._apply_traffic_routes(run, main.traffic, hosts, guarded, plain)
        self._apply_or_note(
            run,
            build_name_ingress(
                name,
                namespace,
                run.group,
                [v.version for v in versions.holders],
                main_version=None if self.settings.traefik_routes else route.target,
                hosts=hosts,
                ingress_class=self.settings.ingress_class,
                claimed_at=claimed_at,
                annotations=self.settings.ingress_annotations_for(namespace) if guarded else None,
            ),
        )
        if self.settings.traefik_routes:
            self._remove_traffic_routes(
                run, main.traffic, ingress_route=not ingress_route, strip=not plain
            )
        return Routes(holder_namespace, host, routes_here=True)

    def _apply_traffic_routes(
        self, run: Pass, traffic: Traffic, hosts: list[str], guarded: bool, plain: list[str]
    ) -> None:
        """Middleware and TraefikServices first, so the IngressRoute never points at one that is
        not there."""
        name, namespace = run.name, run.namespace
        if plain:
            self._apply_or_note(run, build_strip_middleware(name, namespace, run.group))
        if needs_split(traffic):
            self._apply_or_note(run, build_split_service(name, namespace, run.group, traffic))
        if needs_mirror(traffic):
            mirror = build_mirror_service(
                name, namespace, run.group, traffic, self.settings.mirror_max_body_bytes
            )
            self._apply_or_note(run, mirror)
        self._apply_or_note(
            run,
            build_name_ingress_route(
                name, namespace, run.group, traffic, hosts=hosts, guarded=guarded,
                plain_versions=plain,
            ),
        )  # fmt: skip

    def _remove_traffic_routes(
        self, run: Pass, traffic: Traffic, *, ingress_route: bool, strip: bool = False
    ) -> None:
        """TraefikServices and the strip Middleware no route needs any more; after the
        IngressRoute stopped using them."""
        view, namespace, name = run.view, run.namespace, run.name
        if ingress_route:
            self._delete_if_ours(view, TRAEFIK_API_VERSION, "IngressRoute", namespace, name)
        if not needs_split(traffic) or ingress_route:
            self._delete_if_ours(
                view, TRAEFIK_API_VERSION, "TraefikService", namespace, name, split_name(name)
            )
        if not needs_mirror(traffic) or ingress_route:
            self._delete_if_ours(
                view, TRAEFIK_API_VERSION, "TraefikService", namespace, name, mirror_name(name)
            )
        if strip or ingress_route:
            self._delete_if_ours(
                view, TRAEFIK_API_VERSION, "Middleware", namespace, name, strip_name(name)
            )

    def _status_phase(self, run: Pass, versions: Versions, main: Main, routes: Routes) -> None:
        route, now = main.route, run.now
        for v in run.group:
            holder = versions.duplicates.get(v.resource_name)
            if holder is not None:
                available, routed = status_rules.duplicate(v, holder)
                new = status_rules.build_status(
                    v,
                    available=available,
                    routed_=routed,
                    route=route,
                    claimed_at=None,
                    host=routes.host,
                    routes_here=False,
                    available_replicas=0,
                    now=now,
                )
            else:
                deployment = versions.deployments.get(label_value(v.version)) or {}
                routed_ = (
                    status_rules.not_owned(status_rules.ROUTED, str(run.taken[0]))
                    if run.taken
                    else status_rules.routed(
                        v,
                        route,
                        holder_namespace=routes.holder_namespace,
                        host=routes.host,
                        traffic=main.traffic if self.settings.traefik_routes else None,
                    )
                )
                new = status_rules.build_status(
                    v,
                    available=versions.availability[v.resource_name],
                    routed_=routed_,
                    route=route,
                    claimed_at=main.claims.get(v.resource_name),
                    host=routes.host,
                    routes_here=routes.routes_here,
                    available_replicas=int(
                        (deployment.get("status") or {}).get("availableReplicas") or 0
                    ),
                    now=now,
                    rolling=status_rules.rollout(deployment),
                    traffic=main.traffic,
                )
            self._report(v, new)

    # --- namespace access --------------------------------------------------------------------

    def reconcile_namespace_access(self, namespace: str, *, force: bool = False) -> None:
        """The namespace's events Role (bound to every service's account), the accounts for
        people, and the ingress's Middleware; owned by all its DaeployServices.

        Separate from the per-name reconcile because it needs every object of the namespace:
        reading them all for each name would make a burst quadratic.
        """
        view = self.view()
        owners = _live_versions(view, namespace)
        if not owners:
            return
        self._apply(view, build_events_role(namespace, owners), force)
        self._apply(view, build_events_role_binding(namespace, owners), force)
        if not self.settings.access:
            return
        self._apply(view, build_peers_role(namespace, owners), force)
        self._apply(view, build_peers_role_binding(namespace, owners), force)
        for manifest in build_people_accounts(namespace, owners):
            self._apply(view, manifest, force)
        if self.settings.traefik_middleware:
            middleware = build_access_middleware(
                namespace,
                owners,
                self.settings.gate_for_ingress,
                self.settings.traefik_plugin,
                self.settings.cache_seconds,
            )
            try:
                self._apply(view, middleware, force)
            except ApiError as error:
                if error.status != 404:
                    raise
                logger.warning(
                    "no Traefik Middleware kind in this cluster (%s): install Traefik's CRDs, "
                    "or set access.traefikMiddleware=false and wire the ingress to the gate "
                    "with access.ingressAnnotations",
                    error,
                )

    # --- writes ------------------------------------------------------------------------------

    def _apply(self, view: IndexedReads, manifest: dict[str, Any], force: bool) -> None:
        """Server-side apply of a changed child, unless its name is taken by someone else.

        ``force`` (the resync) also re-applies a child that drifted from our last apply without
        an event saying so; unwatched kinds it always re-applies.
        """
        meta = manifest["metadata"]
        api_version, kind, namespace = manifest["apiVersion"], manifest["kind"], meta["namespace"]
        # Traefik's kinds are watched only with traffic routes on (the chart's default).
        watched = (api_version, kind) in WATCHED_CHILD_KINDS or (
            self.settings.traefik_routes and (api_version, kind) in TRAFFIC_CHILD_KINDS
        )
        live = view.child(api_version, kind, namespace, meta["name"]) if watched else None
        if self.applied.unchanged(manifest) and not (
            force and (not watched or self.applied.drifted(manifest, live))
        ):
            return
        if watched:
            existing = live
        elif self.applied.has(child_key(api_version, kind, namespace, meta["name"])):
            existing = None  # checked before our first write in this process
        else:
            existing = self.cluster.get(api_version, kind, namespace, meta["name"])
        ownership.check(existing, kind, meta["name"])
        self.applied.record(manifest, self.cluster.apply(manifest))

    def _apply_or_note(self, run: Pass, manifest: dict[str, Any]) -> None:
        """Apply a shared child; if someone else's object holds its name, note it on the pass."""
        try:
            self._apply(run.view, manifest, run.force)
        except NotOwnedError as error:
            run.taken.append(error)

    def _delete_if_ours(
        self,
        view: IndexedReads,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        object_name: str | None = None,
    ) -> bool:
        child = object_name or name_child_name(name)
        existing = view.child(api_version, kind, namespace, child)
        if existing is None or not ownership.owned_by_daeploy(existing):
            return False
        self.applied.forget(child_key(api_version, kind, namespace, child))
        return self.cluster.delete(api_version, kind, namespace, child)

    def _apply_version_children(
        self, view: IndexedReads, version: ServiceVersion, force: bool
    ) -> status_rules.Condition | None:
        """Apply a version's claim (spec.persistence), Deployment and Service; why not, if they
        cannot be.

        A spec the CRD accepts can still build a child the API server refuses (for example an
        unknown resource name in spec.resources, or a claim made smaller); that belongs in the
        status, not in a retry loop. The claim comes first: the pods mount it. A claim the spec
        no longer asks for is left to the version's end, with the data on it.
        """
        claim = build_data_claim(version)
        for child in (
            *([claim] if claim is not None else []),
            build_version_deployment(version, self.settings.runtime_image, self.settings.gate_url),
            build_version_service(version),
        ):
            try:
                self._apply(view, child, force)
            except NotOwnedError as error:
                return status_rules.not_owned(status_rules.AVAILABLE, str(error))
            except ApiError as error:
                if error.status not in (400, 422):
                    raise
                return status_rules.refused(f"the API server refused the {child['kind']}: {error}")
        return None

    def _report_failure(self, group: list[ServiceVersion], error: ApiError, now: datetime) -> None:
        for v in group:
            new = status_rules.with_reconcile_failure(v, str(error), now)
            try:
                self._report(v, new)
            except ApiError as second:
                logger.warning("could not report the failure on %s: %s", v.resource_name, second)

    def _report(self, version: ServiceVersion, new: dict[str, Any]) -> None:
        """Write a changed status; its watch echo is recognised by the answer's resourceVersion."""
        if new == dict(version.status):
            return
        written = {**version.reference(), "status": new}
        self.applied.record(written, self.cluster.apply_status(version.reference(), new))
        for event in status_rules.status_events(version.status, new):
            self.post_event(version.reference(), event)


# --- reads -----------------------------------------------------------------------------------


def _live_versions(
    view: IndexedReads, namespace: str, name: str | None = None
) -> list[ServiceVersion]:
    versions = []
    for obj in view.versions(namespace, name):
        try:
            version = ServiceVersion.from_object(obj)
        except (InvalidNameError, KeyError, TypeError, ValueError) as error:
            logger.warning(
                "skipping %s/%s: %s", namespace, (obj.get("metadata") or {}).get("name"), error
            )
            continue
        if not version.deleting:
            versions.append(version)
    return sorted(versions, key=lambda v: v.resource_name)


def _version_label(obj: dict[str, Any]) -> str:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(VERSION_LABEL, "")


def _by_version(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {_version_label(o): o for o in objects}


def _other_claims(view: IndexedReads, namespace: str, name: str, host: str) -> list[RouteClaim]:
    """Claims of other namespaces on the same name and host, from their Ingresses."""
    claims = []
    for ingress in view.ingresses(label_value(name)):
        metadata = ingress.get("metadata") or {}
        if metadata.get("namespace") == namespace or host not in ingress_hosts(ingress):
            continue
        claimed_at = (metadata.get("annotations") or {}).get(ROUTE_CLAIM_ANNOTATION) or (
            metadata.get("creationTimestamp") or ""
        )
        claims.append(RouteClaim(metadata.get("namespace", ""), claimed_at))
    return claims
