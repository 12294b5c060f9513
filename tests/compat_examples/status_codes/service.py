"""A tiny note store whose entrypoints answer with more status codes than 200 and 500."""

import logging

from daeploy import service
from daeploy.exceptions import HTTPException

logger = logging.getLogger(__name__)

NOTES = {}


# A successful call answers 201 Created instead of 200 OK.
@service.entrypoint(status_code=201)
def create_note(title: str, text: str) -> str:
    if title in NOTES:
        raise HTTPException(status_code=409, detail=f"A note called {title} exists already")
    NOTES[title] = text
    return "Created"


@service.entrypoint()
def read_note(title: str) -> str:
    if title not in NOTES:
        raise HTTPException(status_code=404, detail=f"No note called {title}")
    return NOTES[title]


@service.entrypoint
def note_length(title: str) -> int:
    # No check here: an unknown title raises KeyError, which answers 500.
    return len(NOTES[title])


if __name__ == "__main__":
    service.run()
