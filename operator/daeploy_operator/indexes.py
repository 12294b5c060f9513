"""What the operator remembers of the cluster, so a reconcile reads memory instead of the API.

Before this, every event cost about six reads, one of them a cluster-wide Ingress list: at 1,000
DaeployServices the API server spent more time answering the operator's reads than writing.
Like a controller-runtime informer, the watches the operator already has feed these indexes and
every reconcile reads them. kopf fills its indexes from the initial listing before any handler
runs, so a reconcile right after a restart sees the whole cluster, never an empty cache.

Each ``project_*`` function is pure: an object in, ``{index key: slim copy}`` out, keeping only
what the reconciler reads so 1,000 objects cost little memory. The same functions serve kopf's
``@kopf.index`` and :func:`snapshot`, which lists through the API for tests and tools that
reconcile outside the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from daeploy.contract import (
    API_GROUP_VERSION,
    KIND,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    ROUTE_CLAIM_ANNOTATION,
    SERVICE_LABEL,
    TRAEFIK_API_VERSION,
)

from .api import ApiError

Object = dict[str, Any]
Projection = dict[Hashable, Object]

# (apiVersion, kind) of every child kind the operator watches; ServiceAccounts and Roles are
# not watched (one per namespace) and are checked with a GET before their first write.
WATCHED_CHILD_KINDS = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("networking.k8s.io/v1", "Ingress"),
    ("v1", "PersistentVolumeClaim"),
)
# Watched only with traffic routes on (a cluster without Traefik's CRDs has no such kinds).
TRAFFIC_CHILD_KINDS = (
    (TRAEFIK_API_VERSION, "IngressRoute"),
    (TRAEFIK_API_VERSION, "TraefikService"),
    (TRAEFIK_API_VERSION, "Middleware"),
)


def _pick(source: Mapping[str, Any] | None, *keys: str) -> Object:
    source = source or {}
    return {k: source[k] for k in keys if source.get(k) is not None}


def _ours(metadata: Mapping[str, Any]) -> str | None:
    """The service label of a child the operator made, else None."""
    labels = metadata.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_OPERATOR:
        return None
    return labels.get(SERVICE_LABEL) or None


# --- keys ------------------------------------------------------------------------------------


def versions_of_name(namespace: str, name: str) -> tuple[str, str, str]:
    return ("name", namespace, name)


def versions_of_namespace(namespace: str) -> tuple[str, str]:
    return ("namespace", namespace)


def object_key(api_version: str, kind: str, namespace: str | None, name: str) -> tuple[str, ...]:
    return ("object", api_version, kind, namespace or "", name)


def children_of_name(kind: str, namespace: str, label: str) -> tuple[str, str, str, str]:
    return ("children", kind, namespace, label)


def ingresses_of_name(label: str) -> tuple[str, str]:
    """Ingresses of one service name in every namespace: other namespaces' route claims."""
    return ("ingresses", label)


# --- projections -----------------------------------------------------------------------------


def project_version(body: Mapping[str, Any]) -> Projection:
    """A DaeployService without kopf's bookkeeping annotations and managedFields."""
    metadata = body.get("metadata") or {}
    namespace = metadata.get("namespace") or ""
    name = (body.get("spec") or {}).get("name")
    slim = {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": _pick(
            metadata,
            "name",
            "namespace",
            "uid",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "resourceVersion",
        ),
        "spec": dict(body.get("spec") or {}),
        "status": dict(body.get("status") or {}),
    }
    keys: Projection = {versions_of_namespace(namespace): slim}
    if isinstance(name, str) and name:
        keys[versions_of_name(namespace, name)] = slim
    return keys


def project_child(body: Mapping[str, Any]) -> Projection:
    """Every child (Deployment, Service, Ingress, claim, Traefik route or Middleware) by name
    (whose is it?); ours also by service."""
    api_version, kind = body.get("apiVersion", ""), body.get("kind", "")
    metadata = body.get("metadata") or {}
    namespace = metadata.get("namespace") or ""
    slim: Object = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": _pick(
            metadata,
            "name",
            "namespace",
            "labels",
            "ownerReferences",
            "resourceVersion",
            "generation",
            "creationTimestamp",
        ),
    }
    label = _ours(metadata)
    if kind == "Deployment" and label:
        slim["spec"] = _pick(body.get("spec"), "replicas")
        slim["status"] = dict(body.get("status") or {})
    elif kind == "Service":
        slim["spec"] = _pick(body.get("spec"), "selector")
    elif kind == "Ingress":
        claim = (metadata.get("annotations") or {}).get(ROUTE_CLAIM_ANNOTATION)
        if claim:
            slim["metadata"]["annotations"] = {ROUTE_CLAIM_ANNOTATION: claim}
        rules = (body.get("spec") or {}).get("rules") or []
        slim["spec"] = {"rules": [_pick(rule, "host") for rule in rules]}
    keys: Projection = {object_key(api_version, kind, namespace, metadata.get("name", "")): slim}
    if label:
        keys[children_of_name(kind, namespace, label)] = slim
        if kind == "Ingress":
            keys[ingresses_of_name(label)] = slim
    return keys


