"""Talking to the cluster the way kubectl does: kubeconfig, context, namespace, API calls.

Every call returns plain JSON dicts (``_preload_content=False``), so the rest of the CLI reads
DaeployService objects, Events and Pods the same way the tests build them. The CLI writes by
server-side apply only: it sends what it wants of an object under its own field manager, and
the API server merges that with what others (kubectl, the operator) own; nothing is read,
modified and written back, so there is no conflict to retry.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from daeploy.cli import kubeconfig
from daeploy.cli.errors import CRD_MISSING, CliError, InputError, status_body
from daeploy.cli.resource import spec_name
from daeploy.contract import (
    API_GROUP,
    API_GROUP_VERSION,
    API_VERSION,
    CLI_MAIN_FIELD_MANAGER,
    CLI_TRAFFIC_FIELD_MANAGER,
    KIND,
    LOCAL_REGISTRY_CONFIG_MAP,
    LOCAL_REGISTRY_NAMESPACE,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    PLURAL,
    SOURCE_ARCHIVE_KEY,
)
from daeploy.contract import MANAGED_BY_CLI as CLI_FIELD_MANAGER

# (connect, read) seconds: a dead cluster should fail fast, a busy one may answer slowly.
REQUEST_TIMEOUT = (5, 30)
_NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply (JSON is YAML)


@dataclass(frozen=True)
class Target:
    """Which cluster and namespace we talk to, for messages that must name them."""

    server: str
    namespace: str
    context: str | None = None
    kubeconfig: str | None = None

    def where(self) -> str:
        if self.kubeconfig is None:
            return f"{self.server} (in-cluster service account)"
        return f"{self.server} (context {self.context!r} from {self.kubeconfig})"


def validate_namespace(namespace: str) -> str:
    if len(namespace) > 63 or not re.fullmatch(_NAMESPACE_PATTERN, namespace):
        raise InputError(
            f"invalid --namespace {namespace!r}: use lowercase letters, digits and dashes "
            "(a DNS label such as 'default' or 'team-a')"
        )
    return namespace


def load(context: str | None, namespace: str | None) -> Kube:
    """Load credentials like kubectl: KUBECONFIG or ~/.kube/config, else the pod's account."""
    if namespace is not None:
        validate_namespace(namespace)
    setting, files = kubeconfig.locate()
    configuration = client.Configuration()
    if files:
        merged = kubeconfig.Kubeconfig.load(files)
        chosen, settings = merged.choose(context)
        merged.configure(chosen, configuration)
        ns = namespace or str(settings.get("namespace") or "default")
        target = Target(configuration.host, ns, chosen, merged.source)
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise CliError(
                f"cannot use the pod's service account: {exc}; "
                "point KUBECONFIG at a kubeconfig instead"
            ) from None
        ns = namespace or _service_account_namespace()
        target = Target(configuration.host, ns)
    else:
        raise CliError(
            f"no Kubernetes configuration found: {setting} does not exist; "
            "point KUBECONFIG at your cluster's kubeconfig or create ~/.kube/config"
        )
    # One retry for a blip; a cluster that is down should be reported in seconds.
    configuration.retries = 1
    return Kube(client.ApiClient(configuration), target)


def _service_account_namespace() -> str:
    try:
        return Path(_SA_NAMESPACE_FILE).read_text().strip() or "default"
    except OSError:
        return "default"


class Connector:
    """Connects on first use, so `init` and input checks work without any cluster."""

    def __init__(self, context: str | None, namespace: str | None) -> None:
        self.context = context
        self.namespace = namespace
        self._kube: Kube | None = None

    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = load(self.context, self.namespace)
        return self._kube

    @property
    def target(self) -> Target | None:
        return self._kube.target if self._kube else None


def _read_json(response: Any) -> Any:
    try:
        return json.loads(response.data or b"null")
    finally:
        response.release_conn()


