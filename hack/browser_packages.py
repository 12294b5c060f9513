"""Debian's Chromium and ChromeDriver for the real-browser tests, installed only when missing.

The cluster does not need a browser, so these are not in ``localcluster.versions.DEBIAN_PACKAGES``;
``localcluster.debian`` installs them all the same, and records what it added so that
``hack/cluster purge`` removes it again. The browser always comes from Debian's packages: nothing
here, nor Selenium (run with ``SE_OFFLINE``), downloads a browser or a driver of its own.

    python3 hack/browser_packages.py     # as root: install if missing, print the two paths
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# hack/ is on the path: run as a script from there, or imported by the tests (tests/conftest.py).
from localcluster import debian

PACKAGES = ("chromium", "chromium-driver", "fonts-dejavu-core")
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


class BrowserUnavailable(RuntimeError):
    """The browser could not be installed; the message says why and what to do."""


def ensure_browser() -> tuple[Path, Path]:
    """(chromium, chromedriver), installing the Debian packages first when one is missing."""
    if debian.missing(PACKAGES) or not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if shutil.which("apt-get") is None:
            raise BrowserUnavailable(
                f"{CHROMIUM} or {CHROMEDRIVER} is missing and there is no apt-get: "
                f"install the packages {' '.join(PACKAGES)}"
            )
        try:
            debian.ensure_packages(PACKAGES)
        except (RuntimeError, OSError) as error:
            raise BrowserUnavailable(
                f"installing {' '.join(PACKAGES)} failed (run as root): {error}"
            ) from error
    for program in (CHROMIUM, CHROMEDRIVER):
        if not program.exists():
            raise BrowserUnavailable(f"{program} is missing after installing {' '.join(PACKAGES)}")
    return CHROMIUM, CHROMEDRIVER


if __name__ == "__main__":
    try:
        print(*ensure_browser(), sep="\n")
    except BrowserUnavailable as failure:
        print(f"error: {failure}", file=sys.stderr)
        sys.exit(1)
