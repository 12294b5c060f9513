"""The dashboard in a real browser on the real cluster (issue 15), used as a person uses it.

The chart installs the dashboard (``dashboard.enabled``, its image built with the others). A
namespace of the test's own holds the tutorial: die_roller 1.0.0 and yatzee 1.0.0 from their
manifests, and die_roller 2.0.0, a folder deploy whose die always shows six, so that yatzee
notifies as soon as 2.0.0 is main. Two people log in with Kubernetes tokens: an editor (the
built-in ``edit`` role of the namespace) and a viewer (``view``); the chart adds the
DaeployService rights to those roles. Debian's Chromium resolves only the dashboard's host.
Screenshots land in docs/screenshots/ (tests/cluster/browser.py), for the README.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from browser import Browser, headless_chromium
from kube_helpers import (
    SIX_SERVICE,
    ServiceNamespace,
    get_json,
    service_namespace,
    wait_ready,
    wait_until,
)
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from daeploy.contract import (
    CALLER_ACCOUNT,
    DASHBOARD_NAME,
    DASHBOARD_PATH,
    HEALTH_PREFIX,
    TOKEN_AUDIENCE,
)
from daeploy.names import service_path, version_object_name, version_path

REPO = Path(__file__).resolve().parents[2]
HOST = "dashboard.daeploy.test"
PHONE = (390, 844)

pytestmark = pytest.mark.cluster


@dataclass
class Stage:
    cluster: Any
    space: ServiceNamespace
    editor: str
    viewer: str
    caller: str
    ingress_ip: str

    @property
    def namespace(self) -> str:
        return self.space.name

    @property
    def origin(self) -> str:
        return f"http://{HOST}"

    def page(self, path: str = "/") -> str:
        return f"{self.origin}{DASHBOARD_PATH}/ns/{self.namespace}{path}"

    def play(self) -> httpx.Response:
        return httpx.post(
            f"{self.cluster.ingress_url}{service_path('yatzee')}/play",
            headers={"Host": self.space.host, "Authorization": f"Bearer {self.caller}"},
            timeout=15,
        )  # fmt: skip

    def mains(self) -> dict[str, str]:
        """``kubectl get dsvc``'s MAIN column, by version of die_roller."""
        found = get_json(self.cluster, "get", "dsvc", "-n", self.namespace)["items"]
        return {
            obj["spec"]["version"]: (obj.get("status") or {}).get("mainMark", "")
            for obj in found
            if obj["spec"]["name"] == "die_roller"
        }


def _person(cluster: Any, namespace: str, name: str, role: str) -> str:
    cluster.kubectl("-n", namespace, "create", "serviceaccount", name)
    cluster.kubectl("-n", namespace, "create", "rolebinding", name, f"--clusterrole={role}",
                    f"--serviceaccount={namespace}:{name}")  # fmt: skip
    return cluster.kubectl("-n", namespace, "create", "token", name, "--duration=1h").stdout.strip()


@pytest.fixture(scope="module")
def stage(
    cluster: Any, project_images: Any, daeploy_operator: str, tmp_path_factory: Any
) -> Iterator[Stage]:
    deployment = f"deployment/{DASHBOARD_NAME}"
    # A reused cluster may still run an older image of the dashboard.
    cluster.kubectl("-n", daeploy_operator, "rollout", "restart", deployment)
    cluster.kubectl("-n", daeploy_operator, "rollout", "status", deployment,
                    "--timeout=180s", timeout=200)  # fmt: skip
    ingress_ip = urlsplit(cluster.ingress_url).hostname
    assert ingress_ip, cluster.ingress_url
    with service_namespace(cluster, "dash") as space:
        for service in ("die_roller", "yatzee"):
            manifest = REPO / "services" / service / "daeployservice.yaml"
            cluster.kubectl("apply", "-n", space.name, "-f", str(manifest))
        folder = tmp_path_factory.mktemp("six") / "die_roller_six"
        folder.mkdir()
        (folder / "service.py").write_text(SIX_SERVICE)
        space.daeploy("deploy", "die_roller", "2.0.0", str(folder), "--caller", "yatzee")
        versions = (("die_roller", "1.0.0"), ("die_roller", "2.0.0"), ("yatzee", "1.0.0"))
        wait_ready(cluster, space.name, *(version_object_name(n, v) for n, v in versions))
        stage = Stage(
            cluster, space,
            editor=_person(cluster, space.name, "dash-editor", "edit"),
            viewer=_person(cluster, space.name, "dash-viewer", "view"),
            # The namespace's own caller account (the operator makes it): other test sessions
            # on a shared cluster may renew the suite's caller meanwhile.
            caller=wait_until(
                lambda: cluster.kubectl(
                    "-n", space.name, "create", "token", CALLER_ACCOUNT,
                    f"--audience={TOKEN_AUDIENCE}", "--duration=1h", check=False,
                ).stdout.strip(),
                "the namespace's caller account",
            ),
            ingress_ip=ingress_ip,
        )  # fmt: skip
        wait_until(lambda: stage.play().status_code == 200, "yatzee plays through the ingress")
        yield stage


