"""The dashboard's HTTP side against envtest's real kube-apiserver: real tokens, real RBAC.

People are ServiceAccounts with TokenRequest tokens and Roles: a viewer (reads), an editor
(also patches and deletes DaeployServices) and one with no rights. The operator is the real
reconciler in a thread and the node's kubelet the CLI tests' log server (tests/cli/cli_envtest.py
says what each stands in for). Pages are read as HTML without JavaScript; streams over real HTTP
from uvicorn on a loopback port.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from envtest import EnvTest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))

from cli_envtest import FakeKubelet, OperatorLoop, eventually
from dashboard_support import HTML, People

from daeploy.contract import (
    API_GROUP_VERSION,
    DASHBOARD_ANNOTATION,
    DASHBOARD_LOGIN_COOKIE,
    DASHBOARD_PATH,
    DASHBOARD_TOKEN_COOKIE,
    EVENT_REASON,
    KIND,
    PLURAL,
    SERVICE_LABEL,
    SEVERITY_ANNOTATION,
    VERSION_LABEL,
)
from daeploy.names import version_object_name, version_path
from daeploy_dashboard.app import create_app
from daeploy_dashboard.session import csrf_value
from daeploy_dashboard.settings import Settings
from daeploy_operator.kinds import resource_path


def _service(envtest: EnvTest, namespace: str, name: str, version: str, **spec: Any) -> None:
    manifest = {
        "apiVersion": API_GROUP_VERSION, "kind": KIND,
        "metadata": {"name": version_object_name(name, version)},
        "spec": {"name": name, "version": version, "image": f"localhost/{name}:{version}", **spec},
    }  # fmt: skip
    envtest.api.request("POST", resource_path(API_GROUP_VERSION, KIND, namespace), body=manifest)


def _event(
    envtest: EnvTest, namespace: str, message: str, severity: str = "INFO",
    service: str = "yatzee", count: int = 1, shown: bool = True,
) -> None:  # fmt: skip
    notes = {SEVERITY_ANNOTATION: severity, SERVICE_LABEL: service, VERSION_LABEL: "1.0.0"}
    if not shown:
        notes[DASHBOARD_ANNOTATION] = "false"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{service}.{secrets.token_hex(6)}", "annotations": notes},
        "involvedObject": {"apiVersion": API_GROUP_VERSION, "kind": KIND,
                           "name": version_object_name(service, "1.0.0"), "namespace": namespace},
        "reason": EVENT_REASON, "message": message, "count": count,
        "type": "Normal" if severity == "INFO" else "Warning",
        "firstTimestamp": stamp, "lastTimestamp": stamp,
    }  # fmt: skip
    envtest.api.request("POST", resource_path("v1", "Event", namespace), body=body)


@pytest.fixture
def tutorial(envtest: EnvTest, people: People) -> Iterator[OperatorLoop]:
    """die_roller 1.0.0 (main) and 2.0.0, yatzee 1.0.0, reconciled by the real operator."""
    ns = people.namespace
    _service(envtest, ns, "die_roller", "1.0.0", main=True)
    _service(envtest, ns, "die_roller", "2.0.0")
    _service(envtest, ns, "yatzee", "1.0.0")
    loop = OperatorLoop(envtest, ns).start()
    eventually(
        lambda: all(
            (obj.get("status") or {}).get("mainMark") is not None
            for obj in envtest.api.list(API_GROUP_VERSION, KIND, ns)
        ),
        "the operator marked every version",
    )
    yield loop
    loop.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **HTML}


def login(client: TestClient, token: str, https: bool = False) -> httpx.Response:
    extra = {"X-Forwarded-Proto": "https"} if https else {}
    form = client.get(f"{DASHBOARD_PATH}/login", headers=extra)
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    assert nonce, form.text
    return client.post(
        f"{DASHBOARD_PATH}/login",
        data={"token": token, "nonce": nonce.group(1), "next": ""},
        headers=extra,
        follow_redirects=False,
    )


def rows(html: str) -> list[tuple[str, str, bool]]:
    """(service, version, main) of every version row in the services table."""
    found = re.findall(r'<tr data-service="([^"]+)" data-version="([^"]+)" class="(main)?"', html)
    return [(name, version, bool(main)) for name, version, main in found]


# --- login ---------------------------------------------------------------------------------------


def test_a_login_keeps_the_token_in_a_strict_httponly_cookie(
    dashboard: TestClient, people: People
) -> None:
    answer = login(dashboard, people.viewer)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{DASHBOARD_PATH}/ns/{people.namespace}/"
    assert answer.headers["x-dashboard-user"] == f"system:serviceaccount:{people.namespace}:viewer"
    cookie = next(
        value
        for key, value in answer.headers.multi_items()
        if key == "set-cookie" and value.startswith(DASHBOARD_TOKEN_COOKIE)
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert f"Path={DASHBOARD_PATH}" in cookie
    page = dashboard.get(answer.headers["location"], headers=HTML)
    assert page.status_code == 200
    assert f"system:serviceaccount:{people.namespace}:viewer" in page.text


def test_behind_https_the_cookie_is_secure(settings: Settings, people: People) -> None:
    with TestClient(create_app(settings), base_url="https://dash.test") as client:
        answer = login(client, people.viewer, https=True)
    cookies = [v for k, v in answer.headers.multi_items() if k == "set-cookie"]
    assert any(c.startswith(DASHBOARD_TOKEN_COOKIE) and "Secure" in c for c in cookies)


def test_a_token_the_api_server_refuses_does_not_log_in(dashboard: TestClient) -> None:
    answer = login(dashboard, "not-a-token")
    assert answer.status_code == 303
    assert "refused" in answer.headers["location"] and "401" in answer.headers["location"]
    assert DASHBOARD_TOKEN_COOKIE not in answer.headers.get("set-cookie", "")
    page = dashboard.get(answer.headers["location"])
    assert "the API server refused the token (401" in page.text


def test_a_login_form_from_elsewhere_is_refused(dashboard: TestClient, people: People) -> None:
    dashboard.cookies.clear()
    answer = dashboard.post(
        f"{DASHBOARD_PATH}/login",
        data={"token": people.viewer, "nonce": "forged"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and "expired" in answer.headers["location"]
    assert DASHBOARD_LOGIN_COOKIE not in str(dashboard.cookies)


def test_without_a_token_a_browser_goes_to_the_login_and_a_script_gets_401(
    dashboard: TestClient, people: People
) -> None:
    path = f"{DASHBOARD_PATH}/ns/{people.namespace}/"
    browser = dashboard.get(path, headers=HTML, follow_redirects=False)
    assert browser.status_code == 303
    assert browser.headers["location"].startswith(f"{DASHBOARD_PATH}/login?next=")
    assert dashboard.get(path).status_code == 401
    assert dashboard.get(path, headers=bearer("garbage")).status_code == 401


# --- services ------------------------------------------------------------------------------------


def test_the_services_page_lists_every_version_without_javascript(
    dashboard: TestClient, people: People, tutorial: OperatorLoop
) -> None:
    page = dashboard.get(f"{DASHBOARD_PATH}/ns/{people.namespace}/",
                         headers=bearer(people.viewer))  # fmt: skip
    assert page.status_code == 200, page.text
    assert rows(page.text) == [
        ("die_roller", "1.0.0", True),
        ("die_roller", "2.0.0", False),
        ("yatzee", "1.0.0", True),
    ]
    assert f'href="{version_path("die_roller", "2.0.0")}/docs"' in page.text
    assert "localhost/die_roller:2.0.0" in page.text
    assert "Make die_roller 2.0.0 main" in page.text
    searched = dashboard.get(f"{DASHBOARD_PATH}/ns/{people.namespace}/?q=yat",
                             headers=bearer(people.viewer))  # fmt: skip
    assert rows(searched.text) == [("yatzee", "1.0.0", True)]


def test_a_token_without_the_right_to_list_sees_the_api_servers_refusal(
    dashboard: TestClient, people: People, tutorial: OperatorLoop
) -> None:
    page = dashboard.get(f"{DASHBOARD_PATH}/ns/{people.namespace}/",
                         headers=bearer(people.nobody))  # fmt: skip
    assert page.status_code == 403
    assert f"system:serviceaccount:{people.namespace}:nobody" in page.text
    assert "cannot list resource" in page.text and PLURAL in page.text


def test_make_main_is_the_users_own_write_and_rbac_may_refuse_it(
    dashboard: TestClient, people: People, tutorial: OperatorLoop, envtest: EnvTest
) -> None:
    ns = people.namespace
    action = f"{DASHBOARD_PATH}/ns/{ns}/v/die_roller/2.0.0/main"
    refused = dashboard.post(action, headers=bearer(people.viewer))
    assert refused.status_code == 403
    assert "cannot patch resource" in refused.text, refused.text
    assert f"system:serviceaccount:{ns}:viewer" in refused.text

    done = dashboard.post(action, headers=bearer(people.editor), follow_redirects=False)
    assert done.status_code == 303, done.text
    assert "is+the+main+version+now" in done.headers["location"]
    two = envtest.api.get(API_GROUP_VERSION, KIND, ns, version_object_name("die_roller", "2.0.0"))
    assert two is not None and two["spec"]["main"] is True
    page = dashboard.get(done.headers["location"], headers=bearer(people.viewer))
    assert ("die_roller", "2.0.0", True) in rows(page.text)
    assert ("die_roller", "1.0.0", False) in rows(page.text)
    assert "die_roller 2.0.0 is the main version now" in page.text


def test_a_logged_in_form_needs_its_csrf_value(
    dashboard: TestClient, people: People, tutorial: OperatorLoop
) -> None:
    login(dashboard, people.editor)
    action = f"{DASHBOARD_PATH}/ns/{people.namespace}/v/die_roller/2.0.0/main"
    forged = dashboard.post(action, data={"csrf": "0" * 32}, headers=HTML)
    assert forged.status_code == 403 and "the form is stale" in forged.text
    page = dashboard.get(f"{DASHBOARD_PATH}/ns/{people.namespace}/", headers=HTML)
    assert f'value="{csrf_value(people.editor)}"' in page.text
    done = dashboard.post(action, data={"csrf": csrf_value(people.editor)},
                          follow_redirects=False)  # fmt: skip
    assert done.status_code == 303


def test_remove_asks_first_and_never_takes_the_main_from_its_siblings(
    dashboard: TestClient, people: People, tutorial: OperatorLoop, envtest: EnvTest
) -> None:
    ns = people.namespace
    base = f"{DASHBOARD_PATH}/ns/{ns}/v/die_roller"
    confirm = dashboard.get(f"{base}/2.0.0/remove", headers=bearer(people.editor))
    assert confirm.status_code == 200 and "Remove die_roller 2.0.0?" in confirm.text
    main = dashboard.post(f"{base}/1.0.0/remove", headers=bearer(people.editor))
    assert main.status_code == 409 and "is the main version" in main.text
    refused = dashboard.post(f"{base}/2.0.0/remove", headers=bearer(people.viewer))
    assert refused.status_code == 403 and "cannot delete resource" in refused.text
    done = dashboard.post(f"{base}/2.0.0/remove", headers=bearer(people.editor),
                          follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    gone = version_object_name("die_roller", "2.0.0")
    eventually(lambda: envtest.api.get(API_GROUP_VERSION, KIND, ns, gone) is None, "2.0.0 gone")
    unknown = dashboard.post(f"{base}/9.9.9/remove", headers=bearer(people.editor))
    assert unknown.status_code == 404


# --- notifications -------------------------------------------------------------------------------


def test_notifications_are_stacked_filtered_and_newest_first(
    dashboard: TestClient, people: People, envtest: EnvTest
) -> None:
    ns = people.namespace
    _event(envtest, ns, "YATZEE!!!", count=3)
    _event(envtest, ns, "low dice", "WARNING", service="die_roller")
    _event(envtest, ns, "secret", shown=False)
    path = f"{DASHBOARD_PATH}/ns/{ns}/notifications"
    page = dashboard.get(path, headers=bearer(people.viewer))
    assert page.status_code == 200
    assert "YATZEE!!!" in page.text and "low dice" in page.text and "secret" not in page.text
    assert re.search(r'class="num">3<', page.text)
    warnings = dashboard.get(f"{path}?severity=WARNING", headers=bearer(people.viewer))
    assert "low dice" in warnings.text and "YATZEE!!!" not in warnings.text
    yatzee = dashboard.get(f"{path}?service=yatzee", headers=bearer(people.viewer))
    assert "YATZEE!!!" in yatzee.text and "low dice" not in yatzee.text


@contextlib.contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The dashboard on a loopback port (uvicorn in a thread), for streams over real HTTP."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started, "uvicorn started", timeout=10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def read_events(chunks: Iterator[str], wanted: str, timeout: float) -> str:
    """SSE text from ``chunks`` until ``wanted`` appears (or the time is up)."""
    seen = ""
    deadline = time.monotonic() + timeout
    for chunk in chunks:
        seen += chunk
        if wanted in seen or time.monotonic() > deadline:
            break
    return seen


def test_a_new_notification_arrives_on_the_stream(
    settings: Settings, people: People, envtest: EnvTest
) -> None:
    ns = people.namespace
    _event(envtest, ns, "first one")
    with (
        served(settings) as address,
        httpx.Client(timeout=httpx.Timeout(5, read=15)) as http,
        http.stream(
            "GET",
            f"{address}{DASHBOARD_PATH}/ns/{ns}/notifications/stream",
            headers=bearer(people.viewer),
        ) as response,  # fmt: skip
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = response.iter_text()
        first = read_events(chunks, "first one", 10)
        assert "event: update" in first and "first one" in first
        _event(envtest, ns, "YATZEE!!!", count=1)
        later = read_events(chunks, "YATZEE!!!", 10)
        assert "event: update" in later and "YATZEE!!!" in later


def test_the_stream_says_when_rbac_refuses(settings: Settings, people: People) -> None:
    with (
        served(settings) as address,
        httpx.Client(timeout=10) as http,
    ):
        answer = http.get(f"{address}{DASHBOARD_PATH}/ns/{people.namespace}/notifications/stream",
                          headers=bearer(people.nobody))  # fmt: skip
    assert "event: problem" in answer.text and "cannot list resource" in answer.text


# --- logs ----------------------------------------------------------------------------------------


@pytest.fixture
def kubelet(envtest: EnvTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKubelet]:
    node = FakeKubelet(envtest.api, tmp_path_factory.mktemp("dash-kubelet")).start()
    yield node
    node.forget()
    node.stop()


def test_logs_page_search_last_lines_and_download(
    dashboard: TestClient, people: People, kubelet: FakeKubelet
) -> None:
    ns = people.namespace
    log = "".join(f"POST /play 200 call {i}\n" for i in range(300)) + "rolled a YATZEE\n"
    kubelet.pod(ns, "yatzee-a", "yatzee", "1.0.0", log="boot\n")
    kubelet.pod(ns, "yatzee-b", "yatzee", "1.0.0", log=log)
    path = f"{DASHBOARD_PATH}/ns/{ns}/logs/yatzee/1.0.0"
    page = dashboard.get(path, headers=bearer(people.viewer))
    assert page.status_code == 200, page.text
    assert "yatzee-a" in page.text and "yatzee-b" in page.text  # a link per pod
    lines = re.findall(r'<div class="logline">([^<]*)</div>', page.text)
    assert len(lines) == 200 and lines[-1] == "rolled a YATZEE"  # the newest pod, last 200
    assert f'sse-connect="{DASHBOARD_PATH}/ns/' in page.text
    found = dashboard.get(f"{path}?pod=yatzee-b&q=yatzee&last=1000", headers=bearer(people.viewer))
    assert re.findall(r'<div class="logline">([^<]*)</div>', found.text) == ["rolled a YATZEE"]
    other = dashboard.get(f"{path}?pod=yatzee-a", headers=bearer(people.viewer))
    assert re.findall(r'<div class="logline">([^<]*)</div>', other.text) == ["boot"]
    got = dashboard.get(f"{path}/download?pod=yatzee-b&last=5", headers=bearer(people.viewer))
    assert got.status_code == 200
    assert "attachment" in got.headers["content-disposition"]
    assert got.text.splitlines()[-1] == "rolled a YATZEE" and len(got.text.splitlines()) == 5
    nobody = dashboard.get(path, headers=bearer(people.nobody))
    assert nobody.status_code == 403 and "cannot list resource" in nobody.text
