"""The CLI against a real kube-apiserver (envtest), with the real reconciler as its operator.

envtest runs the API server and etcd only. What the rest of a cluster would do, the tests do
here, each piece as small as the tests need:

- ``OperatorLoop`` runs the operator's own ``Reconciler`` in a thread and, standing in for the
  Deployment controller, reports each Deployment available at its generation (unless a test
  says a version's pods never come up);
- ``FakeKubelet`` is a node's kubelet reduced to its container-log endpoint: the real API server
  serves ``pods/<name>/log`` by proxying to the pod's node, and no node runs here;
- ``ErrorServer`` is the one stand-in for the API server itself: it answers every request with
  an HTTP 500, a failure a healthy server cannot be made to produce on demand.

Everything else (404s, 403s, missing namespaces, a CRD that is not served, server-side apply,
managedFields, generations, field selectors) is the real server's own behaviour.
"""

from __future__ import annotations

import json
import secrets
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from envtest import EnvTest
from kubernetes import client, config

from daeploy.contract import (
    API_GROUP_VERSION,
    CRD_NAME,
    INGRESS_HOST_ENV,
    KIND,
    MANAGED_BY_LABEL,
    MANAGED_BY_OPERATOR,
    VERSION_LABEL,
)
from daeploy.names import label_value, version_object_name
from daeploy_operator.api import ApiError, ApiServer
from daeploy_operator.indexes import snapshot
from daeploy_operator.kinds import resource_path
from daeploy_operator.names import version_labels
from daeploy_operator.reconciler import Reconciler
from daeploy_operator.settings import OperatorSettings

Obj = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
INGRESS_HOST = "ingress.example"
CRD_PATH = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"
WAIT_SECONDS = 20.0


