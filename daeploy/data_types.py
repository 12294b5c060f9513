"""numpy arrays and pandas DataFrames as entrypoint arguments and results, as in Daeploy 1.x.

JSON cannot carry them, so these annotations convert at the edge and the function works with
the real thing::

    @service.entrypoint
    def add(array1: ArrayInput, array2: ArrayInput) -> ArrayOutput:
        return array1 + array2  # two numpy arrays in, one out; [1, 2] + [3, 4] answers [4, 6]

The JSON shapes are 1.x's: an array is a (nested) JSON list, ``numpy.array(value)`` in and
``.tolist()`` out; a DataFrame is an object of columns, ``DataFrame.from_dict(value)`` in (each
column a list, or an object of index to value) and ``.to_dict()`` out (an object of index to
value per column). Unlike 1.x, each type works both ways, as argument and as result.

numpy and pandas are optional dependencies of Daeploy: ``pip install 'daeploy[data]'``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

try:
    import numpy as np
    import pandas as pd
except ImportError as error:
    raise ImportError(
        f"daeploy.data_types needs numpy and pandas ({error.name or error} is missing): "
        "pip install 'daeploy[data]'"
    ) from error

__all__ = ["ArrayInput", "ArrayOutput", "DataFrameInput", "DataFrameOutput"]


def _to_array(value: Any) -> np.ndarray:
    """A ragged list fails here, and pydantic turns the ValueError into a 422."""
    return np.array(value)


def _from_array(value: np.ndarray) -> list[Any]:
    return value.tolist()


def _to_frame(value: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(value)


def _from_frame(value: pd.DataFrame) -> dict[Any, Any]:
    return value.to_dict()


def _convert_at_the_edge(
    kind: type,
    wire: CoreSchema,
    parse: Callable[[Any], Any],
    dump: Callable[[Any], Any],
) -> CoreSchema:
    """JSON ``wire`` shape in, ``kind`` inside; an object of ``kind`` itself passes unchanged.

    FastAPI validates request bodies in Python mode, after JSON decoding, so the Python side
    must accept the wire shape as well as ready-made objects (e.g. a returned result).
    """
    parsed = core_schema.no_info_after_validator_function(parse, wire)

    def ready_or_parsed(value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
        return value if isinstance(value, kind) else handler(value)

    return core_schema.json_or_python_schema(
        json_schema=parsed,
        python_schema=core_schema.no_info_wrap_validator_function(ready_or_parsed, parsed),
        serialization=core_schema.plain_serializer_function_ser_schema(dump, return_schema=wire),
    )


_ARRAY_WIRE = core_schema.list_schema(core_schema.any_schema())
_FRAME_WIRE = core_schema.dict_schema(core_schema.any_schema(), core_schema.any_schema())


class ArrayInput(np.ndarray):
    """A ``numpy.ndarray`` argument sent as a JSON list (nested for more dimensions)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _convert_at_the_edge(np.ndarray, _ARRAY_WIRE, _to_array, _from_array)

    @classmethod
    def validate(cls, value: list[Any]) -> np.ndarray:
        """1.x's converter, for tests that call it directly: list to array."""
        return _to_array(value)


class ArrayOutput(np.ndarray):
    """A ``numpy.ndarray`` result answered as a JSON list."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _convert_at_the_edge(np.ndarray, _ARRAY_WIRE, _to_array, _from_array)

    @classmethod
    def validate(cls, value: np.ndarray) -> list[Any]:
        """1.x's converter, for tests that call it directly: array to list."""
        return _from_array(value)


class DataFrameInput(pd.DataFrame):
    """A ``pandas.DataFrame`` argument sent as a JSON object of columns."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _convert_at_the_edge(pd.DataFrame, _FRAME_WIRE, _to_frame, _from_frame)

    @classmethod
    def validate(cls, value: dict[str, Any]) -> pd.DataFrame:
        """1.x's converter, for tests that call it directly: columns to DataFrame."""
        return _to_frame(value)


class DataFrameOutput(pd.DataFrame):
    """A ``pandas.DataFrame`` result answered as a JSON object of columns (index to value)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _convert_at_the_edge(pd.DataFrame, _FRAME_WIRE, _to_frame, _from_frame)

    @classmethod
    def validate(cls, value: pd.DataFrame) -> dict[Any, Any]:
        """1.x's converter, for tests that call it directly: DataFrame to columns."""
        return _from_frame(value)
