"""core/v1 Events the operator posts on a DaeployService, so `kubectl describe` tells its story.

Built here rather than through kopf so that every path that reconciles (handlers, child events,
the resync loop) reports the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from daeploy.contract import OPERATOR_NAME

from .. import timestamps
from ..status import Event

MAX_EVENT_MESSAGE = 1024


def build_event(
    reference: Mapping[str, Any], event: Event, now: datetime, instance: str
) -> dict[str, Any]:
    """An Event about ``reference``; ``instance`` names the operator pod that saw it."""
    metadata = reference["metadata"]
    when = timestamps.to_seconds(now)
    message = event.message
    if len(message) > MAX_EVENT_MESSAGE:
        message = message[: MAX_EVENT_MESSAGE - 3] + "..."
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
        "involvedObject": {
            "apiVersion": reference["apiVersion"],
            "kind": reference["kind"],
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata.get("uid", ""),
        },
        "type": event.type,
        "reason": event.reason,
        "message": message,
        "source": {"component": OPERATOR_NAME},
        "reportingComponent": OPERATOR_NAME,
        "reportingInstance": instance,
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
    }
