"""``notify``: tell people something happened, as a Kubernetes Event on the service's object.

Inside the cluster each notification becomes a core/v1 Event on the service's DaeployService
(``DAEPLOY_RESOURCE_NAME``/``DAEPLOY_RESOURCE_UID`` in ``DAEPLOY_NAMESPACE``), so
``kubectl describe dsvc <name>`` and ``kubectl get events`` show it. The same message and
severity again bumps ``count`` and ``lastTimestamp`` of one Event (its name is a hash of both)
instead of piling up new ones. The service account may only create, update and patch events,
so an existing Event is read through the answer to a patch, never a get.

Sending happens on a background thread with short timeouts: an unreachable API server costs the
entrypoint nothing and is logged. Every notification is also logged, which is all that happens
outside a cluster.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import httpx

from daeploy.contract import (
    API_GROUP_VERSION,
    DASHBOARD_ANNOTATION,
    EMAILS_ANNOTATION,
    EVENT_REASON,
    KIND,
    RESOURCE_NAME_ENV,
    RESOURCE_UID_ENV,
    SERVICE_LABEL,
    SEVERITY_ANNOTATION,
    VERSION_LABEL,
)
from daeploy.identity import Identity, in_cluster
from daeploy.pod_api import api_client, pod_api

logger = logging.getLogger("daeploy.notifications")

MAX_MESSAGE_LENGTH = 1024
_QUEUE_SIZE = 1000
_CONFLICT_RETRIES = 10


class Severity(IntEnum):
    """How bad it is; WARNING and CRITICAL become ``Warning`` Events, INFO ``Normal``."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def event_type(self) -> str:
        return "Normal" if self is Severity.INFO else "Warning"

    @property
    def log_level(self) -> int:
        return {
            Severity.INFO: logging.INFO,
            Severity.WARNING: logging.WARNING,
            Severity.CRITICAL: logging.CRITICAL,
        }[self]

    @classmethod
    def parse(cls, value: Severity | str) -> Severity:
        if isinstance(value, Severity):
            return value
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        raise ValueError(
            f"severity={value!r} is not a severity: use Severity.INFO, Severity.WARNING or "
            "Severity.CRITICAL"
        )


@dataclass(frozen=True)
class Notification:
    msg: str
    severity: Severity
    emails: tuple[str, ...] = ()
    dashboard: bool = True
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class EventTarget:
    """The DaeployService object the Events describe, and the service they come from."""

    namespace: str
    resource_name: str
    resource_uid: str
    service_name: str
    service_version: str


class EventSendError(RuntimeError):
    """The API server refused or did not answer; the notifier logs it and goes on."""


