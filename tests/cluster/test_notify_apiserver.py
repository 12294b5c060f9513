"""notify() against the real kube-apiserver, with the token of the ServiceAccount the operator
gives each namespace (issue 3): Events land on the DaeployService, repeats raise the count, and
an unreachable API never breaks the caller."""

from __future__ import annotations

import json
import uuid

import pytest

from daeploy.contract import (
    EVENT_REASON,
    KIND,
    SERVICE_LABEL,
    SEVERITY_ANNOTATION,
    VERSION_LABEL,
)
from daeploy.names import service_account_name
from daeploy.notifications import Severity, notifier_from_config
from daeploy_operator.resources import rbac

pytestmark = pytest.mark.cluster

SERVICE = "yatzee"  # whose pods' account posts the Events


@pytest.fixture(scope="module")
def events_namespace(cluster):
    ns = f"notify-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", ns)
    objects = [
        rbac.build_service_account(SERVICE, ns, []),
        rbac.build_events_role(ns, []),
        rbac.build_events_role_binding(ns, []),
    ]
    objects[-1]["subjects"] = [
        {"kind": "ServiceAccount", "name": service_account_name(SERVICE), "namespace": ns}
    ]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                        "items": objects}))  # fmt: skip
    token = cluster.kubectl(
        "-n", ns, "create", "token", service_account_name(SERVICE)
    ).stdout.strip()
    yield ns, token
    cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _notifier(cluster, ns: str, token: str, api_url: str | None = None):
    return notifier_from_config(
        api_url or cluster.layout.net.api_url,
        token,
        str(cluster.layout.pki / "ca.crt"),
        namespace=ns,
        resource_name="yatzee-v1-0-0-7e6ea3f8",
        resource_uid=str(uuid.uuid4()),
        service_name="yatzee",
        service_version="1.0.0",
        timeout=3,
    )


def _events(cluster, ns: str) -> list[dict]:
    out = cluster.kubectl("-n", ns, "get", "events", "-o", "json").stdout
    return [e for e in json.loads(out)["items"] if e.get("reason") == EVENT_REASON]


def test_repeats_raise_the_count_and_severity_sets_the_type(cluster, events_namespace):
    ns, token = events_namespace
    notifier = _notifier(cluster, ns, token)
    try:
        for _ in range(3):
            notifier.notify("YATZEE!!!", Severity.INFO)
            assert notifier.flush(10)
        notifier.notify("die_roller is slow", Severity.CRITICAL)
        assert notifier.flush(10)
    finally:
        notifier.close()
    events = {e["message"]: e for e in _events(cluster, ns)}
    yatzee = events["YATZEE!!!"]
    assert yatzee["count"] == 3
    assert yatzee["type"] == "Normal"
    assert yatzee["involvedObject"]["kind"] == KIND
    assert yatzee["involvedObject"]["name"] == "yatzee-v1-0-0-7e6ea3f8"
    assert yatzee["metadata"]["annotations"][SEVERITY_ANNOTATION] == "INFO"
    assert yatzee["metadata"]["annotations"][SERVICE_LABEL] == "yatzee"
    assert yatzee["metadata"]["annotations"][VERSION_LABEL] == "1.0.0"
    critical = events["die_roller is slow"]
    assert critical["type"] == "Warning"
    assert critical["metadata"]["annotations"][SEVERITY_ANNOTATION] == "CRITICAL"


def test_the_service_token_can_post_events_but_not_read_secrets(cluster, events_namespace):
    ns, _ = events_namespace
    who = f"system:serviceaccount:{ns}:{service_account_name(SERVICE)}"
    for verb, resource, allowed in (
        ("create", "events", "yes"),
        ("patch", "events", "yes"),
        ("get", "secrets", "no"),
        ("list", "pods", "no"),
        ("create", "deployments", "no"),
    ):
        proc = cluster.kubectl("auth", "can-i", verb, resource, "-n", ns, "--as", who, check=False)
        assert proc.stdout.strip() == allowed, (verb, resource, proc.stdout, proc.stderr)


def test_an_unreachable_api_never_blocks_the_caller(cluster, events_namespace):
    ns, token = events_namespace
    notifier = _notifier(cluster, ns, token, api_url="https://127.0.0.1:9")  # closed port
    try:
        # Queued for the background sender: the caller gets no exception.
        assert notifier.notify("nobody hears this", Severity.WARNING) is True
        assert notifier.flush(10)
    finally:
        notifier.close()
    assert "nobody hears this" not in {e["message"] for e in _events(cluster, ns)}
