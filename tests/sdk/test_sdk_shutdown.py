"""Graceful SIGTERM on a real process: not ready at once, requests in flight still finish."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
from sdk_support import APPS, RunningService, Starter

from daeploy.contract import GRACEFUL_TIMEOUT_ENV, LIVE_PATH, READY_PATH, SHUTDOWN_DELAY_ENV


def start_slow_request(
    service: RunningService, seconds: float, marker: Path
) -> tuple[threading.Thread, list[httpx.Response | Exception]]:
    outcome: list[httpx.Response | Exception] = []

    def request() -> None:
        try:
            outcome.append(httpx.post(service.url + "/slow", json={"seconds": seconds}, timeout=30))
        except Exception as error:
            outcome.append(error)

    thread = threading.Thread(target=request)
    thread.start()
    deadline = time.monotonic() + 10
    while not marker.exists():  # the entrypoint writes it once it runs
        assert time.monotonic() < deadline, service.log()
        time.sleep(0.02)
    return thread, outcome


def test_sigterm_turns_not_ready_and_finishes_requests_in_flight(
    start_service: Starter, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    service = start_service(
        APPS / "slow_service.py",
        env={"SLOW_MARKER": str(marker), SHUTDOWN_DELAY_ENV: "4"},
    )
    thread, outcome = start_slow_request(service, 3.0, marker)
    service.process.send_signal(signal.SIGTERM)

    # During the drain delay the pod still serves, but tells Kubernetes it is not ready.
    deadline = time.monotonic() + 5
    while True:
        ready = httpx.get(service.url + READY_PATH, timeout=5)
        if ready.status_code == 503:
            break
        assert time.monotonic() < deadline, "readiness stayed true after SIGTERM"
        time.sleep(0.05)
    assert ready.json() == {"status": "not ready"}
    assert httpx.get(service.url + LIVE_PATH, timeout=5).status_code == 200

    thread.join(30)
    [response] = outcome
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200
    assert response.json() == 3.0
    assert service.process.wait(20) == 0, service.log()


def test_sigterm_without_delay_still_finishes_requests_in_flight(
    start_service: Starter, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    service = start_service(APPS / "slow_service.py", env={"SLOW_MARKER": str(marker)})
    thread, outcome = start_slow_request(service, 1.5, marker)
    service.process.send_signal(signal.SIGTERM)
    thread.join(30)
    [response] = outcome
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200
    assert service.process.wait(20) == 0, service.log()
    assert "Waiting for connections to close" in service.log()


def test_graceful_timeout_bounds_the_wait(start_service: Starter, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    service = start_service(
        APPS / "slow_service.py",
        env={"SLOW_MARKER": str(marker), GRACEFUL_TIMEOUT_ENV: "1"},
    )
    thread, outcome = start_slow_request(service, 60.0, marker)
    service.process.send_signal(signal.SIGTERM)
    # Exits long before the 60 s request would end, with status 1: a request was cut off.
    assert service.process.wait(20) == 1, service.log()
    assert "abandoning 1 call(s) still running" in service.log()
    thread.join(30)
    [result] = outcome
    assert isinstance(result, Exception | httpx.Response)
    if isinstance(result, httpx.Response):
        assert result.status_code >= 500
