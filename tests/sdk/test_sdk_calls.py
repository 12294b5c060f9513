"""call_service from this process against real service processes."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import pytest
from sdk_support import RunningService, free_port

from daeploy import calls
from daeploy.communication import (
    ServiceCallError,
    ServiceTimeoutError,
    ServiceUnreachableError,
    async_call_service,
    call_service,
)
from daeploy.contract import (
    CALL_RETRIES_ENV,
    CALL_TIMEOUT_ENV,
    GATEWAY_URL_ENV,
    NAMESPACE_ENV,
    SERVICE_URLS_ENV,
)
from daeploy.identity import ConfigurationError
from daeploy.names import InvalidNameError


@pytest.fixture
def env(sdk_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield sdk_env
    calls.close_sync_client()


def test_call_by_url_map(env: pytest.MonkeyPatch, tutorial: dict[str, RunningService]) -> None:
    env.setenv(SERVICE_URLS_ENV, json.dumps({"die_roller": tutorial["die_roller"].url}))
    rolls = [call_service(service_name="die_roller", entrypoint_name="roll_die") for _ in range(30)]
    assert set(rolls) <= set(range(1, 7))
    assert len(set(rolls)) > 1


def test_call_a_version_by_url_map(
    env: pytest.MonkeyPatch, tutorial: dict[str, RunningService]
) -> None:
    env.setenv(SERVICE_URLS_ENV, json.dumps({"die_roller_1.0.0": tutorial["die_roller"].url}))
    assert call_service("die_roller", "roll_die", service_version="1.0.0") in range(1, 7)
    # Only a versioned entry: the main version is not silently taken from it.
    with pytest.raises(ServiceUnreachableError, match="cannot locate service 'die_roller'"):
        call_service("die_roller", "roll_die")


def test_call_through_gateway_prefix(
    env: pytest.MonkeyPatch, tutorial: dict[str, RunningService]
) -> None:
    # The service answers under /services/<name>[_<version>], as behind the ingress.
    env.setenv(GATEWAY_URL_ENV, tutorial["die_roller"].url + "/")
    assert call_service("die_roller", "roll_die") in range(1, 7)
    assert call_service("die_roller", "roll_die", service_version="1.0.0") in range(1, 7)
    with pytest.raises(ServiceCallError) as error:
        call_service("die_roller", "roll_die", service_version="9.9.9")
    assert error.value.status_code == 404


def test_async_call(env: pytest.MonkeyPatch, tutorial: dict[str, RunningService]) -> None:
    env.setenv(SERVICE_URLS_ENV, json.dumps({"yatzee": tutorial["yatzee"].url}))

    async def play_twice() -> list[list[int]]:
        games = await asyncio.gather(
            async_call_service("yatzee", "play"), async_call_service("yatzee", "play")
        )
        await calls.close_async_client()
        return games

    for dice in asyncio.run(play_twice()):
        assert len(dice) == 5
        assert dice == sorted(dice)


def test_in_cluster_address_is_the_service_dns_name(env: pytest.MonkeyPatch) -> None:
    env.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    env.setenv(NAMESPACE_ENV, "games")
    assert (
        calls.resolve_url("die_roller", "roll_die")
        == "http://die-roller.games.svc.cluster.local/roll_die"
    )
    assert calls.resolve_url("die_roller", "roll_die", "1.0.0") == (
        "http://die-roller-v1-0-0-e1cbb2bb.games.svc.cluster.local/roll_die"
    )
    # An explicit URL map wins over the cluster DNS name.
    env.setenv(SERVICE_URLS_ENV, '{"die_roller": "http://127.0.0.1:1/"}')
    assert calls.resolve_url("die_roller", "roll_die") == "http://127.0.0.1:1/roll_die"


def test_down_callee_gives_a_clear_error(env: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env.setenv(SERVICE_URLS_ENV, json.dumps({"die_roller": url}))
    with pytest.raises(ServiceUnreachableError) as error:
        call_service("die_roller", "roll_die", timeout=2)
    assert error.value.gateway_status == 503
    assert error.value.service == "die_roller"
    assert error.value.entrypoint == "roll_die"
    assert error.value.status_code is None
    assert f"cannot connect to POST die_roller /roll_die ({url}/roll_die)" in str(error.value)


class SilentServer:
    """Accepts connections and reads requests, then hangs up or never answers."""

    def __init__(self, answer: bool) -> None:
        self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.hang_up = not answer
        self.held: list[socket.socket] = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            if connection.recv(65536):
                self.requests += 1
            if self.hang_up:
                connection.close()
            else:
                self.held.append(connection)

    def close(self) -> None:
        self.sock.close()
        for connection in self.held:
            connection.close()


def test_request_that_was_sent_is_never_retried(env: pytest.MonkeyPatch) -> None:
    server = SilentServer(answer=False)
    try:
        env.setenv(SERVICE_URLS_ENV, json.dumps({"flaky": f"http://127.0.0.1:{server.port}"}))
        env.setenv(CALL_RETRIES_ENV, "3")
        with pytest.raises(ServiceCallError) as error:
            call_service("flaky", "work", arguments={"n": 1})
        assert error.value.gateway_status == 502
        assert server.requests == 1
    finally:
        server.close()


def test_no_answer_times_out(env: pytest.MonkeyPatch) -> None:
    server = SilentServer(answer=True)
    try:
        env.setenv(SERVICE_URLS_ENV, json.dumps({"mute": f"http://127.0.0.1:{server.port}"}))
        env.setenv(CALL_TIMEOUT_ENV, "0.3")
        with pytest.raises(ServiceTimeoutError, match=r"did not answer within 0.3 s") as error:
            call_service("mute", "work")
        assert error.value.gateway_status == 504
        assert server.requests == 1
    finally:
        server.close()


def test_configuration_errors_name_the_fix(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ServiceUnreachableError, match=f"{SERVICE_URLS_ENV}.*{GATEWAY_URL_ENV}"):
        call_service("die_roller", "roll_die")
    env.setenv(SERVICE_URLS_ENV, "{not json")
    with pytest.raises(ConfigurationError, match=f"{SERVICE_URLS_ENV} is not valid JSON"):
        call_service("die_roller", "roll_die")
    env.setenv(SERVICE_URLS_ENV, '["http://x"]')
    with pytest.raises(ConfigurationError, match="must be a JSON object"):
        call_service("die_roller", "roll_die")
    env.setenv(SERVICE_URLS_ENV, '{"die_roller": "http://127.0.0.1:1"}')
    env.setenv(CALL_TIMEOUT_ENV, "soon")
    with pytest.raises(ConfigurationError, match=f"{CALL_TIMEOUT_ENV}='soon' is not a number"):
        call_service("die_roller", "roll_die")
    with pytest.raises(InvalidNameError, match="invalid service name 'Die-Roller'"):
        call_service("Die-Roller", "roll_die")
    with pytest.raises(InvalidNameError, match="invalid version 'latest'"):
        call_service("die_roller", "roll_die", service_version="latest")
    with pytest.raises(ValueError, match=r"invalid entrypoint_name '\.\./admin'"):
        call_service("die_roller", "../admin")
    with pytest.raises(TypeError, match="arguments must be a dict"):
        call_service("die_roller", "roll_die", arguments=[1, 2])  # type: ignore[arg-type]
