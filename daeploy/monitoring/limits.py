"""How much the store keeps and how often it drops the rest, read as Daeploy 1.x read them.

``DAEPLOY_SERVICE_DB_TABLE_LIMIT``: a number and a unit, ``rows`` or an age (``days``, ``hours``,
``minutes``, ``seconds``), default ``90days``. ``DAEPLOY_SERVICE_DB_CLEAN_INTERVAL``: an age,
default ``7days``. A bad value is logged with the accepted form and the default is used, as 1.x
did: a service must not fail to start over its retention setting.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import timedelta

from daeploy.contract import DB_CLEAN_INTERVAL_ENV, DB_TABLE_LIMIT_ENV

logger = logging.getLogger("daeploy.monitoring")

AGE_UNITS = ("days", "hours", "minutes", "seconds")
_VALUE = re.compile(r"^(?P<number>\d+)(?P<unit>[A-Za-z]+)$")


@dataclass(frozen=True)
class Limit:
    number: int
    unit: str
    """``rows`` or one of AGE_UNITS."""

    @property
    def age(self) -> timedelta | None:
        return None if self.unit == "rows" else timedelta(**{self.unit: self.number})


def _read(variable: str, default: Limit, units: tuple[str, ...]) -> Limit:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    match = _VALUE.match(raw)
    if match and match["unit"].lower() in units:
        found = Limit(int(match["number"]), match["unit"].lower())
        try:
            found.age  # noqa: B018 - an age beyond what a date can hold is refused here
            return found
        except OverflowError:
            pass
    logger.error(
        "%s=%r: give a number followed by %s (for example 1000rows or 30days); using %d%s",
        variable, raw, ", ".join(units), default.number, default.unit,
    )  # fmt: skip
    return default


def table_limit() -> Limit:
    return _read(DB_TABLE_LIMIT_ENV, Limit(90, "days"), ("rows", *AGE_UNITS))


def clean_interval_seconds() -> float:
    limit = _read(DB_CLEAN_INTERVAL_ENV, Limit(7, "days"), AGE_UNITS)
    return limit.age.total_seconds() if limit.age else 0.0
