"""Service parameters: named values the code reads and, if exposed, people change over HTTP.

As in 1.x: ``GET /~parameters`` lists every parameter, ``GET /~parameters/<name>`` answers one's
bare value (e.g. ``21.5``) and ``POST /~parameters/<name>`` with ``{"value": ...}`` sets an
exposed one and answers ``"OK"`` (405 for one added with ``expose=False``). The new value must
validate as the type of the value the parameter was created with (a 422 names ``value``
otherwise); a number is kept as a float, so ``1`` then ``2.5`` is fine.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from numbers import Number
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
        self._writable: set[str] = set()
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
            if isinstance(value, Number) and not isinstance(value, (bool, complex)):
                value = float(value)  # 1.x's rule; True stays a bool here, 1.x made it 1.0
            value_type = Any if value is None else type(value)
            self._types[name] = TypeAdapter(value_type)
            self._values[name] = value
            if expose:
                self._writable.add(name)
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

    def exists(self, name: str) -> bool:
        with self._lock:
            return name in self._values

    def is_writable(self, name: str) -> bool:
        """Added with ``expose=True``: changeable over HTTP (all are readable, as in 1.x)."""
        with self._lock:
            return name in self._writable

    def all(self) -> dict[str, Any]:
        with self._lock:
            return {name: self._values[name] for name in sorted(self._values)}


def add_parameter_routes(app: FastAPI, parameters: Parameters) -> None:
    def known_or_404(name: str) -> None:
        if not parameters.exists(name):
            raise HTTPException(404, f"no parameter {name!r}; GET {PREFIX} lists them")

    @app.get(PREFIX, tags=["parameters"])
    def list_parameters() -> dict[str, Any]:
        return parameters.all()

    @app.get(PREFIX + "/{name}", tags=["parameters"])
    def get_parameter(name: str) -> Any:
        known_or_404(name)
        return parameters.get(name)

    @app.post(PREFIX + "/{name}", tags=["parameters"])
    def set_parameter(name: str, value: Annotated[Any, Body(embed=True)]) -> str:
        known_or_404(name)
        if not parameters.is_writable(name):
            # 1.x served only GET at a parameter added with expose=False.
            raise HTTPException(
                405, f"parameter {name!r} was added with expose=False", headers={"Allow": "GET"}
            )
        try:
            parameters.set(name, value)
        except ValidationError as error:
            # Same shape as FastAPI's own 422s, pointing at the body's "value" field.
            raise RequestValidationError(
                [{**e, "loc": ("body", "value", *e["loc"])} for e in error.errors()]
            ) from None
        return "OK"
