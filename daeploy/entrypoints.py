"""Turning a typed function into a FastAPI route.

A POST (PUT, PATCH, DELETE) entrypoint takes its arguments as fields of one JSON object, so
``def add(a: int, b: int = 1)`` answers ``POST /add`` with ``{"a": 2}``; a GET entrypoint takes
them as query parameters (or, as 1.x did, as a JSON body). The return annotation is the response
model. Sync functions run in the entrypoints' own worker threads (they may block, e.g. in
``call_service``; see ``daeploy.workers``), async ones on the event loop.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import typing
from collections.abc import Callable
from typing import Any

from fastapi import Body, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError, create_model
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from daeploy.calls import ServiceCallError
from daeploy.workers import WorkerThreads

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
METHODS = BODY_METHODS | {"GET"}


class ThreadCalls:
    """Sync periodic tasks in anyio's threads, counted: cancelling cannot stop a thread.

    At shutdown the server waits for these calls (anyio shields a call in progress from the
    task's cancellation) and checks the count, with ``entrypoint_calls.running``, to decide
    whether to end the process instead of waiting. Entrypoints have threads of their own
    (``daeploy.workers``): one call there costs a fraction of this.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    async def run(self, func: Callable[..., Any], **kwargs: Any) -> Any:
        def tracked() -> Any:
            with self._lock:
                self._running += 1
            try:
                return func(**kwargs)
            finally:
                with self._lock:
                    self._running -= 1

        return await run_in_threadpool(tracked)


entrypoint_calls = WorkerThreads(name="daeploy-entrypoint")
logger = logging.getLogger("daeploy.entrypoints")


class EntrypointError(TypeError):
    """A function that cannot be served as an entrypoint; the message says what to change."""


def _is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


def _type_hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception as error:
        raise EntrypointError(
            f"entrypoint {func.__name__!r}: cannot resolve its type annotations ({error}); "
            "import the types it names at module level"
        ) from error


def _arguments(func: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """(name, annotation, default or ...) per argument; rejects what JSON cannot carry."""
    hints = _type_hints(func)
    arguments = []
    for parameter in inspect.signature(func).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise EntrypointError(
                f"entrypoint {func.__name__!r}: *args and **kwargs cannot come from a request; "
                "give every argument its own name and type"
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise EntrypointError(
                f"entrypoint {func.__name__!r}: argument {parameter.name!r} is positional-only; "
                "remove the '/' so it can be passed by name"
            )
        if parameter.name.startswith("_"):
            raise EntrypointError(
                f"entrypoint {func.__name__!r}: argument {parameter.name!r} starts with '_', "
                "which JSON field names cannot; rename it"
            )
        annotation = hints.get(parameter.name, Any)
        default = ... if parameter.default is parameter.empty else parameter.default
        arguments.append((parameter.name, annotation, default))
    return arguments


def response_model(func: Callable[..., Any]) -> Any:
    annotation = _type_hints(func).get("return", None)
    return None if annotation in (None, type(None), Any) else annotation


def _model_name(func_name: str) -> str:
    return "".join(part.capitalize() for part in func_name.split("_") if part) + "Input"


def endpoint_for(
    func: Callable[..., Any],
    method: str,
    after: Callable[[dict[str, Any], Any], None] | None = None,
    record: Callable[[int, float], None] | None = None,
    ok: int = 200,
) -> Callable[..., Any]:
    """An async FastAPI endpoint that validates the request and calls ``func``; ``after`` hears
    the arguments and the result of every call that returned (``monitor=True`` stores them),
    ``record`` the status code and the seconds of every call (``/~metrics``)."""
    arguments = _arguments(func)
    is_async = _is_async(func)

    async def call(values: dict[str, Any]) -> Any:
        if is_async:
            return await func(**values)
        return await entrypoint_calls.run(func, **values)

    async def invoke(values: dict[str, Any]) -> Any:
        start = time.perf_counter()
        try:
            result = await call(values)
        except HTTPException as error:
            if record is not None:
                record(error.status_code, time.perf_counter() - start)
            raise
        except ServiceCallError as error:  # answered 502/503/504 by the app's handler
            if record is not None:
                record(error.gateway_status, time.perf_counter() - start)
            raise
        except Exception:
            if record is not None:
                record(500, time.perf_counter() - start)
            # Answered here rather than raised: Starlette re-raises an unhandled error after
            # its 500, and uvicorn then drops the kept-alive connection, so the ingress's next
            # request on it (anyone's) would fail with a 502.
            logger.exception("entrypoint %s failed", func.__name__)
            return PlainTextResponse("Internal Server Error", status_code=500)
        if record is not None:
            record(ok, time.perf_counter() - start)
        if after is not None:
            after(values, result)
        return result

    if method not in BODY_METHODS:

        async def query_endpoint(**values: Any) -> Any:
            return await invoke(values)

        query_endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter(
                    name, inspect.Parameter.KEYWORD_ONLY, default=Query(default), annotation=ann
                )
                for name, ann, default in arguments
            ]
        )
        if arguments:
            query_endpoint.json_body_call = _json_body_call(func, arguments, invoke)  # type: ignore[attr-defined]
        endpoint = query_endpoint
    elif not arguments:

        async def empty_endpoint() -> Any:
            return await invoke({})

        endpoint = empty_endpoint
    else:
        model: type[BaseModel] = create_model(  # type: ignore[call-overload]
            _model_name(func.__name__),
            **{name: (ann, default) for name, ann, default in arguments},
        )
        names = [name for name, _, _ in arguments]
        optional = all(default is not ... for _, _, default in arguments)

        async def body_endpoint(body: Any) -> Any:
            given = model() if body is None else body
            return await invoke({name: getattr(given, name) for name in names})

        body_annotation = model | None if optional else model
        body_default = Body(None) if optional else Body(...)
        body_endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter(
                    "body",
                    inspect.Parameter.KEYWORD_ONLY,
                    default=body_default,
                    annotation=body_annotation,
                )
            ]
        )
        endpoint = body_endpoint
    endpoint.__name__ = func.__name__
    endpoint.__qualname__ = func.__qualname__
    endpoint.__doc__ = func.__doc__
    return endpoint


