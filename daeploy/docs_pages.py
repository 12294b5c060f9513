"""The docs pages, ``/docs`` (Swagger UI) and ``/redoc``, with every file they load served here.

FastAPI's own pages load Swagger UI and ReDoc from a public CDN, so in a cluster without
internet ``/services/<name>/docs`` renders blank. Here the scripts, the style sheet and the icon
come from the ``fastapi-offline`` package (a maintained PyPI package that ships Swagger UI 5 and
ReDoc 2; Swagger UI 4 refuses the OpenAPI 3.1 FastAPI writes) and are served by the service
itself at ``DOCS_ASSETS_PATH/<file>``, below the prefix the request came in on (``root_path``,
see daeploy.app). So they pass the same ingress route and the same access check as the page:
open where ``/docs`` is open (``spec.public``, or access control off), behind the token where it
is not. Neither page needs another host: the one outside name left is in ReDoc's own code, its
"API docs by Redocly" logo, which ReDoc hides when the image cannot load.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from daeploy.contract import DOCS_ASSETS_PATH

# FastAPI's own paths for the two pages, as every FastAPI user knows them.
DOCS_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
REDOC_PATH = "/redoc"

ASSETS_PACKAGE = "fastapi_offline"
ASSETS_FOLDER = "static"
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"
# The files served, with their media types (not guessed: mimetypes differs between systems).
ASSET_TYPES: dict[str, str] = {
    SWAGGER_JS: "text/javascript; charset=utf-8",
    SWAGGER_CSS: "text/css; charset=utf-8",
    REDOC_JS: "text/javascript; charset=utf-8",
    FAVICON: "image/png",
}
# Swagger UI's default validator puts an image from validator.swagger.io on the page.
SWAGGER_PARAMETERS = {"validatorUrl": None}
# A browser keeps the files an hour, then asks again (answered 304 while they are unchanged).
CACHE_CONTROL = "public, max-age=3600"


class DocsAssetsMissing(RuntimeError):
    """The package with the docs' files is not installed; the message says what to install."""


def assets_folder() -> Path:
    """Where the installed package keeps the files; a clear error when it is missing."""
    try:
        folder = Path(str(importlib.resources.files(ASSETS_PACKAGE) / ASSETS_FOLDER))
    except ModuleNotFoundError as error:
        raise DocsAssetsMissing(
            f"the docs pages need the package fastapi-offline: pip install fastapi-offline "
            f"({error})"
        ) from error
    missing = [name for name in ASSET_TYPES if not (folder / name).is_file()]
    if missing:
        raise DocsAssetsMissing(
            f"fastapi-offline at {folder} lacks {', '.join(missing)}: install a 1.7 release"
        )
    return folder


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def add_docs_routes(app: FastAPI) -> None:
    """Serve ``/docs``, its OAuth2 redirect page, ``/redoc`` and their files.

    ``app`` must be made with ``docs_url=None, redoc_url=None``, or FastAPI's CDN pages would
    answer first.
    """
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("make the app with docs_url=None and redoc_url=None: these pages are ours")

    @app.get(DOCS_PATH, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        assets = f"{root}{DOCS_ASSETS_PATH}"
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets}/{SWAGGER_JS}",
            swagger_css_url=f"{assets}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{assets}/{FAVICON}",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_PATH}",
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters={**SWAGGER_PARAMETERS, **(app.swagger_ui_parameters or {})},
        )

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_PATH, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_PATH}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{DOCS_ASSETS_PATH}/{FAVICON}",
            with_google_fonts=False,
        )

    @app.api_route(f"{DOCS_ASSETS_PATH}/{{name}}", methods=["GET", "HEAD"], include_in_schema=False)
    def asset(name: str, request: Request) -> Response:
        media_type = ASSET_TYPES.get(name)
        if media_type is None:
            raise HTTPException(404, f"no docs file {name!r}; there are {', '.join(ASSET_TYPES)}")
        try:
            path = assets_folder() / name
        except DocsAssetsMissing as error:
            raise HTTPException(500, str(error)) from error
        response = FileResponse(
            path,
            media_type=media_type,
            stat_result=os.stat(path),
            headers={"Cache-Control": CACHE_CONTROL},
        )
        asked = request.headers.get("if-none-match", "")
        if response.headers["etag"] in (tag.strip() for tag in asked.split(",")):
            return Response(status_code=304, headers=_revalidation_headers(response))
        return response


def _revalidation_headers(response: Response) -> dict[str, str]:
    keep = ("etag", "last-modified", "cache-control")
    return {k: v for k, v in response.headers.items() if k in keep}
