"""Access-log lines a service does not want: the kubelet's probes, and entrypoints or
parameters declared with ``disable_http_logs=True`` (1.x's option)."""

from __future__ import annotations

import logging

from daeploy.contract import HEALTH_PREFIX

ACCESS_LOGGER = "uvicorn.access"


class QuietPaths(logging.Filter):
    """Drops uvicorn access lines for paths under ``HEALTH_PREFIX`` or ending in a quiet path.

    uvicorn's access record carries (client, method, path with query, HTTP version, status);
    the path may carry the service's route prefix, so the match is on its end.
    """

    def __init__(self) -> None:
        super().__init__()
        self.suffixes: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) < 3:
            return True
        path = str(args[2]).split("?", 1)[0]
        if HEALTH_PREFIX in path:
            return False
        return not any(path.endswith(suffix) for suffix in self.suffixes)


quiet_paths = QuietPaths()


def install() -> QuietPaths:
    """Once per process, on uvicorn's access logger."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if quiet_paths not in logger.filters:
        logger.addFilter(quiet_paths)
    return quiet_paths
