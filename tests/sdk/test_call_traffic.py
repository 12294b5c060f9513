"""call_service inside the cluster follows the name's traffic table: weighted split and shadows.

Everything is real HTTP on 127.0.0.1: an HTTPS server plays the API server (serving the per-name
Service with its traffic annotation, through the mounted-ServiceAccount path the SDK reads in a
pod), and four plain servers play the name's Service and three versions' Services, recording what
they got. The one seam is ``calls.cluster_base_url``, pointed at those servers instead of cluster
DNS names.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from daeploy import calls, pod_api, traffic
from daeploy.communication import ServiceCallError, async_call_service, call_service
from daeploy.contract import (
    CALL_TOKEN_FILE_ENV,
    CALL_TRAFFIC_SECONDS_ENV,
    NAMESPACE_ENV,
    SERVICE_URLS_ENV,
    TRAFFIC_ANNOTATION,
)
from daeploy.names import service_object_name
from daeploy.traffic import EMPTY, TrafficTable, choose, parse_table

NAME = "die_roller"
POD_TOKEN = "pod-serviceaccount-token"
CALL_TOKEN = "call-token-for-daeploy"
SPLIT = {"main": "1.0.0", "weights": {"1.0.0": 90, "2.0.0": 10}, "shadows": []}
SHADOWED = {"main": "1.0.0", "weights": {"1.0.0": 100}, "shadows": ["2.0.0", "3.0.0"]}
ONLY_1 = (("1.0.0", 100),)
_namespaces = itertools.count()


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None


@dataclass
class Behaviour:
    status: int = 200
    delay: float = 0.0


class _Server:
    """A threaded HTTP/1.1 server on 127.0.0.1 (keep-alive, as the SDK's pooled client uses)."""

    def __init__(self, handle: Callable[[BaseHTTPRequestHandler, str], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_GET(self) -> None:
                handle(self, "GET")

            def do_POST(self) -> None:
                handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _answer(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _read_body(handler: BaseHTTPRequestHandler) -> Any:
    length = int(handler.headers.get("content-length") or 0)
    raw = handler.rfile.read(length) if length else b""
    return json.loads(raw) if raw else None


class Recorder(_Server):
    """One Service: records every request on arrival, then answers as ``label`` after ``delay``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.behaviour = Behaviour()
        self.seen: list[Seen] = []
        self.answered = 0
        super().__init__(self._handle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        body = _read_body(handler)
        self.seen.append(
            Seen(method, url.path, parse_qs(url.query), body, handler.headers.get("authorization"))
        )
        time.sleep(self.behaviour.delay)
        _answer(handler, self.behaviour.status, {"server": self.label, "body": body})
        self.answered += 1


@dataclass
class ApiState:
    annotation: str | None = None
    status: int = 200
    delay: float = 0.0
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class FakeApiServer(_Server):
    """The API server's GET of one Service, over TLS with the CA the pod has mounted."""

    def __init__(self, cert: Path, key: Path) -> None:
        import ssl

        self.state = ApiState()
        super().__init__(self._handle)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        state = self.state
        state.requests.append((handler.path, handler.headers.get("authorization")))
        time.sleep(state.delay)
        parts = handler.path.strip("/").split("/")
        if method != "GET" or len(parts) != 6 or parts[:3] != ["api", "v1", "namespaces"]:
            _answer(handler, 404, {"kind": "Status", "code": 404})
            return
        if state.status != 200:
            _answer(handler, state.status, {"kind": "Status", "code": state.status})
            return
        annotations = {} if state.annotation is None else {TRAFFIC_ANNOTATION: state.annotation}
        metadata = {"name": parts[5], "namespace": parts[3], "annotations": annotations}
        _answer(handler, 200, {"apiVersion": "v1", "kind": "Service", "metadata": metadata})

    def serve(self, table: dict[str, Any] | None) -> None:
        self.state.annotation = None if table is None else json.dumps(table)


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: the API server's, and the pod's ca.crt."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Cluster:
    namespace: str
    api: FakeApiServer
    services: dict[str, Recorder]  # "name" (the per-name Service), "1.0.0", "2.0.0", "3.0.0"
    env: pytest.MonkeyPatch

    def counts(self) -> dict[str, int]:
        return {key: len(server.seen) for key, server in self.services.items()}

    def wait_for(self, expected: dict[str, int], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.counts() != expected:
            assert time.monotonic() < deadline, f"got {self.counts()}, expected {expected}"
            time.sleep(0.02)


@pytest.fixture
def cluster(
    sdk_env: pytest.MonkeyPatch, tls: tuple[Path, Path], tmp_path: Path
) -> Iterator[Cluster]:
    """A pod's view: its namespace, mounted ServiceAccount, call token, and the four Services."""
    cert, key = tls
    api = FakeApiServer(cert, key)
    services = {label: Recorder(label) for label in ("name", "1.0.0", "2.0.0", "3.0.0")}
    namespace = f"games{next(_namespaces)}"

    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(POD_TOKEN)
    (account / "ca.crt").write_bytes(cert.read_bytes())
    sdk_env.setattr(pod_api, "SERVICE_ACCOUNT_DIR", account)
    sdk_env.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    sdk_env.setenv("KUBERNETES_SERVICE_PORT", str(api.port))
    sdk_env.setenv(NAMESPACE_ENV, namespace)
    sdk_env.setenv(CALL_TRAFFIC_SECONDS_ENV, "60")
    call_token = tmp_path / "call-token"
    call_token.write_text(CALL_TOKEN)
    sdk_env.setenv(CALL_TOKEN_FILE_ENV, str(call_token))

    def local_service(service_name: str, ns: str, service_version: str | None) -> str:
        assert (service_name, ns) == (NAME, namespace)
        return services["name" if service_version is None else service_version].url

    sdk_env.setattr(calls, "cluster_base_url", local_service)
    traffic.clear_cache()
    yield Cluster(namespace, api, services, sdk_env)
    traffic.clear_cache()
    calls.close_sync_client()
    for server in (api, *services.values()):
        server.close()


# The table's wire format.


def test_parse_a_full_table() -> None:
    table = parse_table(json.dumps({"main": "1.0.0", **SPLIT, "shadows": ["3.0.0", "4.0.0"]}))
    assert table == TrafficTable("1.0.0", (("1.0.0", 90), ("2.0.0", 10)), ("3.0.0", "4.0.0"))
    assert table.splits


def test_parse_ignores_unknown_keys_and_zero_weights() -> None:
    text = json.dumps(
        {
            "main": None,
            "weights": {"1.0.0": 100, "2.0.0": 0},
            "shadows": ["3.0.0"],
            "mirrorPercent": 50,
            "future": {"nested": True},
        }
    )
    table = parse_table(text)
    assert table == TrafficTable(None, (("1.0.0", 100),), ("3.0.0",))
    assert not table.splits
    assert parse_table('{"weights": {}}') == EMPTY
    assert parse_table("{}") == EMPTY


def test_a_missing_annotation_is_the_empty_table(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="daeploy.traffic")
    assert parse_table(None) == EMPTY
    assert parse_table("") == EMPTY
    assert caplog.records == []


@pytest.mark.parametrize(
    ("text", "expected", "why"),
    [
        ("{not json", EMPTY, "not JSON"),
        ('["1.0.0"]', EMPTY, "not a JSON object"),
        ('{"weights": {"1.0.0": "90"}}', EMPTY, "weights"),
        (
            '{"weights": {"latest": 100}, "shadows": ["2.0.0"]}',
            TrafficTable(shadows=("2.0.0",)),
            "weights",
        ),
        ('{"weights": {"1.0.0": true}}', EMPTY, "weights"),
        ('{"weights": {"1.0.0": 100}, "shadows": "2.0"}', TrafficTable(weights=ONLY_1), "shadows"),
        ('{"main": 1, "weights": {"1.0.0": 100}}', TrafficTable(weights=ONLY_1), "main"),
    ],
)
def test_bad_input_is_ignored_with_one_warning(
    caplog: pytest.LogCaptureFixture, text: str, expected: TrafficTable, why: str
) -> None:
    traffic.clear_cache()
    caplog.set_level(logging.WARNING, logger="daeploy.traffic")
    where = "Service games/die-roller"
    for _ in range(3):
        assert parse_table(text, where) == expected
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1, messages
    assert TRAFFIC_ANNOTATION in messages[0]
    assert where in messages[0]
    assert why in messages[0]


def test_choose_follows_the_weights() -> None:
    table = parse_table(json.dumps(SPLIT))
    rand = random.Random(20240601)
    picks = [choose(table, rand) for _ in range(20_000)]
    assert set(picks) == {"1.0.0", "2.0.0"}
    assert 0.09 < picks.count("2.0.0") / len(picks) < 0.11

    three = parse_table('{"weights": {"1.0.0": 50, "2.0.0": 30, "3.0.0": 20}}')
    picks = [choose(three, rand) for _ in range(20_000)]
    for version, share in (("1.0.0", 0.5), ("2.0.0", 0.3), ("3.0.0", 0.2)):
        assert abs(picks.count(version) / len(picks) - share) < 0.015

    assert choose(table, 0.0) == "1.0.0"
    assert choose(table, 0.8999) == "1.0.0"
    assert choose(table, 0.9) == "2.0.0"
    assert choose(table, 0.999999) == "2.0.0"
    assert choose(parse_table('{"weights": {"2.0.0": 100}}'), 0.5) == "2.0.0"
    assert choose(EMPTY, rand) is None


# call_service against the local "cluster".


def test_a_split_sends_calls_to_the_versions_by_weight(cluster: Cluster) -> None:
    cluster.api.serve(SPLIT)
    answers = [call_service(NAME, "roll_die", {"n": i})["server"] for i in range(300)]
    assert answers.count("1.0.0") + answers.count("2.0.0") == 300
    # 10 % of 300: mean 30, standard deviation 5.2.
    assert 10 <= answers.count("2.0.0") <= 55
    assert cluster.counts() == {
        "name": 0,
        "1.0.0": answers.count("1.0.0"),
        "2.0.0": answers.count("2.0.0"),
        "3.0.0": 0,
    }
    # One fetch served all 300 calls, with the pod's own token, for the per-name Service.
    assert cluster.api.state.requests == [
        (
            "/".join(
                (
                    "",
                    "api",
                    "v1",
                    "namespaces",
                    cluster.namespace,
                    "services",
                    service_object_name(NAME),
                )
            ),
            f"Bearer {POD_TOKEN}",
        )
    ]


def test_without_a_split_the_per_name_service_answers(cluster: Cluster) -> None:
    cluster.api.serve({"main": "1.0.0", "weights": {"1.0.0": 100}, "shadows": []})
    for _ in range(5):
        assert call_service(NAME, "roll_die")["server"] == "name"
    cluster.api.serve(None)  # no annotation at all
    traffic.clear_cache()
    assert call_service(NAME, "roll_die")["server"] == "name"
    assert cluster.counts() == {"name": 6, "1.0.0": 0, "2.0.0": 0, "3.0.0": 0}


def test_every_shadow_gets_a_copy_of_every_call(cluster: Cluster) -> None:
    cluster.api.serve(SHADOWED)
    for i in range(100):
        answer = call_service(NAME, "roll_die", {"n": i})
        assert answer == {"server": "name", "body": {"n": i}}
    cluster.wait_for({"name": 100, "1.0.0": 0, "2.0.0": 100, "3.0.0": 100})

    main = cluster.services["name"].seen
    for shadow in ("2.0.0", "3.0.0"):
        copies = cluster.services[shadow].seen
        # Copies are sent by several threads, so their order is not the calls' order.
        assert sorted(c.body["n"] for c in copies) == list(range(100))
        assert {(c.method, c.path, c.authorization) for c in copies} == {
            ("POST", "/roll_die", f"Bearer {CALL_TOKEN}")
        }
    assert {(c.method, c.path, c.authorization) for c in main} == {
        ("POST", "/roll_die", f"Bearer {CALL_TOKEN}")
    }

    # A GET's query and an explicit Authorization header are copied too.
    answer = call_service(
        NAME,
        "scores",
        {"player": "ann"},
        entrypoint_method="GET",
        headers={"Authorization": "Bearer from-caller"},
    )
    assert answer["server"] == "name"
    cluster.wait_for({"name": 101, "1.0.0": 0, "2.0.0": 101, "3.0.0": 101})
    get = Seen("GET", "/scores", {"player": ["ann"]}, None, "Bearer from-caller")
    for label in ("name", "2.0.0", "3.0.0"):
        assert get in cluster.services[label].seen


def test_a_slow_or_failing_shadow_never_reaches_the_caller(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="daeploy.calls")
    cluster.api.serve(SHADOWED)
    cluster.services["2.0.0"].behaviour.delay = 2.0
    cluster.services["3.0.0"].behaviour.status = 500
    call_service(NAME, "roll_die", {"n": -1})  # the table is fetched: not what is timed
    durations = []
    for i in range(6):
        started = time.monotonic()
        assert call_service(NAME, "roll_die", {"n": i}) == {"server": "name", "body": {"n": i}}
        durations.append(time.monotonic() - started)
        time.sleep(0.05)
    # The sleeping shadow had copies in hand while the calls went on.
    assert len(cluster.services["2.0.0"].seen) >= 1
    assert max(durations) < 1.0, durations
    cluster.wait_for({"name": 7, "1.0.0": 0, "2.0.0": 7, "3.0.0": 7}, timeout=15)
    deadline = time.monotonic() + 5
    while not any("answered 500" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the shadow's 500 was not logged"
        time.sleep(0.02)
    failures = [r for r in caplog.records if "shadow copy" in r.getMessage()]
    assert {r.levelno for r in failures} == {logging.DEBUG}


def test_the_callers_error_is_the_mains_and_shadows_still_get_a_copy(cluster: Cluster) -> None:
    cluster.api.serve(SHADOWED)
    cluster.services["name"].behaviour.status = 500
    with pytest.raises(ServiceCallError) as error:
        call_service(NAME, "roll_die", {"n": 1})
    assert error.value.status_code == 500
    assert error.value.detail == {"server": "name", "body": {"n": 1}}
    cluster.wait_for({"name": 1, "1.0.0": 0, "2.0.0": 1, "3.0.0": 1})


def test_async_calls_split_and_mirror_the_same_way(cluster: Cluster) -> None:
    cluster.api.serve(SHADOWED)

    async def run() -> list[Any]:
        answers = [await async_call_service(NAME, "roll_die", {"n": i}) for i in range(50)]
        answers += await asyncio.gather(
            *(async_call_service(NAME, "roll_die", {"n": i}) for i in range(50, 100))
        )
        # The copies are this loop's tasks: keep it running until they were answered.
        deadline = time.monotonic() + 10
        while [cluster.services[v].answered for v in ("2.0.0", "3.0.0")] != [100, 100]:
            assert time.monotonic() < deadline, cluster.counts()
            await asyncio.sleep(0.02)
        await calls.close_async_client()
        return answers

    answers = asyncio.run(run())
    assert answers == [{"server": "name", "body": {"n": i}} for i in range(100)]
    for shadow in ("2.0.0", "3.0.0"):
        copies = cluster.services[shadow].seen
        assert sorted(c.body["n"] for c in copies) == list(range(100))
        assert {c.authorization for c in copies} == {f"Bearer {CALL_TOKEN}"}
    assert len(cluster.api.state.requests) == 1


def test_async_calls_do_not_wait_for_a_slow_shadow(cluster: Cluster) -> None:
    cluster.api.serve({**SHADOWED, "weights": SPLIT["weights"], "shadows": ["3.0.0"]})
    cluster.services["3.0.0"].behaviour.delay = 2.0

    async def run() -> list[float]:
        await async_call_service(NAME, "roll_die")  # the table is fetched: not what is timed
        durations = []
        for _ in range(3):
            started = time.monotonic()
            answer = await async_call_service(NAME, "roll_die")
            durations.append(time.monotonic() - started)
            assert answer["server"] in ("1.0.0", "2.0.0")
            await asyncio.sleep(0.05)
        shadow = cluster.services["3.0.0"]
        assert len(shadow.seen) >= 1
        # Let the copies end before the loop does, or closing it cancels them midway.
        deadline = time.monotonic() + 10
        while shadow.answered < 4:
            assert time.monotonic() < deadline, shadow.answered
            await asyncio.sleep(0.05)
        await calls.close_async_client()
        return durations

    durations = asyncio.run(run())
    assert max(durations) < 1.0, durations
    assert cluster.counts()["name"] == 0


def test_forbidden_table_falls_back_to_the_per_name_service(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="daeploy.traffic")
    cluster.env.setenv(CALL_TRAFFIC_SECONDS_ENV, "0.05")
    cluster.api.serve(SHADOWED)
    cluster.api.state.status = 403
    for _ in range(20):
        assert call_service(NAME, "roll_die")["server"] == "name"
        time.sleep(0.01)
    assert len(cluster.api.state.requests) >= 2  # retried after the TTL
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    obj = service_object_name(NAME)
    assert len(warnings) == 1, warnings
    assert "403" in warnings[0]
    assert f"may not read Service {obj}" in warnings[0]
    time.sleep(0.3)
    assert cluster.counts() == {"name": 20, "1.0.0": 0, "2.0.0": 0, "3.0.0": 0}

    # Once the pod may read it, the table applies within a TTL.
    cluster.api.state.status = 200
    deadline = time.monotonic() + 5
    while not cluster.services["2.0.0"].seen:
        assert time.monotonic() < deadline, "the table was never read again"
        call_service(NAME, "roll_die")
        time.sleep(0.05)


def test_a_stale_table_is_served_while_it_is_refreshed(cluster: Cluster) -> None:
    cluster.env.setenv(CALL_TRAFFIC_SECONDS_ENV, "0.3")
    cluster.api.serve({"main": "1.0.0", "weights": {"1.0.0": 100}})
    call_service(NAME, "roll_die")
    assert len(cluster.api.state.requests) == 1

    cluster.api.serve(SHADOWED)
    cluster.api.state.delay = 0.6
    time.sleep(0.35)
    durations = []
    for _ in range(5):
        started = time.monotonic()
        assert call_service(NAME, "roll_die")["server"] == "name"
        durations.append(time.monotonic() - started)
    assert max(durations) < 0.3, durations  # nobody waited for the 0.6 s fetch
    assert len(cluster.api.state.requests) == 2  # one refresh in flight for all five
    assert cluster.counts()["3.0.0"] == 0  # the old table, still without shadows

    time.sleep(0.8)
    call_service(NAME, "roll_die")
    cluster.wait_for({"name": 7, "1.0.0": 0, "2.0.0": 1, "3.0.0": 1})


def test_concurrent_first_calls_share_one_fetch(cluster: Cluster) -> None:
    cluster.api.serve(SHADOWED)
    cluster.api.state.delay = 0.3
    answers: list[Any] = []
    threads = [
        threading.Thread(target=lambda: answers.append(call_service(NAME, "roll_die")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a["server"] for a in answers] == ["name"] * 8
    assert len(cluster.api.state.requests) == 1
    cluster.wait_for({"name": 8, "1.0.0": 0, "2.0.0": 8, "3.0.0": 8})


def test_an_explicit_version_bypasses_split_and_shadows(cluster: Cluster) -> None:
    cluster.api.serve({**SPLIT, "shadows": ["3.0.0"]})
    for _ in range(10):
        assert call_service(NAME, "roll_die", service_version="2.0.0")["server"] == "2.0.0"

    async def run() -> Any:
        answer = await async_call_service(NAME, "roll_die", service_version="1.0.0")
        await calls.close_async_client()
        return answer

    assert asyncio.run(run())["server"] == "1.0.0"
    time.sleep(0.3)
    assert cluster.counts() == {"name": 0, "1.0.0": 1, "2.0.0": 10, "3.0.0": 0}
    assert cluster.api.state.requests == []


def test_an_explicit_url_wins_over_the_table(cluster: Cluster) -> None:
    cluster.api.serve(SHADOWED)
    cluster.env.setenv(SERVICE_URLS_ENV, json.dumps({NAME: cluster.services["1.0.0"].url}))
    assert call_service(NAME, "roll_die")["server"] == "1.0.0"
    time.sleep(0.3)
    assert cluster.counts() == {"name": 0, "1.0.0": 1, "2.0.0": 0, "3.0.0": 0}
    assert cluster.api.state.requests == []


def test_the_shadow_queue_is_bounded(sdk_env: pytest.MonkeyPatch) -> None:
    slow = Recorder("slow")
    slow.behaviour.delay = 0.3
    try:
        sdk_env.setenv(SERVICE_URLS_ENV, json.dumps({"slow": slow.url}))
        copy = calls.prepare_call("slow", "work", {"n": 1}, None, "POST", None)
        pool = calls.ShadowPool(workers=1, limit=2)
        accepted = sum(pool.submit(copy) for _ in range(10))
        # One in the worker's hands at most, two waiting; the rest dropped.
        assert 2 <= accepted <= 3
        deadline = time.monotonic() + 5
        while len(slow.seen) < accepted:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.4)
        assert len(slow.seen) == accepted
    finally:
        calls.close_sync_client()
        slow.close()