class Kube:
    """The handful of API calls the CLI makes, all in one namespace."""

    def __init__(self, api: client.ApiClient, target: Target) -> None:
        self.api = api
        self.target = target
        self.namespace = target.namespace
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.networking = client.NetworkingV1Api(api)

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        return _read_json(method(*args, _preload_content=False, **kwargs))

    def _dsvc(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A DaeployService call; a 404 that is not about one object means the CRD is missing."""
        try:
            scope = (API_GROUP, API_VERSION, self.namespace, PLURAL)
            return self._call(method, *scope, *args, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                details = status_body(exc).get("details") or {}
                if not details.get("name"):
                    raise CliError(CRD_MISSING) from None
            raise

    # DaeployService objects -------------------------------------------------------------

    def list_services(self, name: str | None = None) -> list[dict[str, Any]]:
        """All versions (of one name); filtered on spec.name, so kubectl-made objects count."""
        items = self._dsvc(self.custom.list_namespaced_custom_object).get("items") or []
        return [item for item in items if name is None or spec_name(item) == name]

    def get_service(self, object_name: str) -> dict[str, Any] | None:
        try:
            return self._dsvc(self.custom.get_namespaced_custom_object, object_name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def apply_service(
        self, body: dict[str, Any], field_manager: str = CLI_FIELD_MANAGER
    ) -> dict[str, Any]:
        """Server-side apply: create the object or update the fields ``field_manager`` owns.

        Fields this manager applied before and leaves out now are removed; fields other
        managers own stay. ``force`` takes over fields someone else set, as the user asked.
        """
        return self._dsvc(
            self.custom.patch_namespaced_custom_object,
            body["metadata"]["name"],
            body,
            field_manager=field_manager,
            force=True,
            _content_type=APPLY_PATCH,
        )

    def apply_main(self, object_name: str, main: bool) -> dict[str, Any]:
        """Apply ``spec.main`` alone, under its own field manager so no other field moves.

        A deploy's apply leaves spec.main out, so it never drops a claim made here.
        """
        body = {
            "apiVersion": API_GROUP_VERSION,
            "kind": KIND,
            "metadata": {"name": object_name},
            "spec": {"main": main},
        }
        return self.apply_service(body, CLI_MAIN_FIELD_MANAGER)

    def apply_traffic(self, object_name: str, weight: int, shadow: bool) -> dict[str, Any]:
        """Apply ``spec.weight`` and ``spec.shadow`` together under their own field manager.

        Both each time: a field this manager applied before and leaves out would be removed.
        """
        body = {
            "apiVersion": API_GROUP_VERSION,
            "kind": KIND,
            "metadata": {"name": object_name},
            "spec": {"weight": weight, "shadow": shadow},
        }
        return self.apply_service(body, CLI_TRAFFIC_FIELD_MANAGER)

    def delete_service(self, object_name: str) -> None:
        try:
            self._dsvc(self.custom.delete_namespaced_custom_object, object_name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    # The packed folder -------------------------------------------------------------------

    def apply_source(
        self, name: str, data: bytes, owner: dict[str, Any], labels: dict[str, str]
    ) -> None:
        """Apply the source ConfigMap, owned by its DaeployService for cleanup."""
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": API_GROUP_VERSION,
                        "kind": KIND,
                        "name": owner["metadata"]["name"],
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            },
            "binaryData": {SOURCE_ARCHIVE_KEY: base64.b64encode(data).decode("ascii")},
        }
        self._call(
            self.core.patch_namespaced_config_map,
            name,
            self.namespace,
            body,
            field_manager=CLI_FIELD_MANAGER,
            force=True,
            _content_type=APPLY_PATCH,
        )

    def delete_config_map(self, name: str) -> None:
        try:
            self._call(self.core.delete_namespaced_config_map, name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def registry_hosting(self) -> dict[str, str] | None:
        """The cluster's KEP-1755 announcement of its own registry; None when there is none."""
        try:
            found = self._call(
                self.core.read_namespaced_config_map,
                LOCAL_REGISTRY_CONFIG_MAP,
                LOCAL_REGISTRY_NAMESPACE,
            )
        except ApiException as exc:
            if exc.status in (403, 404):
                return None
            raise
        return found.get("data") or {}

    # What the operator made --------------------------------------------------------------

    def list_pods(self, label_selector: str) -> list[dict[str, Any]]:
        result = self._call(
            self.core.list_namespaced_pod, self.namespace, label_selector=label_selector
        )
        return result.get("items") or []

    def pod_log(
        self,
        pod: str,
        container: str,
        tail: int | None = None,
        previous: bool = False,
        since_time: datetime | None = None,
    ) -> str:
        response = self._open_pod_log(
            pod,
            container,
            tail=tail,
            previous=previous,
            since_time=since_time,
            timeout=REQUEST_TIMEOUT,
        )
        try:
            return response.data.decode("utf-8", errors="replace")
        finally:
            response.release_conn()

    def follow_pod_log(
        self, pod: str, container: str, tail: int | None, since_time: datetime | None = None
    ) -> Iterator[bytes]:
        response = self._open_pod_log(
            pod,
            container,
            tail=tail,
            since_time=since_time,
            follow=True,
            # No timeout: a quiet service may print nothing for hours; the pod list just
            # fetched shows the cluster is reachable.
            timeout=None,
        )
        try:
            yield from response.stream(4096, decode_content=True)
        finally:
            response.release_conn()

    def _open_pod_log(
        self,
        pod: str,
        container: str,
        *,
        tail: int | None,
        since_time: datetime | None,
        previous: bool = False,
        follow: bool = False,
        timeout: Any = None,
    ) -> Any:
        """GET the pod's log, its body unread (a urllib3 response).

        Built here rather than by ``read_namespaced_pod_log``: the generated client has no
        ``sinceTime`` (PodLogOptions has). A ``since_time`` without a time zone is UTC.
        """
        query: list[tuple[str, Any]] = [("container", container)]
        if follow:
            query.append(("follow", True))
        if previous:
            query.append(("previous", True))
        if tail is not None:
            query.append(("tailLines", tail))
        if since_time is not None:
            zoned = since_time if since_time.tzinfo else since_time.replace(tzinfo=UTC)
            utc = zoned.astimezone(UTC)
            query.append(("sinceTime", utc.strftime("%Y-%m-%dT%H:%M:%SZ")))
        method, url, headers, body, post_params = self.api.param_serialize(
            method="GET",
            resource_path="/api/v1/namespaces/{namespace}/pods/{name}/log",
            path_params={"namespace": self.namespace, "name": pod},
            query_params=query,
            # What the generated client asks for: the server refuses text/plain here, yet
            # the log comes back as plain text.
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(
            method, url, headers, body, post_params, _request_timeout=timeout
        )
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    def list_events(self, field_selector: str) -> list[dict[str, Any]]:
        result = self._call(
            self.core.list_namespaced_event, self.namespace, field_selector=field_selector
        )
        return result.get("items") or []

    # Where the services are reachable ------------------------------------------------------

    def active_host(self) -> str:
        """The ingress URL services are published under if we can tell, else the API server."""
        try:
            for item in self.list_services():
                url = str((item.get("status") or {}).get("url") or "")
                parts = urlsplit(url)
                if parts.scheme and parts.hostname and not parts.hostname.endswith(".local"):
                    return f"{parts.scheme}://{parts.netloc}"
            selector = f"{MANAGED_BY_LABEL}={MANAGED_BY_OPERATOR}"
            ingresses = self._call(
                self.networking.list_namespaced_ingress, self.namespace, label_selector=selector
            )
            host = _ingress_host(ingresses.get("items") or [])
            if host is None:
                everywhere = self._call(
                    self.networking.list_ingress_for_all_namespaces, label_selector=selector
                )
                host = _ingress_host(everywhere.get("items") or [])
        except ApiException as exc:
            if exc.status not in (403, 404):
                raise
            host = None
        return host or self.target.server


def _ingress_host(ingresses: list[dict[str, Any]]) -> str | None:
    for ingress in ingresses:
        scheme = "https" if (ingress.get("spec") or {}).get("tls") else "http"
        balancer = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        for entry in balancer:
            address = entry.get("hostname") or entry.get("ip")
            if address:
                return f"{scheme}://{address}"
    return None
