"""The API server as each user: the CLI's Kube, built on the user's own bearer token.

There is no impersonation and no account of the dashboard's own: every read and write goes to
the API server with the token the user gave, so RBAC decides and the refusal shown is the API
server's own message. Clients are kept per token (a few dozen at most) so a user's requests
reuse their TLS connections.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from daeploy.cli.errors import api_message
from daeploy.cli.kube import REQUEST_TIMEOUT, Kube, Target, validate_namespace
from daeploy_dashboard.settings import Settings

MAX_CLIENTS = 64


class Refused(Exception):
    """The API server (or a rule of the CLI's) said no; ``status`` is the HTTP status to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def refused(exc: ApiException) -> Refused:
    status = exc.status if isinstance(exc.status, int) and exc.status >= 400 else 502
    return Refused(status, api_message(exc))


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]


def load_api_modules() -> None:
    """The Kubernetes client imports its API classes and models on first use, over a second
    on a busy machine: done at start, so no person's first page waits for it."""
    unused = client.ApiClient(client.Configuration())
    Kube(unused, Target("https://127.0.0.1", "default"))
    client.AuthenticationV1Api(unused)
    unused.close()


class Clients:
    """ApiClients by token digest, least recently used dropped first."""

    def __init__(self, settings: Settings, size: int = MAX_CLIENTS) -> None:
        self.settings = settings
        self.size = size
        self._clients: OrderedDict[str, client.ApiClient] = OrderedDict()
        self._lock = threading.Lock()
        load_api_modules()

    def api(self, token: str) -> client.ApiClient:
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            found = self._clients.get(key)
            if found is not None:
                self._clients.move_to_end(key)
                return found
            configuration = client.Configuration()
            configuration.host = self.settings.api_url
            configuration.ssl_ca_cert = self.settings.ca_file
            configuration.verify_ssl = True
            configuration.api_key = {"authorization": token}
            configuration.api_key_prefix = {"authorization": "Bearer"}
            configuration.proxy = None
            configuration.retries = 1
            made = client.ApiClient(configuration)
            self._clients[key] = made
            while len(self._clients) > self.size:
                _, old = self._clients.popitem(last=False)
                old.close()
            return made

    def kube(self, token: str, namespace: str) -> Kube:
        validate_namespace(namespace)
        return Kube(self.api(token), Target(self.settings.api_url, namespace))

    def who(self, token: str) -> User:
        """SelfSubjectReview: who the API server takes the token for (401 if nobody)."""
        api = client.AuthenticationV1Api(self.api(token))
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            response = api.create_self_subject_review(
                body, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            raise refused(exc) from None
        review: dict[str, Any] = _json(response)
        info = (review.get("status") or {}).get("userInfo") or {}
        return User(str(info.get("username") or "?"), tuple(info.get("groups") or ()))

    def close(self) -> None:
        with self._lock:
            for made in self._clients.values():
                made.close()
            self._clients.clear()


def _json(response: Any) -> Any:
    try:
        return json.loads(response.data or b"null")
    finally:
        response.release_conn()
