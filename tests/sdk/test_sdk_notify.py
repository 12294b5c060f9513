"""notify: logs outside the cluster; Kubernetes Events (count bumped on repeats) inside."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from sdk_fake_kube import FakeEventsAPI
from sdk_support import free_port

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
from daeploy.notifications import Notifier, event_name, notifier_from_config, set_notifier

TARGET = {
    "namespace": "games",
    "resource_name": "yatzee-v1-0-0-7e6ea3f8",
    "resource_uid": "0b0c3f44-5f5e-4a4e-9b36-2f0d6c7d7e10",
    "service_name": "yatzee",
    "service_version": "1.0.0",
}


@pytest.fixture
def api() -> Iterator[FakeEventsAPI]:
    server = FakeEventsAPI()
    yield server
    server.close()


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


def test_events_are_created_and_counted(api: FakeEventsAPI) -> None:
    notifier = notifier_from_config(api.url, api.token, verify=False, **TARGET)
    try:
        for _ in range(3):
            notifier.notify("YATZEE!!!", Severity.INFO, emails=["a@example.com", "b@example.com"])
        notifier.notify("YATZEE!!!", Severity.CRITICAL)
        assert notifier.flush(10)
    finally:
        notifier.close()
    name = event_name(TARGET["resource_name"], "YATZEE!!!", Severity.INFO)
    event = api.events[("games", name)]
    assert event["count"] == 3
    assert event["reason"] == EVENT_REASON
    assert event["type"] == "Normal"
    assert event["message"] == "YATZEE!!!"
    assert event["involvedObject"] == {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "name": TARGET["resource_name"],
        "uid": TARGET["resource_uid"],
        "namespace": "games",
    }
    assert event["metadata"]["annotations"] == {
        SEVERITY_ANNOTATION: "INFO",
        SERVICE_LABEL: "yatzee",
        VERSION_LABEL: "1.0.0",
        EMAILS_ANNOTATION: "a@example.com,b@example.com",
    }
    critical = api.events[
        ("games", event_name(TARGET["resource_name"], "YATZEE!!!", Severity.CRITICAL))
    ]
    assert critical["type"] == "Warning"
    assert critical["count"] == 1
    assert len(api.events) == 2


def test_an_event_from_an_earlier_process_is_bumped(api: FakeEventsAPI) -> None:
    first = notifier_from_config(api.url, api.token, verify=False, **TARGET)
    first.notify("restarted", Severity.WARNING)
    assert first.flush(10)
    first.close()
    name = event_name(TARGET["resource_name"], "restarted", Severity.WARNING)
    api.events[("games", name)]["count"] = 7  # as if sent 7 times before

    second = notifier_from_config(api.url, api.token, verify=False, **TARGET)
    second.notify("restarted", Severity.WARNING)
    second.notify("restarted", Severity.WARNING)
    assert second.flush(10)
    second.close()
    assert api.events[("games", name)]["count"] == 9
    assert api.events[("games", name)]["type"] == "Warning"


def test_two_replicas_do_not_lose_counts(api: FakeEventsAPI) -> None:
    replicas = [notifier_from_config(api.url, api.token, verify=False, **TARGET) for _ in range(2)]
    for _ in range(5):
        for replica in replicas:
            replica.notify("tick", Severity.INFO)
    for replica in replicas:
        assert replica.flush(10)
        replica.close()
    assert (
        api.events[("games", event_name(TARGET["resource_name"], "tick", Severity.INFO))]["count"]
        == 10
    )


def test_refused_token_is_logged_not_raised(
    api: FakeEventsAPI, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = notifier_from_config(api.url, "wrong", verify=False, **TARGET)
    assert notifier.notify("hello", Severity.INFO) is True
    assert notifier.flush(10)
    notifier.close()
    assert not api.events
    assert any("answered 401" in r.getMessage() for r in caplog.records)


def test_unreachable_api_never_blocks_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    notifier = notifier_from_config(
        f"http://127.0.0.1:{free_port()}", "token", verify=False, **TARGET
    )
    notifier.notify("nobody listens", Severity.CRITICAL)
    assert notifier.flush(10)
    notifier.close()
    assert any("not recorded as an Event" in r.getMessage() for r in caplog.records)


def test_hanging_api_does_not_hold_up_notify(api: FakeEventsAPI) -> None:
    api.hang = True
    notifier = notifier_from_config(api.url, api.token, verify=False, timeout=0.5, **TARGET)
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