def _json_body_call(
    func: Callable[..., Any],
    arguments: list[tuple[str, Any, Any]],
    invoke: Callable[[dict[str, Any]], Any],
) -> Callable[[bytes], Any]:
    """The GET entrypoint's arguments read from a JSON object body, validated as the query
    parameters would be (errors answer 422 with FastAPI's shape, located in ``body``)."""
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        _model_name(func.__name__), **{name: (ann, default) for name, ann, default in arguments}
    )
    names = [name for name, _, _ in arguments]

    async def call(raw: bytes) -> Any:
        try:
            given = model.model_validate_json(raw)
        except ValidationError as error:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
            raise RequestValidationError(errors) from None
        return await invoke({name: getattr(given, name) for name in names})

    return call


class JsonBodyGetRoute(APIRoute):
    """A GET entrypoint that also takes its arguments as a JSON body.

    Daeploy 1.x read every entrypoint's arguments from a JSON body, GET ones too, so 1.x
    callers send ``GET /name`` with ``{"a": 1}``; here GET arguments are query parameters (what
    the docs page and browsers can send). A GET with a JSON body and no query string is served
    from the body; anything else goes the usual way.
    """

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()
        body_call = getattr(self.endpoint, "json_body_call", None)
        if body_call is None:
            return handler

        async def route(request: Request) -> Response:
            if not request.url.query and request.headers.get("content-type", "").startswith(
                "application/json"
            ):
                raw = await request.body()
                if raw.strip():
                    result = await body_call(raw)
                    if isinstance(result, Response):
                        return result
                    return JSONResponse(
                        jsonable_encoder(result), status_code=self.status_code or 200
                    )
            return await handler(request)

        return route


def route_options(
    func: Callable[..., Any], method: str, path: str | None, overrides: dict[str, Any]
) -> dict[str, Any]:
    """Our defaults for ``add_api_route``; options given to the decorator win."""
    options: dict[str, Any] = {
        "path": path or f"/{func.__name__}",
        "methods": [method],
        "response_model": response_model(func),
        "name": func.__name__,
        "description": inspect.getdoc(func) or "",
    }
    if method not in BODY_METHODS:
        options["route_class_override"] = JsonBodyGetRoute
    options.update(overrides)
    return options


def check_method(method: str) -> str:
    upper = method.upper() if isinstance(method, str) else ""
    if upper not in METHODS:
        raise EntrypointError(
            f"method={method!r} is not supported: use one of {', '.join(sorted(METHODS))}"
        )
    return upper