def event_name(resource_name: str, msg: str, severity: Severity) -> str:
    """Deterministic, so a repeat of the same notification finds its Event again."""
    digest = hashlib.sha256(f"{severity.name}\x00{msg}".encode()).hexdigest()[:16]
    return f"{resource_name}.{digest}"


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubernetesEvents:
    """Creates and bumps core/v1 Events through the API server's REST interface (httpx only).

    ``token`` may be a callable so a rotated service account token is re-read on every send.
    """

    def __init__(
        self,
        api_url: str,
        token: str | Callable[[], str] | None,
        target: EventTarget,
        verify: bool | str = True,
        timeout: float = 5.0,
    ) -> None:
        self.target = target
        self._token = token
        self._client = api_client(api_url, verify, timeout)
        self._events_path = f"/api/v1/namespaces/{target.namespace}/events"
        # name -> (count, resourceVersion) of Events this process wrote last.
        self._known: dict[str, tuple[int, str]] = {}
        self._host = socket.gethostname()

    def close(self) -> None:
        self._client.close()

    def _headers(self, content_type: str = "application/json") -> dict[str, str]:
        headers = {"content-type": content_type, "accept": "application/json"}
        token = self._token() if callable(self._token) else self._token
        if token:
            headers["authorization"] = f"Bearer {token}"
        return headers

    def body(self, note: Notification, name: str) -> dict[str, Any]:
        target = self.target
        annotations = {
            SEVERITY_ANNOTATION: note.severity.name,
            SERVICE_LABEL: target.service_name,
            VERSION_LABEL: target.service_version,
        }
        if note.emails:
            annotations[EMAILS_ANNOTATION] = ",".join(note.emails)
        if not note.dashboard:
            annotations[DASHBOARD_ANNOTATION] = "false"
        stamp = _timestamp(note.created)
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": name,
                "namespace": target.namespace,
                "annotations": annotations,
            },
            "involvedObject": {
                "apiVersion": API_GROUP_VERSION,
                "kind": KIND,
                "name": target.resource_name,
                "uid": target.resource_uid,
                "namespace": target.namespace,
            },
            "reason": EVENT_REASON,
            "message": note.msg[:MAX_MESSAGE_LENGTH],
            "type": note.severity.event_type,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": f"daeploy/{target.service_name}", "host": self._host},
        }

    def send(self, note: Notification) -> dict[str, Any]:
        """Record one notification; returns the Event as stored. Raises EventSendError."""
        name = event_name(self.target.resource_name, note.msg, note.severity)
        stamp = _timestamp(note.created)
        known = self._known.get(name)
        if known is not None:
            count, version = known
            response = self._patch(name, count + 1, stamp, version)
            if response.status_code == 200:
                return self._remember(name, response)
            self._known.pop(name, None)
            if response.status_code not in (404, 409):
                raise self._failure("patch", name, response)
        response = self._request("POST", self._events_path, json=self.body(note, name))
        if response.status_code in (200, 201):
            return self._remember(name, response)
        if response.status_code != 409:
            raise self._failure("create", name, response)
        return self._bump(name, stamp)

    def _bump(self, name: str, stamp: str) -> dict[str, Any]:
        """Raise count of an Event made earlier (by another replica or an earlier run)."""
        for _ in range(_CONFLICT_RETRIES):
            # An empty patch changes nothing (no write, no new resourceVersion) and answers with
            # the object: it reads count and resourceVersion without "get".
            touched = self._request(
                "PATCH",
                f"{self._events_path}/{name}",
                json={},
                content_type="application/merge-patch+json",
            )
            if touched.status_code != 200:
                raise self._failure("patch", name, touched)
            current = touched.json()
            count = int(current.get("count") or 1)
            version = current["metadata"]["resourceVersion"]
            response = self._patch(name, count + 1, stamp, version)
            if response.status_code == 200:
                return self._remember(name, response)
            if response.status_code != 409:
                raise self._failure("patch", name, response)
        raise EventSendError(f"event {name}: count kept changing under {_CONFLICT_RETRIES} tries")

    def _patch(self, name: str, count: int, stamp: str, resource_version: str) -> httpx.Response:
        # resourceVersion makes the patch conditional: two replicas cannot both write count n+1.
        return self._request(
            "PATCH",
            f"{self._events_path}/{name}",
            json={
                "metadata": {"resourceVersion": resource_version},
                "count": count,
                "lastTimestamp": stamp,
            },
            content_type="application/merge-patch+json",
        )

    def _request(
        self, method: str, path: str, json: Any, content_type: str = "application/json"
    ) -> httpx.Response:
        try:
            return self._client.request(
                method, path, json=json, headers=self._headers(content_type)
            )
        except httpx.HTTPError as error:
            raise EventSendError(
                f"Kubernetes API {self._client.base_url} unreachable: {error}"
            ) from error

    def _remember(self, name: str, response: httpx.Response) -> dict[str, Any]:
        event: dict[str, Any] = response.json()
        self._known[name] = (int(event.get("count") or 1), event["metadata"]["resourceVersion"])
        return event

    @staticmethod
    def _failure(action: str, name: str, response: httpx.Response) -> EventSendError:
        try:
            reason = response.json().get("message", response.text)
        except ValueError:
            reason = response.text
        return EventSendError(f"{action} event {name} answered {response.status_code}: {reason}")


