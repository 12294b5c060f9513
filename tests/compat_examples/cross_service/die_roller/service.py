"""A die that other services roll: the callee half of the cross-service example."""

import logging
from random import randint

from daeploy import service

logger = logging.getLogger(__name__)


@service.entrypoint
def roll_die(sides: int = 6) -> int:
    # Any other service can roll this die with call_service("die_roller", "roll_die").
    return randint(1, sides)


if __name__ == "__main__":
    service.run()
