"""The ``service`` object: collects entrypoints, parameters and periodic tasks, then serves them.

``service.run()`` starts uvicorn on ``0.0.0.0:$DAEPLOY_PORT`` (8000). On SIGTERM the service
turns not-ready at once, keeps serving for ``DAEPLOY_SHUTDOWN_DELAY`` seconds (default 0: the
operator's preStop sleep already gives Kubernetes time to take the pod out of its endpoints),
then stops accepting connections and lets requests in flight finish, for at most
``DAEPLOY_GRACEFUL_TIMEOUT`` seconds (default 20); calls still running after that are abandoned
and the process exits with status 1. That is what lets a rolling update replace pods without
failed requests; keep preStop + delay + timeout below the pod's terminationGracePeriodSeconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar, overload

import uvicorn
from fastapi import FastAPI
from pydantic import ConfigDict, validate_call

from daeploy.access.guard import AccessGuard, GuardSettings
from daeploy.app import (
    Health,
    PrefixMiddleware,
    add_error_handlers,
    add_health_routes,
    add_index_route,
)
from daeploy.calls import close_async_client
from daeploy.contract import (
    ACCESS_URL_ENV,
    GRACEFUL_TIMEOUT_ENV,
    MONITOR_DB_ENV,
    NAMESPACE_ENV,
    PUBLIC_ENV,
    SHUTDOWN_DELAY_ENV,
)
from daeploy.docs_pages import add_docs_routes
from daeploy.entrypoints import check_method, endpoint_for, entrypoint_calls, route_options
from daeploy.identity import ConfigurationError, Identity, env_float, env_int
from daeploy.monitoring import quiet
from daeploy.monitoring.limits import clean_interval_seconds, table_limit
from daeploy.monitoring.metrics import ServiceMetrics, add_metrics_route
from daeploy.monitoring.routes import add_monitor_routes
from daeploy.monitoring.store import MonitorStore
from daeploy.parameters import Parameters, add_parameter_routes
from daeploy.periodic import PeriodicTasks, periodic_calls

logger = logging.getLogger("daeploy.service")

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_GRACEFUL_TIMEOUT = 20
DEFAULT_SHUTDOWN_DELAY = 0.0
# Longer than the proxies' idle timeouts in front of us (ingress-nginx keeps upstream
# connections 60 s), so the server is never the side that closes a connection being reused.
KEEP_ALIVE_SECONDS = 75
DEFAULT_MONITOR_DB = "service_db.db"  # 1.x's file name, in the working folder


_ANY_TYPES = ConfigDict(arbitrary_types_allowed=True)


def validating(function: F) -> F:
    """``function`` behind pydantic's argument validation, for direct Python calls.

    1.x's ``service.entrypoint`` returned ``validate_arguments(func)``, so code and unit tests
    calling an entrypoint function got its arguments converted as a request's would be (lists
    to arrays for ``ArrayInput``, ``"2"`` to ``2`` for ``int``) and a ``ValidationError`` for
    ones that do not fit; the return value is not validated. Annotations pydantic cannot handle
    leave the function as it is rather than failing at decoration.
    """
    try:
        validated = validate_call(function, config=_ANY_TYPES)
    except Exception as error:
        logger.debug("%r is called unvalidated: %s", function, error)
        return function
    return validated  # type: ignore[return-value]


class GracefulServer(uvicorn.Server):
    """uvicorn, plus: not-ready on SIGTERM and an optional drain delay before closing."""

    def __init__(self, config: uvicorn.Config, health: Health, shutdown_delay: float) -> None:
        super().__init__(config)
        self.health = health
        self.shutdown_delay = shutdown_delay
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.health.stopping()
        if sig == signal.SIGTERM and self.shutdown_delay > 0 and not self._draining:
            self._draining = True
            logger.info(
                "SIGTERM: not ready, serving %.1f s more before shutting down", self.shutdown_delay
            )
            timer = threading.Timer(self.shutdown_delay, self._exit_now)
            timer.daemon = True
            timer.start()
            return
        super().handle_exit(sig, frame)

    def _exit_now(self) -> None:
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        # Sync functions run in worker threads that cancelling cannot stop, and the interpreter
        # waits for those threads at exit. A periodic task still in its call gets the graceful
        # timeout to finish; an entrypoint still running has already outlived it.
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 0)
        while periodic_calls.running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stuck = entrypoint_calls.running + periodic_calls.running
        if stuck:
            logger.error(
                "graceful timeout: abandoning %d call(s) still running in threads; exiting", stuck
            )
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)


class Service:
    """A Daeploy service; ``from daeploy import service`` gives the process-wide instance."""

    def __init__(self) -> None:
        self._identity: Identity | None = None
        self.health = Health()
        self.parameters = Parameters()
        self.periodic = PeriodicTasks()
        self.metrics = ServiceMetrics()
        self.monitor = MonitorStore(
            Path(os.environ.get(MONITOR_DB_ENV) or DEFAULT_MONITOR_DB),
            on_values=self.metrics.stored.update_all,
        )
        self.periodic.add(self._clean_monitor, clean_interval_seconds(), True)
        # The docs pages are ours (daeploy.docs_pages): FastAPI's load their files from a CDN.
        self.app = FastAPI(lifespan=self._lifespan, docs_url=None, redoc_url=None)
        # Added first, so it runs inside PrefixMiddleware and sees the path below the prefix.
        self.app.add_middleware(AccessGuard, settings=self._guard_settings)
        self.app.add_middleware(PrefixMiddleware, prefixes=lambda: self.identity.prefixes)
        add_health_routes(self.app, self.health)
        add_index_route(self.app, lambda: self.identity)
        add_docs_routes(self.app)
        add_parameter_routes(self.app, self.parameters)
        add_monitor_routes(self.app, self.monitor)
        add_metrics_route(self.app, self.metrics, before=lambda: self.monitor.flush(timeout=5))
        add_error_handlers(self.app)

    @property
    def identity(self) -> Identity:
        """Read from the environment on first use (see ``daeploy.identity``)."""
        if self._identity is None:
            self._identity = Identity.from_env()
        return self._identity

    def _guard_settings(self) -> GuardSettings | None:
        """Access control is on when the operator gave the pod the gate's address."""
        gate_url = os.environ.get(ACCESS_URL_ENV, "").strip()
        if not gate_url:
            return None
        identity = self.identity
        if not identity.namespace:
            raise ConfigurationError(f"{ACCESS_URL_ENV} is set but {NAMESPACE_ENV} is not")
        return GuardSettings(
            gate_url=gate_url,
            namespace=identity.namespace,
            service=identity.name,
            public=os.environ.get(PUBLIC_ENV, "").strip().lower() == "true",
        )

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def version(self) -> str:
        return self.identity.version

    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        app.title = self.identity.name
        app.version = self.identity.version
        app.openapi_schema = None
        await self.periodic.start()
        self.health.started()
        try:
            yield
        finally:
            self.health.stopping()
            await self.periodic.stop()
            await close_async_client()
            self.monitor.close()  # writes everything still queued

    def _clean_monitor(self) -> None:
        removed = self.monitor.clean(table_limit())
        if removed:
            logger.info("monitoring store: %d old values removed", removed)

    @overload
    def entrypoint(self, func: F) -> F: ...

    @overload
    def entrypoint(
        self,
        func: None = None,
        *,
        method: str = "POST",
        path: str | None = None,
        monitor: bool = False,
        disable_http_logs: bool = False,
        **options: Any,
    ) -> Callable[[F], F]: ...

    def entrypoint(
        self,
        func: F | None = None,
        *,
        method: str = "POST",
        path: str | None = None,
        monitor: bool = False,
        disable_http_logs: bool = False,
        **options: Any,
    ) -> F | Callable[[F], F]:
        """Serve ``func`` at ``/<func name>`` (or ``path``); use bare or with options.

        ``monitor`` stores each call's arguments and result (``<name>_request``,
        ``<name>_response``, JSON) in the monitoring store: the call queues them, the store's
        writer encodes them a moment later (a dict or list result is copied one level deep; a
        result the function keeps and changes deeper within ~50 ms is stored as changed);
        ``disable_http_logs`` leaves its calls out of the access log (both as in 1.x).
        ``options`` go to FastAPI's ``add_api_route`` and win over ours (``status_code``,
        ``response_model``, ``tags``, ...). Returned is the function behind pydantic's argument
        validation, for direct calls as in 1.x (see ``validating``); requests use the function
        itself.
        """
        verb = check_method(method)

        def register(function: F) -> F:
            options_ = route_options(function, verb, path, options)
            taken = {
                (getattr(route, "path", None), m)
                for route in self.app.router.routes
                for m in (getattr(route, "methods", None) or ())
            }
            if (options_["path"], verb) in taken:
                raise ValueError(
                    f"{verb} {options_['path']} is already served; give the entrypoint another "
                    "name or path"
                )
            after = self._monitor_calls(function.__name__) if monitor else None
            label = function.__name__

            def record(code: int, seconds: float) -> None:
                self.metrics.record(label, code, seconds)

            endpoint = endpoint_for(
                function, verb, after, record, ok=int(options_.get("status_code") or 200)
            )
            # The router's own method: it takes route_class_override (1.x GETs with a body).
            self.app.router.add_api_route(endpoint=endpoint, **options_)
            self.app.openapi_schema = None
            if disable_http_logs:
                quiet.quiet_paths.suffixes.add(options_["path"])
            return validating(function)

        return register if func is None else register(func)

    def _monitor_calls(self, name: str) -> Callable[[dict[str, Any], Any], None]:
        """One queue put per call, on the event loop; encoding is the store's writer's."""
        store_call = self.monitor.store_call

        def record(arguments: dict[str, Any], result: Any) -> None:
            store_call(name, arguments, result)

        return record

    def store(self, **variables: Any) -> None:
        """Record values in the monitoring store (numbers as floats, strings as they are,
        anything else as JSON), all with this moment's timestamp; read at ``/~monitor``, the
        numbers also in ``/~metrics``. Costs the caller one queue put: the writer thread does
        the rest a moment later (see ``daeploy.monitoring.store`` on values changed after)."""
        self.monitor.store_values(variables)

    def add_parameter(
        self,
        name: str,
        value: Any,
        expose: bool = True,
        monitor: bool = False,
        disable_http_logs: bool = False,
    ) -> None:
        """A named value, read at ``GET /~parameters/<name>``; ``expose`` also lets
        ``POST /~parameters/<name>`` change it (as in 1.x); a number is kept as a float; ``monitor``
        stores its first value and every change; ``disable_http_logs`` as for entrypoints."""
        watch = (lambda key, new: self.store(**{key: new})) if monitor else None
        self.parameters.add(name, value, expose=expose, on_change=watch)
        if disable_http_logs:
            quiet.quiet_paths.suffixes.add(f"/~parameters/{name}")

    def get_parameter(self, name: str) -> Any:
        return self.parameters.get(name)

    def set_parameter(self, name: str, value: Any) -> Any:
        return self.parameters.set(name, value)

    def call_every(self, seconds: float, wait_first: bool = False) -> Callable[[F], F]:
        """Call the decorated function every ``seconds`` while the service runs."""

        def register(function: F) -> F:
            self.periodic.add(function, seconds, wait_first)
            return function

        return register

    def run(self, host: str = "0.0.0.0", port: int | None = None, log_level: str = "info") -> None:
        """Serve until SIGTERM/SIGINT; see the module docstring for the shutdown sequence."""
        quiet.install()
        if not logging.getLogger().handlers:
            logging.basicConfig(
                level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
            )
            # One line per outgoing call would drown the service's own logs.
            logging.getLogger("httpx").setLevel(logging.WARNING)
        identity = self.identity
        delay = env_float(SHUTDOWN_DELAY_ENV, DEFAULT_SHUTDOWN_DELAY, minimum=0, maximum=600)
        graceful = env_int(GRACEFUL_TIMEOUT_ENV, DEFAULT_GRACEFUL_TIMEOUT, minimum=0, maximum=3600)
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port or identity.port,
            log_level=log_level,
            timeout_graceful_shutdown=graceful,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            # httptools (llhttp, in C) parses and uvloop (libuv) runs the loop: about 30% less
            # CPU per request than h11 and asyncio's pure-Python loop (bench/throughput.py).
            # Both are dependencies of the package.
            http="httptools",
            loop="uvloop",
        )
        logger.info(
            "serving %s %s on %s:%s (also under %s)",
            identity.name,
            identity.version,
            host,
            config.port,
            " and ".join(identity.prefixes),
        )
        if threading.current_thread() is threading.main_thread():
            # uvicorn re-raises the signal it stopped for; after a clean drain that should
            # not kill the process with status 143, so SIGTERM ends it normally instead.
            signal.signal(signal.SIGTERM, lambda _sig, _frame: None)
        GracefulServer(config, self.health, delay).run()


service = Service()
