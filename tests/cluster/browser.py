"""A real headless browser for tests of web pages, used as a person uses them.

Debian's ``chromium`` driven through Debian's ``chromium-driver`` by Selenium; both installed by
``hack/browser_packages.py`` when missing, never downloaded otherwise (``SE_OFFLINE`` keeps
Selenium Manager from trying). Every host name is unresolvable except the ones a test maps to
an address (the ingress), as in a cluster without internet: a page that needs a CDN shows it.
Chromium's own background traffic (updates, sync, metrics) is switched off by its flags.

Screenshots go to ``docs/screenshots/`` (``SCREENSHOTS``), so the README shows what the last
run saw; a test names them, and a person looks at them. A wait that times out leaves the window
in ``FAILURES``, outside the repository, and says where. The browser is stopped by its driver,
and the driver's process by its own handle, at the end of the ``with`` block.

    with headless_chromium({"team-a.daeploy.test": "172.30.255.2"}) as browser:
        browser.send_headers({"Authorization": f"Bearer {token}"})
        browser.open("http://team-a.daeploy.test/services/yatzee/docs")
        browser.wait_for(".opblock", text="/play")
        browser.screenshot("docs-yatzee")
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

from browser_packages import ensure_browser  # noqa: E402

SCREENSHOTS = REPO / "docs" / "screenshots"
# Where a timed-out wait leaves the window as it was, outside the repository.
FAILURES = Path(tempfile.gettempdir()) / "daeploy-browser-failures"
WINDOW = (1280, 900)
# What the probe of this machine kind found necessary, plus a window and no proxy.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    "--hide-scrollbars",
)
# Schemes that never reach a network.
LOCAL_SCHEMES = ("data", "blob", "about", "chrome", "chrome-error", "devtools")


@dataclass(frozen=True)
class NetworkRequest:
    """One request the page made, from Chromium's own network log."""

    url: str
    failed: str = ""
    """Chromium's error text (``net::ERR_NAME_NOT_RESOLVED``, ...); empty when it loaded."""


@dataclass
class Browser:
    """The page under test; ``driver`` is Selenium's, for anything not wrapped here."""

    driver: webdriver.Chrome
    screenshots: Path
    _events: list[dict[str, Any]] = field(default_factory=list)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def send_headers(self, headers: Mapping[str, str]) -> None:
        """Add ``headers`` to every request from now on, sub-resources and ``fetch`` included:
        what a person's browser extension for request headers does (a bearer token, say)."""
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": dict(headers)})

    def wait_for(
        self,
        css: str,
        text: str = "",
        timeout: float = 30,
        visible: bool = True,
    ) -> WebElement:
        """The first element matching ``css`` (and containing ``text``), once it is there."""

        def found() -> WebElement | None:
            try:
                for element in self.driver.find_elements(By.CSS_SELECTOR, css):
                    if visible and not element.is_displayed():
                        continue
                    if text in (element.text or ""):
                        return element
            except StaleElementReferenceException:
                pass  # the page swapped that part (htmx) while we read it: look again
            return None

        return self.wait_until(found, f"{css!r} containing {text!r}", timeout)

    def wait_until(self, check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        """Poll ``check`` until it returns something truthy; fail with the page's state."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                FAILURES.mkdir(parents=True, exist_ok=True)
                shot = FAILURES / f"timeout-{time.strftime('%H%M%S')}.png"
                self.driver.save_screenshot(str(shot))
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what} on "
                    f"{self.driver.current_url} (screenshot: {shot}); the page says: "
                    f"{self.page_text()[:1500]!r}"
                )
            time.sleep(0.2)

    def click(self, element: WebElement) -> None:
        """Scroll ``element`` into the middle of the window, then click it as a person would."""
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()

    def page_text(self) -> str:
        return str(
            self.driver.execute_script("return document.body ? document.body.innerText : ''")
        )

    def screenshot(self, name: str) -> Path:
        """The window as it is, as ``<screenshots>/<name>.png``."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{name}.png"
        if not self.driver.save_screenshot(str(path)):
            raise AssertionError(f"the browser took no screenshot {path}")
        return path

    def requests(self) -> list[NetworkRequest]:
        """Every request the browser made so far, with its failure if it failed."""
        self._events += [json.loads(entry["message"])["message"]
                         for entry in self.driver.get_log("performance")]  # fmt: skip
        urls: dict[str, str] = {}
        failed: dict[str, str] = {}
        for event in self._events:
            params = event.get("params", {})
            if event.get("method") == "Network.requestWillBeSent":
                urls[params["requestId"]] = params["request"]["url"]
            elif event.get("method") == "Network.loadingFailed":
                failed[params["requestId"]] = params.get("errorText", "failed")
        return [NetworkRequest(url, failed.get(rid, "")) for rid, url in urls.items()]

    def outside_requests(self, origin: str) -> list[NetworkRequest]:
        """Requests to anywhere but ``origin`` (``http://host[:port]``), local schemes aside."""
        return [
            r
            for r in self.requests()
            if urlsplit(r.url).scheme not in LOCAL_SCHEMES and not _same_origin(r.url, origin)
        ]


def _same_origin(url: str, origin: str) -> bool:
    a, b = urlsplit(url), urlsplit(origin)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def resolver_rules(hosts: Mapping[str, str]) -> str:
    """Chromium's ``--host-resolver-rules``: ``hosts`` (name to IP) resolve, nothing else does.

    The first matching rule wins, so the catch-all comes last.
    """
    for name, address in hosts.items():
        if not name or any(c in name for c in ", ") or not address:
            raise ValueError(f"host {name!r} -> {address!r}: give a plain host name and an IP")
    return ", ".join([*(f"MAP {name} {ip}" for name, ip in hosts.items()), "MAP * ~NOTFOUND"])


@contextmanager
def headless_chromium(
    hosts: Mapping[str, str],
    screenshots: Path = SCREENSHOTS,
    window: tuple[int, int] = WINDOW,
) -> Iterator[Browser]:
    """A fresh headless Chromium (new empty profile) in which only ``hosts`` resolve."""
    chromium, chromedriver = ensure_browser()
    # Selenium Manager must never fetch a driver or a browser, nor report usage.
    os.environ["SE_OFFLINE"] = "true"
    os.environ["SE_AVOID_STATS"] = "true"
    with tempfile.TemporaryDirectory(prefix="daeploy-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(chromium)
        for flag in (
            *FLAGS,
            f"--window-size={window[0]},{window[1]}",
            f"--user-data-dir={profile}",
            f"--host-resolver-rules={resolver_rules(hosts)}",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        service = Service(
            executable_path=str(chromedriver), log_output=str(Path(profile) / "chromedriver.log")
        )
        try:
            driver = webdriver.Chrome(options=options, service=service)
        except WebDriverException as error:
            log = Path(profile) / "chromedriver.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise AssertionError(f"Chromium did not start: {error.msg}\n{tail}") from error
        try:
            yield Browser(driver, screenshots)
        finally:
            try:
                driver.quit()  # closes the browser, then stops chromedriver
            finally:
                service.stop()  # chromedriver by its own process handle, if it is still there
