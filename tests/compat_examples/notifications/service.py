"""Room booking that raises a notification when someone goes for a restricted room."""

import logging

from daeploy import service
from daeploy.communication import Severity, notify
from daeploy.exceptions import HTTPException

logger = logging.getLogger(__name__)

RESTRICTED_ROOMS = ["server room", "vault"]


@service.entrypoint
def book_room(room: str) -> str:
    if room.lower() in RESTRICTED_ROOMS:
        message = f"Refused a booking of the restricted room: {room}"
        # Shows up with the other notifications (dashboard/CLI) and the request is refused.
        notify(msg=message, severity=Severity.WARNING)
        raise HTTPException(403, detail=message)

    logger.info(f"Booking room {room}")
    return f"Booked {room}"


if __name__ == "__main__":
    service.run()
