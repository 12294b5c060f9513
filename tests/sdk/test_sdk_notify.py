"""notify: logs outside the cluster; Kubernetes Events (count bumped on repeats) inside.

Inside the cluster, the SDK talks to envtest's real kube-apiserver (tests/envtest.py) exactly as in
a service's pod: the operator's own ServiceAccount, events Role and RoleBinding for the namespace
(so only create, update and patch on events are allowed, no get), a token from the TokenRequest
API and envtest's CA in the files the SDK reads from the mounted service account folder, and the
environment variables of the operator's Deployment plus Kubernetes' KUBERNETES_SERVICE_HOST/PORT.
Conflicts, AlreadyExists and 401s are the server's own.

One stand-in remains, in test_hanging_api_does_not_hold_up_notify: a listening socket that never
answers, because a healthy API server cannot be made to hang.
"""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from envtest import EnvTest
from sdk_support import free_port

from daeploy import pod_api
from daeploy.communication import Severity, notify
from daeploy.contract import (
    API_GROUP_VERSION,
    EMAILS_ANNOTATION,
    EVENT_REASON,
    KIND,
    SERVICE_LABEL,
    SEVERITY_ANNOTATION,
    VERSION_LABEL,
)
from daeploy.names import service_account_name, version_object_name
from daeploy.notifications import (
    Notifier,
    default_notifier,
    event_name,
    notifier_from_config,
    notifier_from_env,
    set_notifier,
)
from daeploy_operator.api import ApiServer
from daeploy_operator.kinds import resource_path
from daeploy_operator.resources.deployment import build_version_deployment
from daeploy_operator.resources.rbac import (
    build_events_role,
    build_events_role_binding,
    build_service_account,
)
from daeploy_operator.spec import ServiceVersion

SERVICE = "yatzee"
VERSION = "1.0.0"
TOKEN_SECONDS = 3600  # what the kubelet asks for a projected service account token
RBAC_PROPAGATION_TIMEOUT = 10.0
SELF_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Pod:
    """A service's pod as the SDK in it sees the cluster, and the admin's view of its Events."""

    admin: ApiServer
    namespace: str
    resource_name: str
    resource_uid: str
    token_file: Path

    def events(self) -> dict[str, dict[str, Any]]:
        return {e["metadata"]["name"]: e for e in self.admin.list("v1", "Event", self.namespace)}

    def event(self, msg: str, severity: Severity) -> dict[str, Any]:
        return self.events()[event_name(self.resource_name, msg, severity)]


def _ca_file(envtest: EnvTest) -> Path:
    kubeconfig = yaml.safe_load(envtest.kubeconfig.read_text())
    return Path(kubeconfig["clusters"][0]["cluster"]["certificate-authority"])


