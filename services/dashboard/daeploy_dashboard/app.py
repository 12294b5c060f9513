"""The dashboard's HTTP side: server-rendered pages (Jinja2), htmx for partial updates, SSE.

Every page works without JavaScript; htmx (from npm, copied into the image at build time)
boosts links and forms and its SSE extension adds new notifications and log lines as they
come. Every route below the base path needs a token (login cookie or ``Authorization:
Bearer``), and every API call is made with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from kubernetes.client.exceptions import ApiException
from starlette.concurrency import run_in_threadpool

from daeploy.cli.errors import CliError
from daeploy.cli.kube import Kube
from daeploy.cli.logs import _pod_sort_key as pod_sort_key
from daeploy.cli.monitor import Endpoint, Reader, UnknownVariable, parse_since
from daeploy.cli.notifications import FIELD_SELECTOR
from daeploy.cli.resource import local_time
from daeploy.contract import (
    DASHBOARD_LOGIN_COOKIE,
    DASHBOARD_TOKEN_COOKIE,
    LIVE_PATH,
    READY_PATH,
    SERVICE_LABEL,
    VERSION_LABEL,
)
from daeploy.names import label_value, validate_service_name, validate_version
from daeploy_dashboard import actions, session, streams, views
from daeploy_dashboard.settings import Settings
from daeploy_dashboard.userkube import Clients, Refused, User, refused

PACKAGE = Path(__file__).resolve().parent
DEFAULT_TAIL = 200
MAX_TAIL = 10000
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class NeedLogin(Exception):
    def __init__(self, why: str = "") -> None:
        super().__init__(why)
        self.why = why


def _when(moment: datetime | None) -> str:
    return local_time(moment) if moment else ""


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def create_app(settings: Settings) -> FastAPI:
    """The dashboard for ``settings``; tests build it against envtest's API server."""
    base = settings.base_path
    clients = Clients(settings)
    templates = Jinja2Templates(directory=str(PACKAGE / "templates"))
    templates.env.filters["when"] = _when
    templates.env.filters["iso"] = _iso
    for template in templates.env.list_templates():  # compiled now, not on a first visit
        templates.env.get_template(template)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        clients.close()

    app = FastAPI(
        title="Daeploy dashboard", docs_url=None, redoc_url=None, openapi_url=None,
        lifespan=lifespan,
    )  # fmt: skip
    app.state.clients = clients
    router = APIRouter()

    def url(path: str, **query: Any) -> str:
        kept = {k: v for k, v in query.items() if v not in (None, "")}
        return f"{base}{path}" + (f"?{urlencode(kept)}" if kept else "")

    def page(
        request: Request,
        template: str,
        context: dict[str, Any],
        status: int = 200,
        creds: session.Credentials | None = None,
    ) -> HTMLResponse:
        context = {
            "request": request,
            "base": base,
            "url": url,
            "csrf": creds.csrf if creds else "",
            "cookie_login": bool(creds and creds.from_cookie),
            **context,
        }
        response = templates.TemplateResponse(request, template, context, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    def require(request: Request) -> session.Credentials:
        creds = session.credentials(request)
        if creds is None:
            raise NeedLogin()
        if len(creds.token) > session.MAX_TOKEN_LENGTH:
            raise NeedLogin("that token is too long to be a Kubernetes token")
        return creds

    def check_namespace(namespace: str) -> str:
        if len(namespace) > 63 or not _NAMESPACE.match(namespace):
            raise Refused(404, f"{namespace!r} is not a namespace name")
        return namespace

    def check_version_path(name: str, version: str) -> None:
        try:
            validate_service_name(name)
            validate_version(version)
        except ValueError as error:
            raise Refused(404, str(error)) from None

    async def who(creds: session.Credentials) -> User:
        try:
            return await run_in_threadpool(clients.who, creds.token)
        except Refused as error:
            if error.status == 401:
                raise NeedLogin("the API server no longer accepts your token") from None
            raise

    async def form(request: Request) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", "replace")
        return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}

    def kube(creds: session.Credentials, namespace: str) -> Kube:
        return clients.kube(creds.token, check_namespace(namespace))

    async def call(function: Any, *args: Any) -> Any:
        """A blocking Kubernetes call, off the event loop; its refusal as ``Refused``."""
        try:
            return await run_in_threadpool(function, *args)
        except ApiException as exc:
            if exc.status == 401:
                raise NeedLogin("the API server no longer accepts your token") from None
            raise refused(exc) from None

    # --- errors -----------------------------------------------------------------------------

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, error: NeedLogin) -> Response:
        if session.credentials(request) and not request.cookies.get(DASHBOARD_TOKEN_COOKIE):
            return PlainTextResponse(
                f"401 Unauthorized: {error.why or 'the token was not accepted'}", status_code=401
            )
        target = url("/login", next=request.url.path, why=error.why)
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        accepts_html = "text/html" in request.headers.get("accept", "")
        if not accepts_html:
            return PlainTextResponse(
                "401 Unauthorized: log in, or send Authorization: Bearer <token>", status_code=401
            )
        response = RedirectResponse(target, status_code=303)
        if error.why:
            response.delete_cookie(DASHBOARD_TOKEN_COOKIE, path=base or "/")
        return response

    @app.exception_handler(Refused)
    async def show_refusal(request: Request, error: Refused) -> Response:
        creds = session.credentials(request)
        return page(
            request,
            "error.html",
            {"status": error.status, "message": error.message, "namespace": ""},
            status=error.status,
            creds=creds,
        )

    # --- health and login -------------------------------------------------------------------

    @router.get(LIVE_PATH)
    @router.get(READY_PATH)
    async def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @router.get("/login")
    async def login_form(request: Request, next: str = "", why: str = "") -> Response:
        nonce = session.new_login_nonce()
        response = page(request, "login.html", {"nonce": nonce, "next": next, "why": why})
        response.set_cookie(
            DASHBOARD_LOGIN_COOKIE, nonce, path=base or "/", httponly=True,
            samesite="strict", secure=session.is_https(request), max_age=3600,
        )  # fmt: skip
        return response

    @router.post("/login")
    async def login(request: Request) -> Response:
        sent = await form(request)
        token = "".join(sent.get("token", "").split())
        if not session.login_nonce_ok(request, sent.get("nonce", "")):
            return RedirectResponse(url("/login", why="the login form expired"), 303)
        if not token or len(token) > session.MAX_TOKEN_LENGTH:
            return RedirectResponse(url("/login", why="paste a Kubernetes bearer token"), 303)
        try:
            user = await run_in_threadpool(clients.who, token)
        except Refused as error:
            why = f"the API server refused the token ({error.status}: {error.message})"
            return RedirectResponse(url("/login", why=why), 303)
        namespace = session.token_namespace(token) or settings.default_namespace
        target = sent.get("next", "")
        if not target.startswith(f"{base}/ns/"):  # only our own pages: no open redirect
            target = url(f"/ns/{namespace}/")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            DASHBOARD_TOKEN_COOKIE, token, path=base or "/", httponly=True,
            samesite="strict", secure=session.is_https(request),
        )  # fmt: skip
        response.delete_cookie(DASHBOARD_LOGIN_COOKIE, path=base or "/")
        response.headers["X-Dashboard-User"] = user.name
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        creds = require(request)
        if not session.csrf_ok(creds, (await form(request)).get("csrf", "")):
            raise Refused(403, "the form is stale: reload the page and try again")
        response = RedirectResponse(url("/login"), status_code=303)
        response.delete_cookie(DASHBOARD_TOKEN_COOKIE, path=base or "/")
        return response

    @router.get("/")
    async def home(request: Request) -> Response:
        creds = require(request)
        namespace = session.token_namespace(creds.token) or settings.default_namespace
        return RedirectResponse(url(f"/ns/{namespace}/"), status_code=303)

    @router.get("/go")
    async def go(request: Request, namespace: str = "") -> Response:
        require(request)
        return RedirectResponse(url(f"/ns/{check_namespace(namespace.strip())}/"), 303)

    # --- services ---------------------------------------------------------------------------

    @router.get("/ns/{namespace}/")
    async def services(
        request: Request,
        namespace: str,
        q: str = "",
        page_number: int = Query(1, alias="page"),
        done: str = "",
    ) -> Response:
        creds = require(request)
        began = time.perf_counter()
        # Both at once: the page waits for one round trip to the API server, not two.
        user, objs = await asyncio.gather(who(creds), call(kube(creds, namespace).list_services))
        asked = time.perf_counter()
        groups = views.service_groups(objs, q)
        listing = views.paginate(groups, page_number, query=q)
        context = {"namespace": namespace, "user": user, "listing": listing, "done": done}
        response = page(request, "services.html", context, creds=creds)
        # Where the time went, for the browser's developer tools and bench/dashboard.py.
        api_ms, render_ms = (asked - began) * 1000, (time.perf_counter() - asked) * 1000
        response.headers["Server-Timing"] = f"api;dur={api_ms:.1f}, render;dur={render_ms:.1f}"
        return response

    async def write(
        request: Request, namespace: str, name: str, version: str, action: Callable[..., str]
    ) -> Response:
        """A form's write with the user's own token, back to the list saying what happened."""
        creds = require(request)
        check_version_path(name, version)
        if not session.csrf_ok(creds, (await form(request)).get("csrf", "")):
            raise Refused(403, "the form is stale: reload the page and try again")
        said = await call(action, kube(creds, namespace), name, version)
        return RedirectResponse(url(f"/ns/{namespace}/", done=said), status_code=303)

    @router.post("/ns/{namespace}/v/{name}/{version}/main")
    async def make_main(request: Request, namespace: str, name: str, version: str) -> Response:
        return await write(request, namespace, name, version, actions.make_main)

    @router.get("/ns/{namespace}/v/{name}/{version}/remove")
    async def confirm_remove(request: Request, namespace: str, name: str, version: str) -> Response:
        creds = require(request)
        check_version_path(name, version)
        user = await who(creds)
        context = {"namespace": namespace, "user": user, "name": name, "version": version}
        return page(request, "remove.html", context, creds=creds)

    @router.post("/ns/{namespace}/v/{name}/{version}/remove")
    async def remove(request: Request, namespace: str, name: str, version: str) -> Response:
        return await write(request, namespace, name, version, actions.remove)

    # --- notifications ----------------------------------------------------------------------

    async def notification_view(
        creds: session.Credentials, namespace: str, severity: str, service: str
    ) -> tuple[list[views.NotificationStack], list[str]]:
        events = await call(kube(creds, namespace).list_events, FIELD_SELECTOR)
        stacks = views.notification_stacks(events, severity, service)
        return stacks, views.notification_services(events)

    @router.get("/ns/{namespace}/notifications")
    async def notifications(
        request: Request, namespace: str, severity: str = "", service: str = ""
    ) -> Response:
        creds = require(request)
        user = await who(creds)
        stacks, names = await notification_view(creds, namespace, severity, service)
        stream = url(f"/ns/{namespace}/notifications/stream", severity=severity, service=service)
        context = {
            "namespace": namespace, "user": user, "stacks": stacks, "services": names,
            "severities": views.SEVERITIES, "severity": severity.upper(), "service": service,
            "stream": stream,
        }  # fmt: skip
        return page(request, "notifications.html", context, creds=creds)

    @router.get("/ns/{namespace}/notifications/stream")
    async def notifications_stream(
        request: Request, namespace: str, severity: str = "", service: str = ""
    ) -> Response:
        creds = require(request)
        check_namespace(namespace)
        fragment = templates.env.get_template("_notifications.html")

        async def render() -> tuple[Any, str]:
            try:
                stacks, _ = await notification_view(creds, namespace, severity, service)
            except NeedLogin as error:
                raise Refused(401, error.why) from None
            html = fragment.render(stacks=stacks, namespace=namespace, url=url)
            return views.stacks_signature(stacks), html

        return _event_stream(streams.changes(render, request.is_disconnected))

    # --- logs -------------------------------------------------------------------------------

    async def version_pods(
        creds: session.Credentials, namespace: str, name: str, version: str
    ) -> list[dict[str, Any]]:
        selector = f"{SERVICE_LABEL}={label_value(name)},{VERSION_LABEL}={label_value(version)}"
        pods = await call(kube(creds, namespace).list_pods, selector)
        return sorted(pods, key=pod_sort_key)

    def chosen_pod(pods: list[dict[str, Any]], wanted: str) -> tuple[str, str]:
        names = {p["metadata"]["name"]: p["spec"]["containers"][0]["name"] for p in pods}
        if wanted and wanted not in names:
            raise Refused(404, f"no pod {wanted!r} runs this version (it has {len(names)})")
        if not names:
            return "", ""
        pod = wanted or pods[-1]["metadata"]["name"]
        return pod, names[pod]

    def tail_of(text: str) -> int:
        if not text.strip():
            return DEFAULT_TAIL
        if not text.strip().isdigit():
            raise Refused(400, f"last={text!r}: give a number of lines")
        return max(1, min(int(text), MAX_TAIL))

    @router.get("/ns/{namespace}/logs/{name}/{version}")
    async def logs(
        request: Request, namespace: str, name: str, version: str,
        pod: str = "", q: str = "", last: str = "",
    ) -> Response:  # fmt: skip
        creds = require(request)
        check_version_path(name, version)
        user = await who(creds)
        tail = tail_of(last)
        pods = await version_pods(creds, namespace, name, version)
        pod_name, container = chosen_pod(pods, pod)
        lines: list[str] = []
        if pod_name:
            text = await call(kube(creds, namespace).pod_log, pod_name, container, tail)
            lines = views.log_lines(text, q)
        query = {"pod": pod_name, "q": q, "last": str(tail)}
        context = {
            "namespace": namespace, "user": user, "name": name, "version": version,
            "pods": [p["metadata"]["name"] for p in pods], "pod": pod_name, "q": q,
            "last": tail, "lines": lines,
            "stream": url(f"/ns/{namespace}/logs/{name}/{version}/stream", pod=pod_name, q=q),
            "download": url(f"/ns/{namespace}/logs/{name}/{version}/download", **query),
        }  # fmt: skip
        return page(request, "logs.html", context, creds=creds)

    @router.get("/ns/{namespace}/logs/{name}/{version}/download")
    async def download_logs(
        request: Request, namespace: str, name: str, version: str,
        pod: str = "", q: str = "", last: str = "",
    ) -> Response:  # fmt: skip
        creds = require(request)
        check_version_path(name, version)
        pods = await version_pods(creds, namespace, name, version)
        pod_name, container = chosen_pod(pods, pod)
        if not pod_name:
            raise Refused(404, f"{name} {version} has no pods")
        text = await call(kube(creds, namespace).pod_log, pod_name, container, tail_of(last))
        body = "".join(f"{line}\n" for line in views.log_lines(text, q))
        filename = quote(f"{name}_{version}_{pod_name}.log")
        headers = {"Content-Disposition": f"attachment; filename={filename}"}
        return PlainTextResponse(body, headers=headers)

    @router.get("/ns/{namespace}/logs/{name}/{version}/stream")
    async def stream_logs(
        request: Request, namespace: str, name: str, version: str, pod: str = "", q: str = ""
    ) -> Response:
        creds = require(request)
        check_version_path(name, version)
        pods = await version_pods(creds, namespace, name, version)
        pod_name, container = chosen_pod(pods, pod)
        if not pod_name:
            raise Refused(404, f"{name} {version} has no pods")
        lines = streams.follow_log(settings, creds.token, namespace, pod_name, container)
        return _event_stream(streams.log_events(lines, q, request.is_disconnected))

    # --- monitored values -------------------------------------------------------------------

    @router.get("/ns/{namespace}/monitor/{name}/{version}")
    async def monitor(
        request: Request, namespace: str, name: str, version: str, since: str = "1h"
    ) -> Response:
        creds = require(request)
        check_version_path(name, version)
        check_namespace(namespace)
        user = await who(creds)
        try:
            start = parse_since(since)
        except CliError as error:
            raise Refused(400, error.format_message()) from None
        address = settings.address_of(name, namespace, version)
        reader = Reader(Endpoint(name, address, f"{name} {version}", creds.token))
        problem, charts, other = "", [], []
        try:
            values = await run_in_threadpool(reader.values, [], start)
        except UnknownVariable:
            values = {}
        except CliError as error:
            problem, values = error.format_message(), {}
        for variable, series in sorted(values.items()):
            drawn = views.chart(variable, series)
            if drawn is None:
                other.append(variable)
            else:
                charts.append(drawn)
        context = {
            "namespace": namespace, "user": user, "name": name, "version": version,
            "since": since, "charts": charts, "other": other, "problem": problem,
        }  # fmt: skip
        return page(request, "monitor.html", context, creds=creds)

    app.include_router(router, prefix=base)
    if base:

        @app.get(base, include_in_schema=False)
        async def bare_base() -> Response:
            return RedirectResponse(f"{base}/", status_code=308)

    app.mount(f"{base}/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")

    return app


def _event_stream(events: Any) -> StreamingResponse:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)
