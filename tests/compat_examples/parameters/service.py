"""A thermostat whose settings are parameters: changed over HTTP without a redeploy."""

import logging

from daeploy import service

logger = logging.getLogger(__name__)

DEFAULT_TARGET = 21.5

service.add_parameter("target_temperature", DEFAULT_TARGET)
service.add_parameter("unit", "celsius")


@service.entrypoint
def advise(current: float) -> str:
    target = service.get_parameter("target_temperature")
    unit = service.get_parameter("unit")
    if current < target:
        return f"Heat: {current} is below {target} {unit}"
    if current > target:
        return f"Cool: {current} is above {target} {unit}"
    return f"Keep: {current} is {target} {unit}"


@service.entrypoint
def reset_target() -> float:
    # Parameters can be changed from the code too.
    return service.set_parameter("target_temperature", DEFAULT_TARGET)


if __name__ == "__main__":
    service.run()