def _allowed(envtest: EnvTest, token: str, namespace: str, verb: str) -> bool:
    """Asked with the pod's own token, as the SDK's requests are."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {"namespace": namespace, "verb": verb, "resource": "events"}
        },
    }
    verify = ssl.create_default_context(cafile=str(_ca_file(envtest)))
    headers = {"authorization": f"Bearer {token}"}
    answer = httpx.post(
        envtest.server + SELF_ACCESS_REVIEWS, json=review, headers=headers, verify=verify
    )
    answer.raise_for_status()
    return bool(answer.json()["status"].get("allowed"))


@pytest.fixture
def pod(
    envtest: EnvTest, envtest_namespace: str, sdk_env: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Pod]:
    """The service's DaeployService and what the operator gives its pods, on envtest."""
    admin, ns = envtest.api, envtest_namespace
    dsvc = {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "metadata": {"name": version_object_name(SERVICE, VERSION), "namespace": ns},
        "spec": {"name": SERVICE, "version": VERSION, "image": f"localhost/{SERVICE}:{VERSION}"},
    }
    created = admin.request("POST", resource_path(API_GROUP_VERSION, KIND, ns), body=dsvc)
    version = ServiceVersion.from_object(created or {})
    admin.create(build_service_account(SERVICE, ns, [version]))
    for build in (build_events_role, build_events_role_binding):
        admin.create(build(ns, [version]))
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": TOKEN_SECONDS},
    }
    path = resource_path("v1", "ServiceAccount", ns, service_account_name(SERVICE), "token")
    token = (admin.request("POST", path, body=request) or {})["status"]["token"]
    # The authorizer learns of the new Role and RoleBinding from a watch.
    deadline = time.monotonic() + RBAC_PROPAGATION_TIMEOUT
    while not _allowed(envtest, token, ns, "create"):
        assert time.monotonic() < deadline, "the events Role was never granted"
        time.sleep(0.05)
    # What makes the bump tests mean something: the SDK cannot read an Event back.
    assert not _allowed(envtest, token, ns, "get")

    # The mounted service account folder, and the environment of the pod.
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(token)
    shutil.copyfile(_ca_file(envtest), account / "ca.crt")
    sdk_env.setattr(pod_api, "SERVICE_ACCOUNT_DIR", account)
    server = urlsplit(envtest.server)
    sdk_env.setenv("KUBERNETES_SERVICE_HOST", str(server.hostname))
    sdk_env.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    deployment = build_version_deployment(version, runtime_image="unused")
    for variable in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        field = variable.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        assert field in (None, "metadata.namespace"), variable
        sdk_env.setenv(variable["name"], ns if field else variable["value"])
    set_notifier(None)
    yield Pod(admin, ns, version.resource_name, version.uid, account / "token")
    default_notifier().close()
    set_notifier(None)


# Only for the tests without an API server to reach.
TARGET = {
    "namespace": "games",
    "resource_name": version_object_name(SERVICE, VERSION),
    "resource_uid": "0b0c3f44-5f5e-4a4e-9b36-2f0d6c7d7e10",
    "service_name": SERVICE,
    "service_version": VERSION,
}


@pytest.fixture
def local_notify(sdk_env: pytest.MonkeyPatch) -> Iterator[None]:
    set_notifier(None)
    yield
    set_notifier(None)


def test_outside_the_cluster_notify_logs(
    local_notify: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="daeploy.notifications")
    assert notify(msg="YATZEE!!!", severity=Severity.INFO) is True
    assert notify(msg="disk almost full", severity="warning", emails=["ops@example.com"]) is True
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.INFO, "notification [INFO] YATZEE!!!") in records
    assert (logging.WARNING, "notification [WARNING] disk almost full") in records


def test_timer_holds_back_repeats(local_notify: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="daeploy.notifications")
    assert notify("over threshold", Severity.CRITICAL, timer=60) is True
    assert notify("over threshold", Severity.CRITICAL, timer=60) is False
    assert notify("over threshold", Severity.WARNING, timer=60) is True  # another notification
    assert notify("over threshold", Severity.CRITICAL) is True  # timer=0: always sent
    sent = [r.getMessage() for r in caplog.records]
    assert sent.count("notification [CRITICAL] over threshold") == 2


def test_bad_arguments_name_the_fix(local_notify: None) -> None:
    with pytest.raises(ValueError, match=r"Severity\.WARNING or Severity\.CRITICAL"):
        notify("x", "loud")
    with pytest.raises(ValueError, match="msg=''"):
        notify("", Severity.INFO)
    with pytest.raises(ValueError, match="timer=-1"):
        notify("x", Severity.INFO, timer=-1)


def test_in_a_pod_notify_creates_and_counts_events(pod: Pod) -> None:
    for _ in range(3):
        notify("YATZEE!!!", Severity.INFO, emails=["a@example.com", "b@example.com"])
    notify("YATZEE!!!", Severity.CRITICAL)
    assert default_notifier().flush(10)

    event = pod.event("YATZEE!!!", Severity.INFO)
    assert event["count"] == 3
    assert event["reason"] == EVENT_REASON
    assert event["type"] == "Normal"
    assert event["message"] == "YATZEE!!!"
    assert event["involvedObject"] == {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "name": pod.resource_name,
        "uid": pod.resource_uid,
        "namespace": pod.namespace,
    }
    assert event["metadata"]["annotations"] == {
        SEVERITY_ANNOTATION: "INFO",
        SERVICE_LABEL: SERVICE,
        VERSION_LABEL: VERSION,
        EMAILS_ANNOTATION: "a@example.com,b@example.com",
    }
    critical = pod.event("YATZEE!!!", Severity.CRITICAL)
    assert critical["type"] == "Warning"
    assert critical["count"] == 1
    assert len(pod.events()) == 2


