"""Events the operator posts: well-formed core/v1 Events, and a failed post is not fatal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsvc_objects import T0, service_version

from daeploy.contract import API_GROUP_VERSION, KIND, OPERATOR_NAME
from daeploy_operator.api import ApiError
from daeploy_operator.events import EventPoster
from daeploy_operator.resources.event import build_event
from daeploy_operator.status import Event


def test_event_points_at_the_daeploy_service() -> None:
    version = service_version(namespace="demo")
    event = build_event(
        version.reference(), Event("Warning", "ImagePullBackOff", "x" * 5000), T0, "op-1"
    )
    assert event["metadata"] == {"generateName": f"{version.resource_name}.", "namespace": "demo"}
    assert event["involvedObject"] == {
        "apiVersion": API_GROUP_VERSION,
        "kind": KIND,
        "name": version.resource_name,
        "namespace": "demo",
        "uid": version.uid,
    }
    assert (event["type"], event["reason"]) == ("Warning", "ImagePullBackOff")
    assert len(event["message"]) == 1024
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2024-05-01T12:00:00Z"
    assert event["reportingComponent"] == OPERATOR_NAME
    assert event["reportingInstance"] == "op-1"


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.created: list[Mapping[str, Any]] = []
        self.fail = fail

    def create(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise ApiError(403, "events is forbidden")
        self.created.append(manifest)
        return dict(manifest)


def test_poster_creates_events_and_survives_refusals() -> None:
    ok, refusing = Recorder(), Recorder(fail=True)
    reference = service_version().reference()
    EventPoster(ok, "op", clock=lambda: T0)(reference, Event("Normal", "MainVersion", "here"))
    EventPoster(refusing, "op", clock=lambda: T0)(reference, Event("Normal", "MainVersion", "x"))
    assert [e["reason"] for e in ok.created] == ["MainVersion"]