def own_api(envtest: EnvTest) -> ApiServer:
    """A client of its own (the operator runs in its own process and has its own pool)."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(envtest.kubeconfig), client_configuration=configuration)
    configuration.proxy = None
    return ApiServer(client.ApiClient(configuration))


def eventually(check: Any, what: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.05)


# --- one namespace, as the CLI sees it -------------------------------------------------------


@dataclass
class ApiNamespace:
    """A fresh namespace on envtest and a kubeconfig whose context points the CLI at it."""

    envtest: EnvTest
    namespace: str
    kubeconfig: Path

    @property
    def api(self) -> ApiServer:
        return self.envtest.api

    @property
    def server(self) -> str:
        return self.envtest.server

    def get(self, object_name: str) -> Obj | None:
        return self.api.get(API_GROUP_VERSION, KIND, self.namespace, object_name)

    def must_get(self, object_name: str) -> Obj:
        obj = self.get(object_name)
        assert obj is not None, f"no {KIND} {object_name} in {self.namespace}"
        return obj

    def services(self) -> list[Obj]:
        return self.api.list(API_GROUP_VERSION, KIND, self.namespace)

    def config_map(self, name: str) -> Obj | None:
        try:
            return self.api.request("GET", f"{self._config_maps}/{name}")
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def config_maps(self) -> list[Obj]:
        return list((self.api.request("GET", self._config_maps) or {}).get("items") or [])

    @property
    def _config_maps(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/configmaps"

    def create(self, name: str, version: str, **spec: Any) -> Obj:
        """A DaeployService made without the CLI, as `kubectl create -f` would: no labels."""
        body = {"name": name, "version": version, "image": f"localhost/{name}:{version}", **spec}
        manifest = {
            "apiVersion": API_GROUP_VERSION,
            "kind": KIND,
            "metadata": {"name": version_object_name(name, version)},
            "spec": body,
        }
        path = resource_path(API_GROUP_VERSION, KIND, self.namespace)
        return self.api.request("POST", path, body=manifest) or {}

    def remove_config_maps(self) -> None:
        """No garbage collector runs: the source ConfigMaps outlive their owners here."""
        for cm in self.config_maps():
            self.api.request("DELETE", f"{self._config_maps}/{cm['metadata']['name']}")


def write_kubeconfig(envtest: EnvTest, path: Path, namespace: str) -> Path:
    """envtest's admin kubeconfig with the namespace in its context, as a user's would have."""
    kubeconfig = json.loads(envtest.kubeconfig.read_text())
    kubeconfig["contexts"][0]["context"]["namespace"] = namespace
    path.write_text(json.dumps(kubeconfig, indent=2))
    return path


def service_account_kubeconfig(envtest: EnvTest, path: Path, namespace: str, name: str) -> Path:
    """A kubeconfig for a ServiceAccount that no Role grants anything: every call is a 403."""
    api = envtest.api
    api.request(
        "POST",
        resource_path("v1", "ServiceAccount", namespace),
        body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
    )
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 600},
    }
    token = api.request(
        "POST",
        resource_path("v1", "ServiceAccount", namespace, name, "token"),
        body=request,
    )
    kubeconfig = json.loads(envtest.kubeconfig.read_text())
    kubeconfig["users"] = [{"name": "admin", "user": {"token": (token or {})["status"]["token"]}}]
    kubeconfig["contexts"][0]["context"]["namespace"] = namespace
    path.write_text(json.dumps(kubeconfig, indent=2))
    return path


@contextmanager
def crd_not_served(api: ApiServer) -> Iterator[None]:
    """The CRD's version stops being served, so its paths answer 404 as if it were not installed.

    Objects stay in etcd; afterwards the version is served again, and waited for.
    """

    def served(value: bool) -> None:
        crd = api.request("GET", CRD_PATH) or {}
        for version in crd["spec"]["versions"]:
            version["served"] = value
        api.request("PUT", CRD_PATH, body=crd)

    def answers() -> bool:
        try:
            api.list(API_GROUP_VERSION, KIND, "default")
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    served(False)
    try:
        eventually(lambda: not answers(), f"{CRD_NAME} no longer served")
        yield
    finally:
        served(True)
        eventually(answers, f"{CRD_NAME} served again")


# --- the operator ------------------------------------------------------------------------------


class OperatorLoop:
    """The real reconciler over one namespace, every ``interval`` seconds, in a thread.

    Standing in for the Deployment controller too, each round first reports every Deployment
    of the namespace available at its current generation, except those of the versions in
    ``unavailable`` (their pods never come up).
    """

    def __init__(self, envtest: EnvTest, namespace: str, env: dict[str, str] | None = None) -> None:
        self.api = own_api(envtest)
        self.namespace = namespace
        settings = OperatorSettings.from_env({INGRESS_HOST_ENV: INGRESS_HOST, **(env or {})})
        self.reconciler = Reconciler(self.api, lambda: snapshot(self.api, [namespace]), settings)
        self.unavailable: set[str] = set()
        self.errors: list[BaseException] = []
        self.interval = 0.2
        self._rounds = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="operator-loop", daemon=True)

    def start(self) -> OperatorLoop:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def settle(self, rounds: int = 2) -> None:
        """Until ``rounds`` more full rounds have run, so what the CLI wrote is reconciled."""
        with self._changed:
            target = self._rounds + rounds
            if not self._changed.wait_for(lambda: self._rounds >= target, WAIT_SECONDS):
                raise AssertionError(f"the operator loop is stuck: {self.errors[-3:]}")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.round()
            except Exception as error:
                self.errors.append(error)
            with self._changed:
                self._rounds += 1
                self._changed.notify_all()
            self._stop.wait(self.interval)

    def round(self) -> None:
        self._report_deployments()
        for namespace, name in snapshot(self.api, [self.namespace]).names():
            try:
                self.reconciler.reconcile(namespace, name)
            except ApiError as error:
                # The operator retries; an object deleted under a reconcile (kill) ends here.
                self.errors.append(error)

    def _report_deployments(self) -> None:
        hidden = {label_value(version) for version in self.unavailable}
        for deployment in self.api.list("apps/v1", "Deployment", self.namespace):
            metadata = deployment["metadata"]
            if (metadata.get("labels") or {}).get(VERSION_LABEL) in hidden:
                continue
            replicas = int((deployment.get("spec") or {}).get("replicas", 1))
            status = {
                "observedGeneration": metadata["generation"],
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
            }
            current = deployment.get("status") or {}
            if all(current.get(key, 0) == value for key, value in status.items()):
                continue
            path = resource_path("apps/v1", "Deployment", self.namespace, metadata["name"])
            self.api.request(
                "PATCH", f"{path}/status", body={"status": status}, content_type=MERGE_PATCH
            )


# --- the node's log endpoint -------------------------------------------------------------------


@dataclass
class FakeKubelet:
    """A node whose kubelet only serves container logs, from texts a test sets.

    The Node object says where its kubelet listens; the real API server validates the log
    request (pod, container, options) and proxies it there. Without a certificate authority for
    kubelets configured, the API server does not verify the kubelet's serving certificate.
    """

    api: ApiServer
    workdir: Path
    node: str = field(default_factory=lambda: f"fake-node-{secrets.token_hex(4)}")
    logs: dict[tuple[str, str, str], str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    pods: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FakeKubelet:
        cert, key = self.workdir / "kubelet.crt", self.workdir / "kubelet.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
             "-subj", "/CN=fake-kubelet", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _kubelet_handler(self))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        address = {"type": "InternalIP", "address": "127.0.0.1"}
        endpoint = {"kubeletEndpoint": {"Port": self._server.server_address[1]}}
        self.api.request(
            "POST",
            "/api/v1/nodes",
            body={
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": self.node},
                "status": {"addresses": [address], "daemonEndpoints": endpoint},
            },
        )
        return self

    def stop(self) -> None:
        try:
            self.api.request("DELETE", f"/api/v1/nodes/{self.node}")
        finally:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()

    def pod(
        self,
        namespace: str,
        pod: str,
        name: str,
        version: str,
        log: str = "",
        status: Obj | None = None,
    ) -> Obj:
        """A pod of a version as its Deployment would make it, running on this node."""
        self._ensure_default_service_account(namespace)
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod,
                "labels": {
                    **version_labels(name, version),
                    MANAGED_BY_LABEL: MANAGED_BY_OPERATOR,
                },
            },
            "spec": {
                "nodeName": self.node,
                "automountServiceAccountToken": False,
                "containers": [{"name": "service", "image": "localhost/runtime:1"}],
            },
        }
        created = self.api.request("POST", resource_path("v1", "Pod", namespace), body=body) or {}
        self.pods.append((namespace, pod))
        if status is not None:
            path = resource_path("v1", "Pod", namespace, pod, "status")
            created = (
                self.api.request("PATCH", path, body={"status": status}, content_type=MERGE_PATCH)
                or {}
            )
        self.logs[(namespace, pod, "service")] = log
        return created

    def forget(self) -> None:
        """Remove the pods made here, at once: no kubelet will confirm a graceful deletion."""
        for namespace, pod in self.pods:
            try:
                self.api.request(
                    "DELETE",
                    resource_path("v1", "Pod", namespace, pod),
                    query={"gracePeriodSeconds": "0"},
                )
            except ApiError as error:
                if error.status != 404:
                    raise
        self.pods.clear()
        self.logs.clear()
        self.requests.clear()

    def _ensure_default_service_account(self, namespace: str) -> None:
        """What the controller-manager's ServiceAccount controller would have made."""
        if self.api.get("v1", "ServiceAccount", namespace, "default") is None:
            body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
            self.api.request("POST", resource_path("v1", "ServiceAccount", namespace), body=body)


def _kubelet_handler(kubelet: FakeKubelet) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            kubelet.requests.append(self.path)
            segments = parts.path.strip("/").split("/")
            if len(segments) != 4 or segments[0] != "containerLogs":
                self._answer(404, b"not a container log\n")
                return
            text = kubelet.logs.get((segments[1], segments[2], segments[3]))
            if text is None:
                self._answer(404, b"no such container\n")
                return
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            lines = text.splitlines(keepends=True)
            if "tailLines" in query:
                count = int(query["tailLines"])
                lines = lines[len(lines) - count :] if count else []
            self._answer(200, "".join(lines).encode())

        def _answer(self, code: int, data: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# --- the one API server stand-in -----------------------------------------------------------------


class ErrorServer:
    """Answers every request with HTTP 500 and the Status an overloaded etcd makes the API server
    send: the one failure of the API server itself that a healthy one cannot be made to show."""

    MESSAGE = "etcdserver: request timed out"

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _error_handler(self.MESSAGE))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _error_handler(message: str) -> type[BaseHTTPRequestHandler]:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }
    data = json.dumps(status).encode()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
