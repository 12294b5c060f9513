"""Posting Events: best effort, since a lost Event must never stop a reconcile."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from .api import ApiError
from .resources.event import build_event
from .status import Event

logger = logging.getLogger(__name__)


class Creator(Protocol):
    def create(self, manifest: Mapping[str, Any]) -> dict[str, Any]: ...


class EventPoster:
    def __init__(
        self,
        api: Creator,
        instance: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api
        self._instance = instance
        self._clock = clock

    def __call__(self, reference: Mapping[str, Any], event: Event) -> None:
        try:
            self._api.create(build_event(reference, event, self._clock(), self._instance))
        except ApiError as error:
            logger.warning(
                "could not post Event %s on %s: %s",
                event.reason,
                reference["metadata"]["name"],
                error,
            )
