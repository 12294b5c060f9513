"""The reviewer's own line to the API server: its ServiceAccount token and the cluster's CA.

The same way daeploy.notifications talks to the API server from a pod (the mounted token, read
again on every request because the kubelet rotates it, ``ca.crt`` and
KUBERNETES_SERVICE_HOST/PORT), with httpx only. That ServiceAccount needs the built-in
ClusterRole ``system:auth-delegator``: create tokenreviews and subjectaccessreviews.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from daeploy.pod_api import api_client, pod_api

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


class ApiUnavailable(RuntimeError):
    """No usable answer from the API server (unreachable, timeout, 5xx, or it refused us)."""


class KubeApi:
    """POSTs review objects; ``token`` may be a callable so a rotated token is re-read."""

    def __init__(
        self,
        api_url: str,
        token: str | Callable[[], str],
        verify: bool | str = True,
        timeout: float = 5.0,
    ) -> None:
        self._token = token
        # The API server is never reached through a proxy.
        self._client = api_client(api_url, verify, timeout, trust_env=False)

    @classmethod
    def in_pod(cls, timeout: float = 5.0) -> KubeApi:
        """In a pod: the in-cluster API server, as the pod's ServiceAccount."""
        api = pod_api()
        return cls(api.url, api.read_token, api.verify, timeout)

    def close(self) -> None:
        self._client.close()

    def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a review and return the object the server answers with; or ApiUnavailable."""
        try:
            token = self._token() if callable(self._token) else self._token
            response = self._client.post(
                path,
                json=dict(body),
                headers={"authorization": f"Bearer {token}", "accept": "application/json"},
            )
        except (httpx.HTTPError, OSError) as error:
            raise ApiUnavailable(f"{self._client.base_url} unreachable: {error}") from error
        if response.status_code not in (200, 201):
            # 401/403 here mean the reviewer's own identity is wrong: not the caller's fault.
            raise ApiUnavailable(
                f"POST {path} answered {response.status_code}: {_message(response)}"
            )
        try:
            answer = response.json()
        except ValueError as error:
            raise ApiUnavailable(f"POST {path} answered with no JSON") from error
        if not isinstance(answer, dict):
            raise ApiUnavailable(f"POST {path} answered with no object")
        return answer


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:300]
    except (ValueError, AttributeError):
        return response.text[:300]
