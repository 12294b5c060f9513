"""kopf registration: every handler only asks for a reconcile of one (namespace, name).

The decisions live in :mod:`.reconciler` and the pure modules it calls; here is only which
events lead to a reconcile and how failures are retried:

- DaeployService created, changed or found at start-up (resume): reconcile, retried on errors.
- DaeployService deleted: reconcile what is left of its name.
- Deployments, Services, Ingresses and pods the operator labelled: reconcile their name, so a
  child deleted or edited by hand is restored and pod problems reach the status within seconds.
- A resync loop over all names: the safety net for anything missed (see :mod:`.resync`).

No handler here needs a finalizer, so DaeployServices delete cleanly even without the operator.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from daeploy.contract import (
    API_GROUP,
    API_GROUP_VERSION,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    OPERATOR_NAME,
    PLURAL,
    SERVICE_LABEL,
)

from .api import ApiError, ApiServer
from .applied import child_key
from .coalescing import CoalescingRunner
from .events import EventPoster
from .reconciler import Reconciler
from .resync import ResyncLoop
from .settings import OperatorSettings

SETTINGS = OperatorSettings.from_env()
# Where kopf keeps its own bookkeeping: annotations, so the status stays the operator's.
KOPF_PREFIX = f"operator.{API_GROUP}"
RETRY_DELAY_SECONDS = 5.0
CHILD_KINDS = (
    ("apps/v1", "deployments"),
    ("v1", "services"),
    ("networking.k8s.io/v1", "ingresses"),
    ("v1", "pods"),
)
OUR_CHILDREN = {MANAGED_BY_LABEL: MANAGED_BY_OPERATOR}

logger = logging.getLogger(__name__)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_PREFIX)
    settings.persistence.finalizer = f"{KOPF_PREFIX}/finalizer"
    # A watch that silently stops delivering would freeze the operator; reconnect regularly.
    settings.watching.server_timeout = SETTINGS.watch_server_timeout
    settings.watching.client_timeout = SETTINGS.watch_client_timeout
    settings.watching.connect_timeout = 10
    settings.execution.max_workers = 8
    api = ApiServer.from_environment()
    instance = os.environ.get("HOSTNAME", OPERATOR_NAME)
    reconciler = Reconciler(api, SETTINGS, post_event=EventPoster(api, instance))
    memo.reconciler = reconciler
    memo.runner = CoalescingRunner(reconciler.reconcile_key)
    memo.access_runner = CoalescingRunner(reconciler.reconcile_namespace_key)
    # The safety net re-applies even children no event said changed.
    memo.resync = ResyncLoop(
        api,
        lambda key: memo.runner.run(key, force=True),
        SETTINGS.resync_seconds,
        SETTINGS.watch_namespaces,
        reconcile_namespace=lambda namespace: memo.access_runner.run(namespace, force=True),
    )
    memo.resync.start()


@kopf.on.cleanup()
def stop_resync(memo: kopf.Memo, **_: Any) -> None:
    memo.resync.stop()


@kopf.on.probe(id="resync")
def resync_alive(memo: kopf.Memo, **_: Any) -> bool:
    """Fails the liveness endpoint if the safety net stopped, so the pod restarts."""
    if not memo.resync.alive:
        raise kopf.PermanentError("the resync loop stopped")
    return True


def _reconcile(memo: kopf.Memo, namespace: str | None, name: Any, *, retry: bool) -> None:
    if not namespace or not isinstance(name, str) or not name:
        return
    try:
        memo.runner.run((namespace, name))
    except ApiError as error:
        if retry:
            raise kopf.TemporaryError(
                f"reconcile of {name}: {error}", delay=RETRY_DELAY_SECONDS
            ) from error
        logger.warning("reconcile of %s/%s failed: %s", namespace, name, error)


def _reconcile_access(memo: kopf.Memo, namespace: str | None) -> None:
    if not namespace:
        return
    try:
        memo.access_runner.run(namespace)
    except ApiError as error:
        logger.warning("namespace access of %s failed: %s", namespace, error)


@kopf.on.resume(API_GROUP_VERSION, PLURAL)
@kopf.on.create(API_GROUP_VERSION, PLURAL)
def on_new_daeploy_service(spec: kopf.Spec, namespace: str, memo: kopf.Memo, **_: Any) -> None:
    _reconcile(memo, namespace, spec.get("name"), retry=True)
    _reconcile_access(memo, namespace)


@kopf.on.update(API_GROUP_VERSION, PLURAL)
def on_daeploy_service(spec: kopf.Spec, namespace: str, memo: kopf.Memo, **_: Any) -> None:
    _reconcile(memo, namespace, spec.get("name"), retry=True)


@kopf.on.event(API_GROUP_VERSION, PLURAL)
def on_daeploy_service_event(
    event: kopf.RawEvent, spec: kopf.Spec, namespace: str, memo: kopf.Memo, **_: Any
) -> None:
    if event.get("type") == "DELETED":
        _reconcile(memo, namespace, spec.get("name"), retry=False)
        _reconcile_access(memo, namespace)


def on_child_event(
    event: kopf.RawEvent, labels: kopf.Labels, namespace: str, memo: kopf.Memo, **_: Any
) -> None:
    obj = event.get("object") or {}
    meta = obj.get("metadata") or {}
    key = child_key(obj.get("apiVersion", ""), obj.get("kind", ""), namespace, meta.get("name", ""))
    changed = memo.reconciler.applied.observe(
        key, meta.get("resourceVersion"), deleted=event.get("type") == "DELETED"
    )
    if not changed:
        return  # the echo of our own apply: nothing to do
    # Children carry the service name as label value; names are valid label values unchanged.
    _reconcile(memo, namespace, labels.get(SERVICE_LABEL), retry=False)


for _api_version, _plural in CHILD_KINDS:
    kopf.on.event(_api_version, _plural, id=f"child-{_plural}", labels=OUR_CHILDREN)(on_child_event)