@pytest.fixture
def browser(stage: Stage) -> Iterator[Browser]:
    with headless_chromium({HOST: stage.ingress_ip}) as chromium:
        yield chromium


def log_in(browser: Browser, stage: Stage, token: str) -> None:
    browser.open(f"{stage.origin}{DASHBOARD_PATH}/")
    field = browser.wait_for("textarea#token")
    field.send_keys(token)
    browser.click(browser.wait_for("form.login button[type=submit]", text="Log in"))


def version_rows(browser: Browser) -> list[tuple[str, str, bool]]:
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "tr[data-service]")
    return [
        (
            row.get_attribute("data-service") or "",
            row.get_attribute("data-version") or "",
            "main" in (row.get_attribute("class") or ""),
        )
        for row in rows
    ]


def mark_page(browser: Browser) -> None:
    """A value that lives only as long as this page: gone if the browser reloads it."""
    browser.driver.execute_script("window.__noReload = 'kept';")


def not_reloaded(browser: Browser) -> bool:
    return browser.driver.execute_script("return window.__noReload || ''") == "kept"


def test_the_pages_read_without_javascript_with_a_bearer_token(stage: Stage) -> None:
    headers = {"Host": HOST, "Authorization": f"Bearer {stage.viewer}", "Accept": "text/html"}
    base = f"{stage.cluster.ingress_url}{DASHBOARD_PATH}/ns/{stage.namespace}"
    page = httpx.get(f"{base}/", headers=headers, timeout=30)
    assert page.status_code == 200, page.text[:500]
    found = re.findall(r'<tr data-service="([^"]+)" data-version="([^"]+)"', page.text)
    assert found == [("die_roller", "1.0.0"), ("die_roller", "2.0.0"), ("yatzee", "1.0.0")]
    notes = httpx.get(f"{base}/notifications", headers=headers, timeout=30)
    assert notes.status_code == 200 and "Notifications" in notes.text
    nobody = httpx.get(f"{base}/", headers={"Host": HOST}, timeout=30)
    assert nobody.status_code == 401
    vendor = f"{stage.cluster.ingress_url}{DASHBOARD_PATH}/static/vendor/htmx.min.js"
    assert httpx.get(vendor, headers={"Host": HOST}, timeout=30).status_code == 200


def test_log_in_and_see_the_services_with_their_versions(stage: Stage, browser: Browser) -> None:
    log_in(browser, stage, stage.editor)
    browser.wait_for("table.services")
    assert version_rows(browser) == [
        ("die_roller", "1.0.0", True),
        ("die_roller", "2.0.0", False),
        ("yatzee", "1.0.0", True),
    ]
    assert f"system:serviceaccount:{stage.namespace}:dash-editor" in browser.page_text()
    docs = browser.driver.find_element(By.LINK_TEXT, "Docs").get_attribute("href") or ""
    assert docs.endswith(f"{version_path('die_roller', '1.0.0')}/docs")
    outside = browser.outside_requests(stage.origin)
    assert outside == [], outside  # htmx and the styles come from the dashboard itself
    browser.screenshot("dashboard-services")


def test_make_2_0_0_main_and_kubectl_agrees(stage: Stage, browser: Browser) -> None:
    log_in(browser, stage, stage.editor)
    button = browser.wait_for("button[aria-label='Make die_roller 2.0.0 main']", visible=False)
    browser.click(button)
    said = browser.wait_for(".flash.ok", text="die_roller 2.0.0", timeout=60).text
    wait_until(lambda: stage.mains() == {"1.0.0": "", "2.0.0": "*"}, "the operator's new main")
    if "is the main version now" not in said:  # the operator took longer than the page waits
        browser.open(stage.page("/"))
    browser.wait_until(lambda: ("die_roller", "2.0.0", True) in version_rows(browser), "2.0.0 main")
    listing = stage.cluster.kubectl("get", "dsvc", "-n", stage.namespace).stdout
    two = next(line for line in listing.splitlines() if "die_roller" in line and "2.0.0" in line)
    assert two.split()[1] == "*", listing
    browser.screenshot("dashboard-main-switched")


