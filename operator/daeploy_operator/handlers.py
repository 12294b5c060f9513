"""kopf registration: every handler only queues a reconcile of one (namespace, name).

The decisions live in :mod:`.reconciler` and the pure modules it calls; here is only which
events lead to a reconcile. Handlers are async and only add a key to a work queue
(:mod:`.workqueue`), whose worker threads run the reconciles and retry failed ones:

- Any event of a DaeployService (created, changed, deleted, or listed at start-up): reconcile its
  name, except the echo of our own status write.
- Deployments, Services, Ingresses, claims and pods the operator labelled: reconcile their
  name, so a child deleted or edited by hand is restored and pod problems reach the status
  within seconds.
- A resync loop over all names: the safety net for anything missed (see :mod:`.resync`).

The same watches feed kopf indexes (see :mod:`.indexes`), which every reconcile reads instead of
the API server. Only event handlers are used, no create/update handlers: those make kopf write
its own bookkeeping into every DaeployService (one more write and watch event per change) and
need nothing here, since every reconcile converges on the full desired state anyway.

No handler here needs a finalizer, so DaeployServices delete cleanly even without the operator.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from daeploy.contract import (
    API_GROUP_VERSION,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    OPERATOR_NAME,
    PLURAL,
    SERVICE_LABEL,
    TRAEFIK_API_VERSION,
)

from .api import ApiServer
from .applied import child_key
from .events import EventPoster
from .indexes import (
    IndexedReads,
    project_child,
    project_namespace,
    project_pod,
    project_version,
)
from .reconciler import Reconciler
from .resync import ResyncLoop
from .settings import OperatorSettings
from .workqueue import WorkQueue

SETTINGS = OperatorSettings.from_env()
RETRY_DELAY_SECONDS = 5.0
# A reconcile is a chain of API requests, so names are reconciled in parallel: at 1,000 objects
# four workers left the operator and the API server mostly idle, waiting on each other.
WORKERS = 8
CHILD_KINDS = (
    ("apps/v1", "deployments"),
    ("v1", "services"),
    ("networking.k8s.io/v1", "ingresses"),
    ("v1", "persistentvolumeclaims"),
    ("v1", "pods"),
)
OUR_CHILDREN = {MANAGED_BY_LABEL: MANAGED_BY_OPERATOR}
# The IngressRoute, TraefikServices and Middlewares of traffic routes: only with them on, since
# a cluster without Traefik's CRDs has no such kinds to watch.
TRAFFIC_KINDS = (
    (TRAEFIK_API_VERSION, "ingressroutes"),
    (TRAEFIK_API_VERSION, "traefikservices"),
    (TRAEFIK_API_VERSION, "middlewares"),
)

logger = logging.getLogger(__name__)


@kopf.index(API_GROUP_VERSION, PLURAL)
async def version_index(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return project_version(body)


@kopf.index("apps/v1", "deployments", id="child_index_deployments")
@kopf.index("v1", "services", id="child_index_services")
@kopf.index("networking.k8s.io/v1", "ingresses", id="child_index_ingresses")
@kopf.index("v1", "persistentvolumeclaims", id="child_index_persistentvolumeclaims")
async def child_index(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return project_child(body)


@kopf.index("v1", "pods", labels=OUR_CHILDREN)
async def pod_index(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return project_pod(body)


@kopf.index("v1", "namespaces")
async def namespace_index(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return project_namespace(body)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    # A watch that silently stops delivering would freeze the operator; reconnect regularly.
    settings.watching.server_timeout = SETTINGS.watch_server_timeout
    settings.watching.client_timeout = SETTINGS.watch_client_timeout
    settings.watching.connect_timeout = 10
    # Only warnings become Kubernetes Events; kopf's own "handler succeeded" lines stay quiet:
    # at 1,000 objects they cost more CPU than the reconciles.
    settings.posting.level = logging.WARNING
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    api = ApiServer.from_environment()
    instance = os.environ.get("HOSTNAME", OPERATOR_NAME)
    view = IndexedReads.from_indexes(kwargs)
    reconciler = Reconciler(api, lambda: view, SETTINGS, post_event=EventPoster(api, instance))
    memo.reconciler = reconciler
    memo.names = WorkQueue(
        reconciler.reconcile_key, workers=WORKERS, retry_delay=RETRY_DELAY_SECONDS, name="name"
    )
    memo.namespaces = WorkQueue(
        reconciler.reconcile_namespace_key, workers=1, retry_delay=RETRY_DELAY_SECONDS,
        name="namespace",
    )  # fmt: skip
    # The safety net re-applies what drifted without an event saying so.
    memo.resync = ResyncLoop(
        view.names,
        lambda key: memo.names.add(key, force=True),
        SETTINGS.resync_seconds,
        reconcile_namespace=lambda namespace: memo.namespaces.add(namespace, force=True),
    )
    memo.names.start()
    memo.namespaces.start()
    memo.resync.start()


@kopf.on.cleanup()
def stop_workers(memo: kopf.Memo, **_: Any) -> None:
    memo.resync.stop()
    memo.names.stop()
    memo.namespaces.stop()


@kopf.on.probe(id="workers")
async def workers_alive(memo: kopf.Memo, **_: Any) -> bool:
    """Fails the liveness endpoint if a worker or the safety net died, so the pod restarts.

    Async, so it answers from the event loop even while every worker thread is busy.
    """
    if not (memo.resync.alive and memo.names.alive and memo.namespaces.alive):
        raise kopf.PermanentError("a worker thread or the resync loop stopped")
    return True


def _changed(memo: kopf.Memo, event: kopf.RawEvent) -> bool:
    """False for the echo of the operator's own write, seen again through the watch."""
    obj = event.get("object") or {}
    meta = obj.get("metadata") or {}
    key = child_key(
        obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace"), meta.get("name", "")
    )
    generation = meta.get("generation")
    return bool(
        memo.reconciler.applied.observe(
            key,
            meta.get("resourceVersion"),
            deleted=event.get("type") == "DELETED",
            generation=int(generation) if generation is not None else None,
        )
    )


def _enqueue(memo: kopf.Memo, namespace: str | None, name: Any) -> None:
    if namespace and isinstance(name, str) and name:
        memo.names.add((namespace, name))


@kopf.on.event(API_GROUP_VERSION, PLURAL)
async def on_daeploy_service(
    event: kopf.RawEvent, spec: kopf.Spec, namespace: str, memo: kopf.Memo, **_: Any
) -> None:
    if not _changed(memo, event):
        return
    _enqueue(memo, namespace, spec.get("name"))
    if namespace and event.get("type") in (None, "ADDED", "DELETED"):
        # The namespace's ServiceAccount and Role are owned by all its DaeployServices.
        memo.namespaces.add(namespace)


async def on_child_event(
    event: kopf.RawEvent, labels: kopf.Labels, namespace: str, memo: kopf.Memo, **_: Any
) -> None:
    if _changed(memo, event):
        # Children carry the service name as label value; names are valid label values unchanged.
        _enqueue(memo, namespace, labels.get(SERVICE_LABEL))


for _api_version, _plural in CHILD_KINDS:
    kopf.on.event(_api_version, _plural, id=f"child-{_plural}", labels=OUR_CHILDREN)(on_child_event)
if SETTINGS.traefik_routes:
    for _api_version, _plural in TRAFFIC_KINDS:
        kopf.index(_api_version, _plural, id=f"child_index_{_plural}")(child_index)
        kopf.on.event(_api_version, _plural, id=f"child-{_plural}", labels=OUR_CHILDREN)(
            on_child_event
        )
