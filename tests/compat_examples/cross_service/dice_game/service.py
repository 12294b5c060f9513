"""A dice game that never rolls itself: it asks the die_roller service, by name."""

import logging

from daeploy import service
from daeploy.communication import Severity, call_service, notify

logger = logging.getLogger(__name__)


@service.entrypoint
def throw_pair() -> dict:
    dice = []
    for _ in range(2):
        # The platform knows where die_roller runs; we only need its name.
        value = call_service(
            service_name="die_roller",
            entrypoint_name="roll_die",
            arguments={"sides": 6},
        )
        dice.append(value)

    if dice == [1, 1]:
        notify(msg="Snake eyes!", severity=Severity.INFO)

    logger.info(f"Threw {dice}")
    return {"dice": dice, "total": sum(dice)}


if __name__ == "__main__":
    service.run()