def test_an_event_from_an_earlier_process_is_bumped(pod: Pod) -> None:
    """The new process gets a real 409 AlreadyExists and reads count through patch answers."""
    first = notifier_from_env()
    first.notify("restarted", Severity.WARNING)
    assert first.flush(10)
    first.close()
    name = event_name(pod.resource_name, "restarted", Severity.WARNING)
    # As if sent 7 times before.
    pod.admin.request(
        "PATCH",
        resource_path("v1", "Event", pod.namespace, name),
        body={"count": 7},
        content_type=MERGE_PATCH,
    )

    second = notifier_from_env()
    second.notify("restarted", Severity.WARNING)
    second.notify("restarted", Severity.WARNING)
    assert second.flush(10)
    second.close()
    event = pod.event("restarted", Severity.WARNING)
    assert event["count"] == 9
    assert event["type"] == "Warning"


def test_two_replicas_do_not_lose_counts(pod: Pod, caplog: pytest.LogCaptureFixture) -> None:
    """Each replica patches count on the resourceVersion it last saw; the server answers 409
    Conflict when the other one wrote in between."""
    replicas = [notifier_from_env() for _ in range(2)]
    try:
        # In turn: the first replica's remembered resourceVersion is stale on its second send,
        # so a count of 3 (not 2) needs the server's Conflict.
        for replica in (replicas[0], replicas[1], replicas[0]):
            replica.notify("tick", Severity.INFO)
            assert replica.flush(10)
        assert pod.event("tick", Severity.INFO)["count"] == 3
        # At once.
        for _ in range(5):
            for replica in replicas:
                replica.notify("tick", Severity.INFO)
        for replica in replicas:
            assert replica.flush(10)
    finally:
        for replica in replicas:
            replica.close()
    assert pod.event("tick", Severity.INFO)["count"] == 13
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_refused_token_is_logged_not_raised(pod: Pod, caplog: pytest.LogCaptureFixture) -> None:
    """A token whose signature the API server does not accept: a real 401."""
    header, claims, signature = pod.token_file.read_text().split(".")
    forged = signature[::-1] if signature[::-1] != signature else signature + "x"
    pod.token_file.write_text(f"{header}.{claims}.{forged}")
    notifier = notifier_from_env()
    assert notifier.notify("hello", Severity.INFO) is True
    assert notifier.flush(10)
    notifier.close()
    assert pod.events() == {}
    assert any("answered 401" in r.getMessage() for r in caplog.records)


def test_unreachable_api_never_blocks_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    notifier = notifier_from_config(
        f"http://127.0.0.1:{free_port()}", "token", verify=False, **TARGET
    )
    notifier.notify("nobody listens", Severity.CRITICAL)
    assert notifier.flush(10)
    notifier.close()
    assert any("not recorded as an Event" in r.getMessage() for r in caplog.records)


@pytest.fixture
def silent_api() -> Iterator[str]:
    """The one stand-in: a port whose connections are accepted (by the kernel's listen backlog)
    but never answered. A healthy API server cannot be made to hang, so no envtest here."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_hanging_api_does_not_hold_up_notify(silent_api: str) -> None:
    notifier = notifier_from_config(silent_api, "token", verify=False, timeout=0.5, **TARGET)
    for index in range(2):
        assert notifier.notify(f"message {index}", Severity.INFO) is True
    # Queued, not sent: the caller got its answer while the API has not answered.
    assert notifier.flush(0.2) is False
    deadline = time.monotonic() + 20
    while not notifier.flush(0.5):
        assert time.monotonic() < deadline
    notifier.close()


def test_log_only_notifier_has_nothing_to_flush() -> None:
    notifier = Notifier()
    assert notifier.notify("just a log line", Severity.INFO)
    assert notifier.flush(0)
