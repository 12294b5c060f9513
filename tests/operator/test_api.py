"""The operator's API door against a real kube-apiserver (envtest): applies, reads, errors.

What the server records (managedFields, a field taken back from another manager, a 422 with its
message) says more than a recording of the requests we sent. Only the unreachable server is
made up here: a closed port on 127.0.0.1.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from envtest import EnvTest
from kubernetes import client

from daeploy.contract import API_GROUP_VERSION, FIELD_MANAGER, KIND
from daeploy.names import version_object_name
from daeploy_operator.api import ApiError, ApiServer
from daeploy_operator.kinds import resource_path

MERGE_PATCH = "application/merge-patch+json"


def _service(namespace: str, name: str = "die-roller", port: int = 80) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"a": "1", "b": "2"}},
        "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": port}]},
    }


def _managers(obj: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (e["manager"], e["operation"], e.get("subresource", ""))
        for e in obj["metadata"].get("managedFields") or []
    }


def test_apply_is_a_forced_server_side_apply_by_one_field_manager(
    envtest: EnvTest, envtest_namespace: str
) -> None:
    api, ns = envtest.api, envtest_namespace
    created = api.apply(_service(ns))
    assert _managers(created) == {(FIELD_MANAGER, "Apply", "")}
    # Someone else takes a field we own; our next apply takes it back instead of failing (409).
    path = resource_path("v1", "Service", ns, "die-roller")
    api.request(
        "PATCH", path, body={"spec": {"selector": {"app": "taken"}}}, content_type=MERGE_PATCH
    )
    restored = api.apply(_service(ns))
    assert restored["spec"]["selector"] == {"app": "x"}
    # An apply that changes nothing writes nothing.
    again = api.apply(_service(ns))
    assert again["metadata"]["resourceVersion"] == restored["metadata"]["resourceVersion"]


def test_apply_status_writes_only_the_status(envtest: EnvTest, envtest_namespace: str) -> None:
    api, ns = envtest.api, envtest_namespace
    name = version_object_name("die_roller", "1.0.0")
    spec = {"name": "die_roller", "version": "1.0.0", "image": "localhost/die-roller:1.0.0"}
    manifest = {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }
    created = api.request("POST", resource_path(API_GROUP_VERSION, KIND, ns), body=manifest)
    assert created is not None
    reference = {k: created[k] for k in ("apiVersion", "kind", "metadata")}
    answer = api.apply_status(reference, {"phase": "running"})
    assert answer["status"] == {"phase": "running"}
    assert answer["metadata"]["generation"] == created["metadata"]["generation"]
    assert (FIELD_MANAGER, "Apply", "status") in _managers(answer)
    # The whole status is ours: a field left out of the next apply is removed.
    assert "phase" not in api.apply_status(reference, {"observedGeneration": 1})["status"]


def test_reads(envtest: EnvTest, envtest_namespaces: Any) -> None:
    api = envtest.api
    ns, other = envtest_namespaces("reads"), envtest_namespaces("reads")
    api.apply(_service(ns))
    api.apply({**_service(ns, "unlabelled"), "metadata": {"name": "unlabelled", "namespace": ns}})
    api.apply(_service(other))
    [service] = api.list("v1", "Service", ns, {"b": "2", "a": "1"})
    assert (service["apiVersion"], service["kind"]) == ("v1", "Service")
    assert service["metadata"]["name"] == "die-roller"
    across = {
        (s["metadata"]["namespace"], s["metadata"]["name"])
        for s in api.list("v1", "Service", None, {"a": "1"})
    }
    assert {(ns, "die-roller"), (other, "die-roller")} <= across
    namespace = api.get("v1", "Namespace", None, ns)
    assert namespace is not None and namespace["metadata"]["name"] == ns
    assert api.get("v1", "Service", ns, "missing") is None
    assert api.delete("networking.k8s.io/v1", "Ingress", ns, "gone") is False
    assert api.delete("v1", "Service", ns, "die-roller") is True


def test_create_posts_to_the_collection(envtest: EnvTest, envtest_namespace: str) -> None:
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "x.", "namespace": envtest_namespace},
        "involvedObject": {"kind": "Service", "name": "x", "namespace": envtest_namespace},
        "reason": "Test",
        "message": "hello",
        "type": "Normal",
    }
    created = envtest.api.create(event)
    assert created["metadata"]["name"].startswith("x.")
    assert created["message"] == "hello"


def test_refusals_carry_the_api_servers_message(envtest: EnvTest, envtest_namespace: str) -> None:
    with pytest.raises(ApiError, match=r"spec\.ports\[0\]\.port") as caught:
        envtest.api.apply(_service(envtest_namespace, port=0))
    assert caught.value.status == 422


def test_unreachable_api_server_is_an_api_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    configuration.retries = False
    api = ApiServer(client.ApiClient(configuration))
    with pytest.raises(ApiError) as caught:
        api.get("v1", "Service", "demo", "x")
    assert caught.value.status == 0
