"""A service with one slow entrypoint, for the graceful shutdown tests."""

import os
import time
from pathlib import Path

from daeploy import service


@service.entrypoint
def slow(seconds: float) -> float:
    Path(os.environ["SLOW_MARKER"]).write_text("started")
    time.sleep(seconds)
    return seconds


if __name__ == "__main__":
    service.run()
