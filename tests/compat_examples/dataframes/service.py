"""pandas DataFrames from entrypoint input: through a pydantic model, or directly."""

import logging

import pandas as pd
from pydantic import BaseModel

from daeploy import service
from daeploy.data_types import DataFrameInput, DataFrameOutput

logger = logging.getLogger(__name__)


class Readings(BaseModel):
    # Each column must be a list of numbers, or the call is refused with a 422.
    temperature: list[float]
    humidity: list[float]


@service.entrypoint
def column_means(readings: Readings) -> dict:
    frame = pd.DataFrame.from_dict(readings.dict())
    logger.info(f"Got readings:\n{frame}")
    return frame.mean().to_dict()


@service.entrypoint
def add_total(table: DataFrameInput) -> DataFrameOutput:
    # The JSON object of columns arrives as a DataFrame; the answer is one again.
    table["total"] = table.sum(axis=1)
    return table


if __name__ == "__main__":
    service.run()
