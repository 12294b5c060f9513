"""daeploy.data_types through HTTP: JSON in, numpy/pandas inside the function, 1.x's JSON out."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from daeploy._service import Service
from daeploy.data_types import ArrayInput, ArrayOutput, DataFrameInput, DataFrameOutput

seen: dict[str, Any] = {}


def _serve() -> Service:
    """Entrypoints as 1.x's typing tutorial writes them; they note what they were given."""
    service = Service()

    @service.entrypoint
    def array_sum(array1: ArrayInput, array2: ArrayInput) -> ArrayOutput:
        seen["array1"] = array1
        return array1 + array2

    @service.entrypoint
    def transpose(matrix: ArrayInput) -> ArrayInput:  # an Input type as result works too
        return matrix.T

    @service.entrypoint
    def row_sum(data: DataFrameInput) -> DataFrameOutput:
        seen["data"] = data
        return data.assign(total=data.sum(axis=1))

    @service.entrypoint
    def echo_frame(data: DataFrameInput) -> DataFrameOutput:
        return data

    return service


@pytest.fixture
def http(sdk_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    sdk_env.chdir(tmp_path)  # the Service's monitoring store is a file in the working folder
    seen.clear()
    with TestClient(_serve().app) as client:
        yield client


def test_arrays_in_and_out(http: TestClient) -> None:
    response = http.post("/array_sum", json={"array1": [1, 2, 3], "array2": [4, 5, 6]})
    assert response.status_code == 200
    assert response.json() == [5, 7, 9]  # summed, not concatenated as lists would be
    assert isinstance(seen["array1"], np.ndarray)
    assert seen["array1"].dtype.kind == "i"


def test_arrays_of_two_dimensions(http: TestClient) -> None:
    matrix = [[1.5, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert http.post("/transpose", json={"matrix": matrix}).json() == [
        [1.5, 3.0, 5.0],
        [2.0, 4.0, 6.0],
    ]


def test_dataframes_in_and_out_in_1x_shapes(http: TestClient) -> None:
    response = http.post("/row_sum", json={"data": {"a": [1, 2], "b": [10, 20]}})
    assert response.status_code == 200
    # DataFrame.to_dict(): per column, index to value; JSON object keys are strings.
    assert response.json() == {
        "a": {"0": 1, "1": 2},
        "b": {"0": 10, "1": 20},
        "total": {"0": 11, "1": 22},
    }
    frame = seen["data"]
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["a", "b"]


def test_a_dataframe_answer_can_be_sent_back(http: TestClient) -> None:
    first = http.post("/echo_frame", json={"data": {"x": [1.5, None], "s": ["p", "q"]}}).json()
    assert first == {"x": {"0": 1.5, "1": None}, "s": {"0": "p", "1": "q"}}
    assert http.post("/echo_frame", json={"data": first}).json() == first


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/array_sum", {"array1": [[1], [1, 2]], "array2": [1]}, "array1"),  # ragged
        ("/array_sum", {"array1": "1,2", "array2": [1]}, "array1"),  # not a list
        ("/row_sum", {"data": {"a": [1], "b": [1, 2]}}, "data"),  # columns of two lengths
        ("/row_sum", {"data": [1, 2]}, "data"),  # not an object
    ],
)
def test_bad_shapes_get_422_naming_the_argument(
    http: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    response = http.post(path, json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_the_api_docs_describe_the_json_shapes(http: TestClient) -> None:
    schema = http.get("/openapi.json").json()
    models = schema["components"]["schemas"]
    assert models["ArraySumInput"]["properties"]["array1"]["type"] == "array"
    assert models["RowSumInput"]["properties"]["data"]["type"] == "object"
    answer = schema["paths"]["/array_sum"]["post"]["responses"]["200"]["content"]
    assert answer["application/json"]["schema"]["type"] == "array"


def test_1x_converters_called_directly() -> None:
    array = ArrayInput.validate([1, 2])
    assert isinstance(array, np.ndarray)
    assert ArrayOutput.validate(array) == [1, 2]
    frame = DataFrameInput.validate({"a": [1, 2]})
    assert DataFrameOutput.validate(frame) == {"a": {0: 1, 1: 2}}


def test_without_numpy_or_pandas_the_import_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # makes `import numpy` fail
    monkeypatch.delitem(sys.modules, "daeploy.data_types")
    with pytest.raises(ImportError, match=r"pip install 'daeploy\[data\]'"):
        importlib.import_module("daeploy.data_types")
