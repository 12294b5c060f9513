"""Counts the requests it receives; RECORDER_MODE=fail or slow makes a troubled version
(tests/cluster/test_traffic_cluster.py, bench/traffic.py)."""

import asyncio
import os

from fastapi import HTTPException

from daeploy import service
from daeploy.utilities import get_service_version

VERSION = get_service_version()
MODE = os.environ.get("RECORDER_MODE", "")
received = {"hit": 0}


@service.entrypoint
async def hit(n: int = 0) -> int:
    """Counts on arrival, then answers with the major version (or fails, or dawdles)."""
    received["hit"] += 1
    if MODE == "fail":
        raise HTTPException(status_code=500, detail="a failing shadow")
    if MODE == "slow":
        await asyncio.sleep(2)
    return int(VERSION.split(".")[0])


@service.entrypoint(method="GET")
def count() -> int:
    return received["hit"]


if __name__ == "__main__":
    service.run()
