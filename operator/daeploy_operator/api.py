"""The operator's door to the API server: plain JSON over the kubernetes client's transport.

Plain dicts in and out keep the builders' output exactly what is sent, with no model
conversion in between; the kubernetes package is used only for configuration and its HTTP pool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from .apply import apply_manifest, apply_status
from .kinds import resource_path
from .names import label_selector

REQUEST_TIMEOUT = (5.0, 30.0)
CONNECTIONS = 32


class ApiError(RuntimeError):
    """A request the API server refused; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Cluster(Protocol):
    """Where the reconciler writes (and reads the few kinds it does not watch)."""

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None: ...

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        labels: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]: ...

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]: ...

    def apply_status(
        self, reference: Mapping[str, Any], status: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool: ...


class ApiServer:
    """A Cluster backed by the real API server."""

    def __init__(self, api_client: Any) -> None:
        self._client = api_client

    @classmethod
    def from_environment(cls) -> ApiServer:
        """In a pod: its ServiceAccount; elsewhere: the kubeconfig (KUBECONFIG or ~/.kube)."""
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            config.load_kube_config(client_configuration=configuration)
        # One connection per worker thread, instead of the default of five per CPU.
        configuration.connection_pool_maxsize = CONNECTIONS
        return cls(client.ApiClient(configuration))

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> dict[str, Any] | None:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        if query:
            path = f"{path}?{urlencode(dict(query))}"
        serialized = self._client.param_serialize(
            method=method,
            resource_path=path,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._client.call_api(*serialized, _request_timeout=REQUEST_TIMEOUT)
        except (ApiException, HTTPError) as error:
            raise ApiError(0, f"{method} {path} failed: {error}") from error
        try:
            data = response.read()
        finally:
            response.response.release_conn()
        if not 200 <= response.status <= 299:
            raise ApiError(response.status, _message(data))
        return json.loads(data) if data else None

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        try:
            obj = self.request("GET", resource_path(api_version, kind, namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return obj

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        labels: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        query: dict[str, str] = {}
        if labels:
            query["labelSelector"] = label_selector(dict(labels))
        if fields:
            # Selectable fields of the CRD: the server filters, so we read only one name.
            query["fieldSelector"] = label_selector(dict(fields))
        result = self.request(
            "GET", resource_path(api_version, kind, namespace), query=query or None
        )
        items = (result or {}).get("items") or []
        # List items come without their type; builders and Events want it.
        return [{"apiVersion": api_version, "kind": kind, **item} for item in items]

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        return apply_manifest(self, manifest)

    def apply_status(
        self, reference: Mapping[str, Any], status: Mapping[str, Any]
    ) -> dict[str, Any]:
        return apply_status(self, reference, status)

    def create(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """POST a new object (used for Events, whose names the server generates)."""
        metadata = manifest["metadata"]
        path = resource_path(manifest["apiVersion"], manifest["kind"], metadata.get("namespace"))
        return self.request("POST", path, body=dict(manifest)) or {}

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        try:
            self.request("DELETE", resource_path(api_version, kind, namespace, name))
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True


def _message(data: bytes) -> str:
    try:
        return str(json.loads(data).get("message") or data[:500])
    except (ValueError, AttributeError):
        return data[:500].decode(errors="replace")
