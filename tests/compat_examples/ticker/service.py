"""A ticker: call_every runs a function on a schedule while the service is up."""

import logging
import time

from daeploy import service

logger = logging.getLogger(__name__)

STATE = {"ticks": 0, "last_tick": None}


@service.call_every(seconds=1)
def tick():
    # Called once a second, without arguments, from the moment the service starts.
    STATE["ticks"] += 1
    STATE["last_tick"] = time.time()


@service.entrypoint(method="GET")
def ticks() -> dict:
    return dict(STATE)


if __name__ == "__main__":
    service.run()