class Notifier:
    """Logs every notification and hands it to ``events`` (if any) on a background thread."""

    def __init__(self, events: KubernetesEvents | None = None) -> None:
        self.events = events
        self._queue: queue.Queue[Notification | None] = queue.Queue(maxsize=_QUEUE_SIZE)
        self._pending = 0
        self._idle = threading.Condition()
        self._last_sent: dict[tuple[str, Severity], float] = {}
        self._throttle_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    def notify(
        self,
        msg: str,
        severity: Severity | str,
        emails: Iterable[str] | str | None = None,
        timer: float = 0,
        dashboard: bool = True,
    ) -> bool:
        """Queue a notification; False if ``timer`` says the same one went out too recently."""
        if not isinstance(msg, str) or not msg:
            raise ValueError(f"msg={msg!r}: give the notification text as a non-empty string")
        level = Severity.parse(severity)
        if isinstance(timer, bool) or not isinstance(timer, int | float) or timer < 0:
            raise ValueError(f"timer={timer!r}: give the minimum seconds between repeats, >= 0")
        addresses = (emails,) if isinstance(emails, str) else tuple(emails or ())
        key = (msg, level)
        now = time.monotonic()
        with self._throttle_lock:
            last = self._last_sent.get(key)
            if timer and last is not None and now - last < timer:
                logger.debug("notification %r held back by timer=%s", msg, timer)
                return False
            self._last_sent[key] = now
        logger.log(level.log_level, "notification [%s] %s", level.name, msg)
        if self.events is None:
            return True
        note = Notification(msg=msg, severity=level, emails=addresses, dashboard=bool(dashboard))
        self._start()
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(note)
        except queue.Full:
            self._done()
            logger.warning("notification %r dropped: %d are waiting to be sent", msg, _QUEUE_SIZE)
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued notifications are sent (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float = 2.0) -> None:
        self.flush(timeout)
        with self._thread_lock:
            if self._thread is not None:
                with contextlib.suppress(queue.Full):
                    self._queue.put_nowait(None)
                self._thread.join(timeout)
                self._thread = None
        if self.events is not None:
            self.events.close()

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._thread_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="daeploy-notify", daemon=True
                )
                self._thread.start()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _work(self) -> None:
        while True:
            note = self._queue.get()
            if note is None:
                return
            try:
                assert self.events is not None
                self.events.send(note)
            except Exception as error:  # a notification must never take the service down
                logger.warning("notification %r not recorded as an Event: %s", note.msg, error)
            finally:
                self._done()


def notifier_from_config(
    api_url: str,
    token: str | Callable[[], str] | None,
    verify: bool | str = True,
    *,
    namespace: str,
    resource_name: str,
    resource_uid: str,
    service_name: str,
    service_version: str,
    timeout: float = 5.0,
) -> Notifier:
    """A notifier that writes Events through an explicit API server (tests, out-of-pod use).

    ``verify`` is True, False or the path of a CA bundle.
    """
    target = EventTarget(namespace, resource_name, resource_uid, service_name, service_version)
    return Notifier(KubernetesEvents(api_url, token, target, verify=verify, timeout=timeout))


def notifier_from_env() -> Notifier:
    """In a pod: Events through the in-cluster API; elsewhere (or incomplete env): logs only."""
    if not in_cluster():
        return Notifier()
    identity = Identity.from_env()
    missing = [
        variable
        for variable, value in (
            (RESOURCE_NAME_ENV, identity.resource_name),
            (RESOURCE_UID_ENV, identity.resource_uid),
        )
        if not value
    ]
    api = pod_api()
    if missing or not api.token_file.exists():
        why = f"{', '.join(missing)} not set" if missing else f"no {api.token_file}"
        logger.warning("notifications are only logged: %s", why)
        return Notifier()
    assert identity.namespace and identity.resource_name and identity.resource_uid
    return notifier_from_config(
        api.url,
        api.read_token,
        api.verify,
        namespace=identity.namespace,
        resource_name=identity.resource_name,
        resource_uid=identity.resource_uid,
        service_name=identity.name,
        service_version=identity.version,
    )


_default: Notifier | None = None
_default_lock = threading.Lock()


def default_notifier() -> Notifier:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = notifier_from_env()
                atexit.register(_default.flush, 2.0)
    return _default


def set_notifier(notifier: Notifier | None) -> None:
    """Replace the notifier ``notify`` uses (None: rebuild it from the environment)."""
    global _default
    with _default_lock:
        _default = notifier


def notify(
    msg: str,
    severity: Severity | str,
    dashboard: bool = True,
    emails: Iterable[str] | str | None = None,
    timer: float = 0,
) -> bool:
    """Send a notification; repeats within ``timer`` seconds of the last send are skipped.

    The arguments are 1.x's, in its order. ``emails`` are recorded on the Event (annotation
    ``daeploy.io/emails``) for whatever watches Events to mail; the SDK sends no mail.
    ``dashboard=False`` marks the Event (``daeploy.io/dashboard: "false"``) so the dashboard
    leaves it out; it is an Event like any other. Returns False if held back by ``timer``.
    """
    return default_notifier().notify(msg, severity, emails=emails, timer=timer, dashboard=dashboard)