def test_a_yatzee_appears_without_a_reload(stage: Stage, browser: Browser) -> None:
    if stage.mains().get("2.0.0") != "*":  # run alone: make the six-die main first
        stage.space.daeploy("assign", "die_roller", "2.0.0")
    log_in(browser, stage, stage.viewer)
    browser.open(stage.page("/notifications"))
    browser.wait_for("#stacks")
    mark_page(browser)

    def yatzee_shown() -> bool:
        answer = stage.play()
        assert answer.status_code == 200, answer.text
        cells = browser.driver.find_elements(By.CSS_SELECTOR, "#stacks td.msg")
        return any(cell.text == "YATZEE!!!" for cell in cells)

    wait_until(yatzee_shown, "YATZEE!!! on the open notifications page", timeout=90, every=2)
    assert not_reloaded(browser)
    row = browser.wait_for("#stacks tr", text="YATZEE!!!")
    assert "INFO" in row.text and "yatzee" in row.text
    browser.screenshot("dashboard-notifications")


def test_logs_stream_while_requests_arrive(stage: Stage, browser: Browser) -> None:
    if stage.mains().get("2.0.0") != "*":
        stage.space.daeploy("assign", "die_roller", "2.0.0")
    log_in(browser, stage, stage.viewer)
    browser.open(stage.page("/logs/die_roller/2.0.0?last=20"))
    browser.wait_for("#loglines")
    mark_page(browser)
    before = len(browser.driver.find_elements(By.CSS_SELECTOR, "#loglines .logline"))

    def new_lines() -> int:
        assert stage.play().status_code == 200
        lines = browser.driver.find_elements(By.CSS_SELECTOR, "#loglines .logline")
        fresh = [line.text for line in lines[before:]]
        return len([text for text in fresh if "rolling a six" in text])

    wait_until(lambda: new_lines() >= 5, "streamed 'rolling a six' lines", timeout=60, every=1)
    assert not_reloaded(browser)
    text = browser.driver.find_element(By.CSS_SELECTOR, "#loglines").text
    assert HEALTH_PREFIX not in text  # the kubelet's probes stay out of the log
    browser.screenshot("dashboard-logs")

    # The search box filters the lines shown and the lines streamed.
    search = browser.wait_for("input#q")
    search.send_keys("six")
    browser.click(browser.wait_for("form.search button[type=submit]", text="Show"))
    browser.wait_until(lambda: "q=six" in browser.driver.current_url, "the search in the URL")
    shown = browser.driver.find_elements(By.CSS_SELECTOR, "#loglines .logline")
    assert shown and all("six" in line.text for line in shown)
    download = browser.wait_for("a[download]", text="Download").get_attribute("href") or ""
    assert "/download?" in download and "q=six" in download


def test_a_token_without_the_right_is_refused_with_the_api_servers_words(
    stage: Stage, browser: Browser
) -> None:
    log_in(browser, stage, stage.viewer)
    browser.wait_for("table.services")
    button = browser.wait_for("button[aria-label^='Make die_roller']", visible=False)
    version = (button.get_attribute("aria-label") or "").split()[2]
    browser.click(button)
    refusal = browser.wait_for("#refusal", timeout=30)
    assert "cannot patch resource" in refusal.text, refusal.text
    assert f"system:serviceaccount:{stage.namespace}:dash-viewer" in refusal.text
    assert stage.mains()[version] == ""  # nothing changed
    browser.screenshot("dashboard-refused")


def test_readable_on_a_phone(stage: Stage) -> None:
    with headless_chromium({HOST: stage.ingress_ip}, window=PHONE) as phone:
        log_in(phone, stage, stage.viewer)
        phone.wait_for("table.services")
        width, window = phone.driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert width <= window, f"the page is {width}px wide in a {window}px window"
        phone.screenshot("dashboard-phone")


def focused_label(browser: Browser) -> str:
    """What has the focus, read again if htmx swapped it out while we read it."""
    for _ in range(5):
        active = browser.driver.switch_to.active_element
        try:
            return active.get_attribute("aria-label") or active.text or active.tag_name
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError("the focused element kept being replaced")


def test_keyboard_reaches_the_actions(stage: Stage, browser: Browser) -> None:
    log_in(browser, stage, stage.editor)
    browser.wait_for("table.services")
    reached: list[str] = []
    for _ in range(80):
        ActionChains(browser.driver).send_keys(Keys.TAB).perform()
        reached.append(focused_label(browser))
        if reached[-1].startswith("Remove die_roller"):
            break
    assert any(label.startswith("Make die_roller") for label in reached), reached
    assert reached[-1].startswith("Remove die_roller"), reached
    ActionChains(browser.driver).send_keys(Keys.ENTER).perform()  # opens the confirmation
    browser.wait_for("h1", text="Remove die_roller")
    assert "?" in browser.wait_for("h1").text