def project_pod(body: Mapping[str, Any]) -> Projection:
    """Pods of our versions, with the states the status explains (pulls, crashes, scheduling)."""
    metadata = body.get("metadata") or {}
    label = _ours(metadata)
    if not label:
        return {}
    status = body.get("status") or {}
    slim = {
        "metadata": _pick(metadata, "name", "labels", "deletionTimestamp"),
        "status": {
            "conditions": list(status.get("conditions") or []),
            "containerStatuses": [
                _pick(c, "name", "image", "state", "lastState", "restartCount", "ready")
                for c in status.get("containerStatuses") or []
            ],
        },
    }
    return {children_of_name("Pod", metadata.get("namespace") or "", label): slim}


def project_namespace(body: Mapping[str, Any]) -> Projection:
    metadata = body.get("metadata") or {}
    slim = {"metadata": _pick(metadata, "name", "annotations")}
    return {("namespace", metadata.get("name", "")): slim}


# --- reading ---------------------------------------------------------------------------------


class Index(Protocol):
    """What the reconciler needs of a kopf.Index: key -> the values stored under it."""

    def get(self, key: Any, default: Any = None) -> Iterable[Object] | None: ...

    def __iter__(self) -> Iterator[Any]: ...


class IndexedReads:
    """The reconciler's reads, answered from the indexes.

    kopf updates its indexes in the event loop while reconciles run in worker threads;
    ``list()`` over a store or an index copies it in one C call, so a reader never sees it
    change midway.
    """

    def __init__(
        self,
        versions: Index,
        children: Sequence[Index],
        pods: Index,
        namespaces: Index,
    ) -> None:
        self._versions = versions
        self._children = tuple(children)
        self._pods = pods
        self._namespaces = namespaces

    @classmethod
    def from_indexes(cls, indexes: Mapping[str, Any]) -> IndexedReads:
        """From kopf's indices by handler id (one child index per watched kind)."""
        return cls(
            indexes["version_index"],
            [v for k, v in indexes.items() if k.startswith("child_index")],
            indexes["pod_index"],
            indexes["namespace_index"],
        )

    @staticmethod
    def _all(indexes: Iterable[Index], key: Hashable) -> list[Object]:
        found: list[Object] = []
        for index in indexes:
            found += list(index.get(key) or ())
        return found

    def versions(self, namespace: str, name: str | None = None) -> list[Object]:
        key = versions_of_name(namespace, name) if name else versions_of_namespace(namespace)
        return self._all((self._versions,), key)

    def child(self, api_version: str, kind: str, namespace: str, name: str) -> Object | None:
        found = self._all(self._children, object_key(api_version, kind, namespace, name))
        return found[0] if found else None

    def children(self, kind: str, namespace: str, label: str) -> list[Object]:
        indexes = (self._pods,) if kind == "Pod" else self._children
        return self._all(indexes, children_of_name(kind, namespace, label))

    def ingresses(self, label: str) -> list[Object]:
        return self._all(self._children, ingresses_of_name(label))

    def namespace_annotations(self, namespace: str) -> Mapping[str, str]:
        found = self._all((self._namespaces,), ("namespace", namespace))
        return (found[0]["metadata"].get("annotations") or {}) if found else {}

    def names(self) -> list[tuple[str, str]]:
        """Every (namespace, service name) with versions, for the resync pass."""
        return sorted((k[1], k[2]) for k in list(iter(self._versions)) if k[0] == "name")


class Lister(Protocol):
    def list(
        self, api_version: str, kind: str, namespace: str | None, labels: Any = None
    ) -> list[Object]: ...


def snapshot(cluster: Lister, namespaces: Iterable[str] = ()) -> IndexedReads:
    """The indexes as of now, listed through the API: for tests and tools outside the operator.

    Other namespaces' Ingresses hold route claims, so children are listed cluster-wide.
    """
    scope: tuple[str | None, ...] = tuple(namespaces) or (None,)
    versions = _index(
        project_version, (o for ns in scope for o in cluster.list(API_GROUP_VERSION, KIND, ns))
    )
    children = _index(
        project_child,
        (o for api, kind in WATCHED_CHILD_KINDS for o in cluster.list(api, kind, None)),
    )
    traffic: list[Object] = []
    for api, kind in TRAFFIC_CHILD_KINDS:
        try:
            traffic += cluster.list(api, kind, None)
        except ApiError as error:
            if error.status != 404:  # no Traefik CRDs in this cluster
                raise
    children.update(_index(project_child, traffic))
    pods = _index(project_pod, (o for ns in scope for o in cluster.list("v1", "Pod", ns)))
    namespaces_ = _index(project_namespace, cluster.list("v1", "Namespace", None))
    return IndexedReads(versions, [children], pods, namespaces_)


def _index(
    project: Callable[[Mapping[str, Any]], Projection], objects: Iterable[Mapping[str, Any]]
) -> dict[Hashable, list[Object]]:
    index: dict[Hashable, list[Object]] = {}
    for obj in objects:
        for key, value in project(obj).items():
            index.setdefault(key, []).append(value)
    return index
