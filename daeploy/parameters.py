"""Service parameters: named values the code reads and, if exposed, people change over HTTP.

``GET /~parameters`` lists exposed parameters, ``GET /~parameters/<name>`` reads one and
``POST /~parameters/<name>`` with ``{"value": ...}`` sets it; the new value must validate as the
type of the value the parameter was created with (a 422 names ``value`` otherwise).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

PREFIX = "/~parameters"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Parameters:
    """Thread-safe store: entrypoints run in a thread pool and may read while HTTP writes."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._types: dict[str, TypeAdapter[Any]] = {}
        self._exposed: set[str] = set()
        self._watchers: dict[str, Callable[[str, Any], None]] = {}
        self._lock = threading.Lock()

    def add(
        self,
        name: str,
        value: Any,
        expose: bool = True,
        on_change: Callable[[str, Any], None] | None = None,
    ) -> None:
        """``on_change`` hears the first value and every change (``monitor=True`` stores them)."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(
                f"parameter name {name!r} is not valid: use letters, digits and underscores, "
                "not starting with a digit"
            )
        with self._lock:
            if name in self._values:
                raise ValueError(
                    f"parameter {name!r} already exists; use set_parameter to change its value"
                )
            value_type = Any if value is None else type(value)
            self._types[name] = TypeAdapter(value_type)
            self._values[name] = value
            if expose:
                self._exposed.add(name)
            if on_change is not None:
                self._watchers[name] = on_change
        if on_change is not None:
            on_change(name, value)

    def get(self, name: str) -> Any:
        with self._lock:
            if name not in self._values:
                raise KeyError(f"no parameter {name!r}; add it with service.add_parameter")
            return self._values[name]

    def set(self, name: str, value: Any) -> Any:
        with self._lock:
            if name not in self._values:
                raise KeyError(f"no parameter {name!r}; add it with service.add_parameter")
            checked = self._types[name].validate_python(value)
            self._values[name] = checked
            watcher = self._watchers.get(name)
        if watcher is not None:
            watcher(name, checked)
        return checked

    def is_exposed(self, name: str) -> bool:
        with self._lock:
            return name in self._exposed

    def exposed(self) -> dict[str, Any]:
        with self._lock:
            return {name: self._values[name] for name in sorted(self._exposed)}


def add_parameter_routes(app: FastAPI, parameters: Parameters) -> None:
    def exposed_or_404(name: str) -> None:
        if not parameters.is_exposed(name):
            raise HTTPException(404, f"no exposed parameter {name!r}; GET {PREFIX} lists them")

    @app.get(PREFIX, tags=["parameters"])
    def list_parameters() -> dict[str, Any]:
        return parameters.exposed()

    @app.get(PREFIX + "/{name}", tags=["parameters"])
    def get_parameter(name: str) -> dict[str, Any]:
        exposed_or_404(name)
        return {"name": name, "value": parameters.get(name)}

    @app.post(PREFIX + "/{name}", tags=["parameters"])
    def set_parameter(name: str, value: Annotated[Any, Body(embed=True)]) -> dict[str, Any]:
        exposed_or_404(name)
        try:
            return {"name": name, "value": parameters.set(name, value)}
        except ValidationError as error:
            # Same shape as FastAPI's own 422s, pointing at the body's "value" field.
            raise RequestValidationError(
                [{**e, "loc": ("body", "value", *e["loc"])} for e in error.errors()]
            ) from None
