"""The docs pages in a real browser, through the ingress, with no internet (issue 15).

The tutorial's two services are applied from their manifests in a namespace of their own. Debian's
Chromium, with every host name unresolvable but the namespace's ingress host, opens
``/services/yatzee/docs``, finds ``play``, runs it with "Try it out" and reads five dice; then
``/redoc``. Access control stays on, as in the demo: the browser sends a ``daeploy-caller`` token
on every request, as a person's header extension would, and the test checks that the pages' own
files need that token just like the page. Screenshots land in docs/screenshots/.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from browser import Browser, headless_chromium
from kube_helpers import wait_ready, wait_until
from selenium.webdriver.common.by import By

from daeploy.contract import CALLER_ACCOUNT, DOCS_ASSETS_PATH, HOST_ANNOTATION, TOKEN_AUDIENCE
from daeploy.docs_pages import (
    ASSET_TYPES,
    DOCS_PATH,
    REDOC_JS,
    REDOC_PATH,
    SWAGGER_CSS,
    SWAGGER_JS,
)
from daeploy.names import service_path, version_object_name

REPO = Path(__file__).resolve().parents[2]
YATZEE = service_path("yatzee")
# ReDoc's own "API docs by Redocly" logo: ReDoc tries it and hides the image when it fails.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# A name nobody serves: its lookup must fail inside the browser, as every outside name does.
OUTSIDE = "http://outside.example/"

pytestmark = pytest.mark.cluster


@dataclass
class Tutorial:
    cluster: Any
    namespace: str
    host: str
    token: str

    @property
    def origin(self) -> str:
        return f"http://{self.host}"

    def get(self, path: str, token: bool = True) -> httpx.Response:
        headers = {"Host": self.host}
        if token:
            headers["Authorization"] = f"Bearer {self.token}"
        return httpx.get(f"{self.cluster.ingress_url}{path}", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def tutorial(cluster: Any, project_images: Any, daeploy_operator: str) -> Iterator[Tutorial]:
    namespace = f"docs-{uuid.uuid4().hex[:6]}"
    host = f"{namespace}.daeploy.test"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("annotate", "namespace", namespace, f"{HOST_ANNOTATION}={host}")
    try:
        for service in ("die_roller", "yatzee"):
            manifest = REPO / "services" / service / "daeployservice.yaml"
            cluster.kubectl("apply", "-n", namespace, "-f", str(manifest))
        wait_ready(
            cluster,
            namespace,
            version_object_name("die_roller", "1.0.0"),
            version_object_name("yatzee", "1.0.0"),
        )
        token = wait_until(
            lambda: cluster.kubectl(
                "-n", namespace, "create", "token", CALLER_ACCOUNT,
                f"--audience={TOKEN_AUDIENCE}", "--duration=1h", check=False,
            ).stdout.strip(),
            "the namespace's caller account",
        )  # fmt: skip
        tutorial = Tutorial(cluster, namespace, host, token)
        wait_until(
            lambda: tutorial.get(f"{YATZEE}{DOCS_PATH}").status_code == 200,
            "yatzee's docs page through the ingress",
        )
        yield tutorial
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture
def browser(tutorial: Tutorial) -> Iterator[Browser]:
    ingress_ip = urlsplit(tutorial.cluster.ingress_url).hostname
    assert ingress_ip, tutorial.cluster.ingress_url
    with headless_chromium({tutorial.host: ingress_ip}) as chromium:
        chromium.send_headers({"Authorization": f"Bearer {tutorial.token}"})
        yield chromium


def test_the_pages_files_need_the_token_the_page_needs(tutorial: Tutorial) -> None:
    for name, media_type in ASSET_TYPES.items():
        path = f"{YATZEE}{DOCS_ASSETS_PATH}/{name}"
        assert tutorial.get(path, token=False).status_code == 401, path
        served = tutorial.get(path)
        assert served.status_code == 200, (path, served.text[:300])
        assert served.headers["content-type"] == media_type
    for page in (DOCS_PATH, REDOC_PATH):
        assert tutorial.get(f"{YATZEE}{page}", token=False).status_code == 401
        html = tutorial.get(f"{YATZEE}{page}").text
        assert f"{YATZEE}{DOCS_ASSETS_PATH}/" in html and "cdn." not in html


def test_play_runs_from_the_docs_page_with_no_internet(
    tutorial: Tutorial, browser: Browser
) -> None:
    browser.open(f"{tutorial.origin}{YATZEE}{DOCS_PATH}")
    assert browser.driver.title == "yatzee - Swagger UI"
    browser.wait_for(".info .title", text="yatzee")
    play = browser.wait_for(".opblock.opblock-post", text="/play")
    browser.screenshot("docs-yatzee")

    browser.click(play.find_element(By.CSS_SELECTOR, ".opblock-summary"))
    browser.click(browser.wait_for(".opblock.is-open button.try-out__btn", text="Try it out"))
    browser.click(browser.wait_for(".opblock.is-open button.execute", text="Execute"))
    body = browser.wait_for(".live-responses-table .response-col_description pre", timeout=30)
    status = browser.wait_for(".live-responses-table .response .response-col_status")
    assert status.text.strip() == "200", browser.page_text()[-1500:]
    dice = json.loads(body.text)
    assert isinstance(dice, list) and len(dice) == 5, body.text
    assert all(isinstance(d, int) and 1 <= d <= 6 for d in dice), dice
    request_url = browser.wait_for(".request-url pre").text.strip()
    assert request_url == f"{tutorial.origin}{YATZEE}/play"
    browser.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'start'});",
        play.find_element(By.CSS_SELECTOR, ".opblock-summary"),
    )
    browser.screenshot("docs-yatzee-play")

    # Every name but the ingress's is unresolvable in this browser, and the page needed none.
    browser.driver.execute_script(f"fetch({OUTSIDE!r}, {{mode: 'no-cors'}}).catch(() => null)")
    browser.wait_until(
        lambda: any(r.failed for r in browser.outside_requests(tutorial.origin)),
        "the outside fetch to fail",
    )
    outside = browser.outside_requests(tutorial.origin)
    assert [(r.url, r.failed) for r in outside] == [(OUTSIDE, "net::ERR_NAME_NOT_RESOLVED")]
    loaded = [r for r in browser.requests() if r.url.startswith(tutorial.origin)]
    assets = f"{tutorial.origin}{YATZEE}{DOCS_ASSETS_PATH}"
    assert {f"{assets}/{name}" for name in (SWAGGER_JS, SWAGGER_CSS)} <= {r.url for r in loaded}
    assert not [r for r in loaded if r.failed], loaded


def test_redoc_renders_with_no_internet(tutorial: Tutorial, browser: Browser) -> None:
    browser.open(f"{tutorial.origin}{YATZEE}{REDOC_PATH}")
    assert browser.driver.title == "yatzee - ReDoc"
    browser.wait_for("h1", text="yatzee (1.0.0)")
    browser.click(browser.wait_for("li label", text="Play"))
    browser.wait_for("h2", text="Play")
    browser.screenshot("redoc-yatzee")
    outside = browser.outside_requests(tutorial.origin)
    # Only ReDoc's own footer logo looks elsewhere; it fails here and ReDoc leaves it out.
    assert all(r.url == REDOC_LOGO and r.failed for r in outside), outside
    loaded = [r for r in browser.requests() if r.url.startswith(tutorial.origin)]
    assert f"{tutorial.origin}{YATZEE}{DOCS_ASSETS_PATH}/{REDOC_JS}" in {r.url for r in loaded}
    assert not [r for r in loaded if r.failed], loaded
