"""/docs and /redoc work without internet: every file they load is served by the service itself,
below the prefix the page was opened under, behind the same access rule as the page (issue 15).

The browser's view of the same pages, through the ingress with every outside host unresolvable,
is tests/cluster/test_docs_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from packaging.version import Version

from daeploy._service import Service
from daeploy.access.actions import Action
from daeploy.access.forwarded import action_for
from daeploy.contract import (
    ACCESS_URL_ENV,
    DOCS_ASSETS_PATH,
    NAMESPACE_ENV,
    PUBLIC_ENV,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
)
from daeploy.docs_pages import (
    ASSET_TYPES,
    DOCS_PATH,
    FAVICON,
    OAUTH2_REDIRECT_PATH,
    REDOC_JS,
    REDOC_PATH,
    SWAGGER_CSS,
    SWAGGER_JS,
    add_docs_routes,
    assets_folder,
)
from daeploy.names import service_path, version_path

PREFIXES = ("", service_path("yatzee"), version_path("yatzee", "1.0.0"))
# Every URL an HTML page loads: <script src>, <link href>, and Swagger UI's `url: '...'`.
LOADED = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


def _service() -> Service:
    service = Service()

    @service.entrypoint
    def play() -> list[int]:
        return [1, 2, 3, 4, 5]

    return service


@pytest.fixture
def client(sdk_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    sdk_env.chdir(tmp_path)  # the Service's monitoring store is a file in the working folder
    sdk_env.setenv(SERVICE_NAME_ENV, "yatzee")
    sdk_env.setenv(SERVICE_VERSION_ENV, "1.0.0")
    with TestClient(_service().app) as http:
        yield http


def _loaded_urls(html: str) -> list[str]:
    return [a or b for a, b in LOADED.findall(html)]


@pytest.mark.parametrize("prefix", PREFIXES, ids=["root", "name", "name_version"])
@pytest.mark.parametrize("page", [DOCS_PATH, REDOC_PATH])
def test_pages_load_only_files_of_the_service_itself(
    client: TestClient, prefix: str, page: str
) -> None:
    answer = client.get(f"{prefix}{page}")
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert "yatzee" in html  # the title: the service's name
    urls = _loaded_urls(html)
    assert urls, html
    # Same origin, below the prefix the page was opened under: no scheme, no host, no CDN.
    assert not re.search(r"https?://|//[a-z]", html.replace("http://www.w3.org", "")), html
    assert "cdn." not in html and "fonts.googleapis" not in html
    for url in urls:
        assert url.startswith(f"{prefix}/"), (url, html)
        fetched = client.get(url)
        assert fetched.status_code == 200, (url, fetched.text[:200])
    wanted = {SWAGGER_JS, SWAGGER_CSS, FAVICON} if page == DOCS_PATH else {REDOC_JS, FAVICON}
    assert {f"{prefix}{DOCS_ASSETS_PATH}/{name}" for name in wanted} <= set(urls)
    assert f"{prefix}/openapi.json" in html


def test_swagger_ui_reads_no_outside_validator(client: TestClient) -> None:
    html = client.get(DOCS_PATH).text
    assert '"validatorUrl": null' in html, html
    assert f"oauth2RedirectUrl: window.location.origin + '{OAUTH2_REDIRECT_PATH}'" in html
    assert client.get(OAUTH2_REDIRECT_PATH).status_code == 200


@pytest.mark.parametrize("name", list(ASSET_TYPES))
def test_assets_answer_with_their_media_types(client: TestClient, name: str) -> None:
    url = f"{service_path('yatzee')}{DOCS_ASSETS_PATH}/{name}"
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == ASSET_TYPES[name]
    assert answer.content == (assets_folder() / name).read_bytes()
    assert int(answer.headers["content-length"]) > 1000
    # A browser that has it asks again with its ETag and gets a 304 without the body.
    again = client.get(url, headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.head(url).status_code == 200


def test_content_types_are_what_browsers_need() -> None:
    assert ASSET_TYPES[SWAGGER_JS].startswith("text/javascript")
    assert ASSET_TYPES[REDOC_JS].startswith("text/javascript")
    assert ASSET_TYPES[SWAGGER_CSS].startswith("text/css")
    assert ASSET_TYPES[FAVICON] == "image/png"


def test_other_names_under_the_assets_path_are_not_served(client: TestClient) -> None:
    for name in ("LICENSE", "..%2F__init__.py", "swagger-ui-bundle.js.map", "core.py"):
        assert client.get(f"{DOCS_ASSETS_PATH}/{name}").status_code == 404, name
    assert client.get(f"{DOCS_ASSETS_PATH}/../docs_pages.py").status_code == 404


def test_swagger_ui_is_version_5_or_later_and_redoc_2() -> None:
    """Swagger UI 4 refuses the OpenAPI 3.1 FastAPI writes ("Unable to render this definition")."""
    bundle = (assets_folder() / SWAGGER_JS).read_text(encoding="utf-8")
    swagger = re.search(r'PACKAGE_VERSION:"(\d+\.\d+\.\d+)"', bundle)
    assert swagger, "Swagger UI's bundle no longer says its version"
    assert Version(swagger.group(1)) >= Version("5"), swagger.group(1)
    redoc_bundle = (assets_folder() / REDOC_JS).read_text(encoding="utf-8")
    redoc = re.search(r'ReDoc Version: ","(\d+\.\d+\.\d+)"', redoc_bundle)
    assert redoc, "ReDoc's bundle no longer says its version"
    assert Version(redoc.group(1)) >= Version("2"), redoc.group(1)


def test_openapi_is_3_1_which_needs_swagger_ui_5(client: TestClient) -> None:
    schema = client.get(f"{service_path('yatzee')}/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    assert "/play" in schema["paths"]
    assert not any(p.startswith(DOCS_ASSETS_PATH) or p == DOCS_PATH for p in schema["paths"])


def test_assets_follow_the_same_access_rule_as_the_page(
    sdk_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Access on: 401 without a token for the page and its files alike; public: all open.

    No token means no question to the gate, so the gate's address here is never asked.
    """
    assert action_for("GET", f"{DOCS_ASSETS_PATH}/{SWAGGER_JS}") is Action.INVOKE
    assert action_for("GET", DOCS_PATH) is Action.INVOKE
    sdk_env.chdir(tmp_path)
    for name, value in (
        (SERVICE_NAME_ENV, "yatzee"),
        (NAMESPACE_ENV, "demo"),
        (ACCESS_URL_ENV, "http://127.0.0.1:9"),
    ):
        sdk_env.setenv(name, value)
    paths = [DOCS_PATH, REDOC_PATH, *(f"{DOCS_ASSETS_PATH}/{name}" for name in ASSET_TYPES)]
    with TestClient(_service().app) as closed:
        for path in paths:
            assert closed.get(f"{service_path('yatzee')}{path}").status_code == 401, path
    sdk_env.setenv(PUBLIC_ENV, "true")
    with TestClient(_service().app) as public:
        for path in paths:
            assert public.get(f"{service_path('yatzee')}{path}").status_code == 200, path


def test_an_app_with_fastapis_own_docs_is_refused() -> None:
    with pytest.raises(ValueError, match="docs_url=None"):
        add_docs_routes(FastAPI())
