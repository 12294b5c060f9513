"""The SSE streams' framing and filtering, fed by async sources (no server needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from daeploy_dashboard import streams
from daeploy_dashboard.userkube import Refused


async def _never() -> bool:
    return False


async def _lines(*items: str, pause: float = 0.0) -> AsyncIterator[str]:
    for item in items:
        await asyncio.sleep(pause)
        yield item


async def _collect(source: AsyncIterator[str]) -> list[str]:
    return [item async for item in source]


def test_sse_frames_each_line_of_data() -> None:
    assert streams.sse("update", "<p>a</p>\n<p>b</p>") == (
        "event: update\ndata: <p>a</p>\ndata: <p>b</p>\n\n"
    )


def test_log_events_send_matching_lines_escaped() -> None:
    source = _lines("GET /roll_die 200", "POST /play <b>200</b>", "boot")
    sent = asyncio.run(_collect(streams.log_events(source, "PLAY", _never)))
    assert sent[0] == ": open\n\n"
    assert sent[1:] == [
        'event: line\ndata: <div class="logline">POST /play &lt;b&gt;200&lt;/b&gt;</div>\n\n'
    ]


def test_a_quiet_log_gets_keep_alives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "HEARTBEAT_SECONDS", 0.05)
    source = _lines("late", pause=0.3)
    sent = asyncio.run(_collect(streams.log_events(source, "", _never)))
    assert ": keep-alive\n\n" in sent
    assert sent[-1] == 'event: line\ndata: <div class="logline">late</div>\n\n'


def test_a_refused_log_is_said_once() -> None:
    async def refusing() -> AsyncIterator[str]:
        raise Refused(403, 'pods "x" is forbidden')
        yield ""  # pragma: no cover

    sent = asyncio.run(_collect(streams.log_events(refusing(), "", _never)))
    assert sent[-1] == "event: problem\ndata: 403: pods &quot;x&quot; is forbidden\n\n"


def test_changes_send_only_what_changed_and_stop_on_refusal() -> None:
    answers = iter([(1, "<a>"), (1, "<a>"), (2, "<b>")])

    async def render() -> tuple[int, str]:
        try:
            return next(answers)
        except StopIteration:
            raise Refused(401, "expired") from None

    sent = asyncio.run(_collect(streams.changes(render, _never, poll=0.0)))
    assert sent == [
        ": open\n\n",
        "event: update\ndata: <a>\n\n",
        "event: update\ndata: <b>\n\n",
        "event: problem\ndata: 401: expired\n\n",
    ]
