"""``python -m daeploy_operator``: JSON logs, a liveness endpoint, and the watched namespaces."""

from __future__ import annotations

import logging
import sys

from daeploy.contract import OPERATOR_NAME

try:
    import kopf
except ModuleNotFoundError as missing:  # the operator is an extra of the daeploy package
    if missing.name != "kopf":
        raise
    sys.exit(f"{OPERATOR_NAME}: kopf is not installed: pip install 'daeploy[operator]'")

from .settings import OperatorSettings, SettingsError


def main() -> None:
    try:
        settings = OperatorSettings.from_env()
    except SettingsError as error:
        sys.exit(f"{OPERATOR_NAME}: {error}")
    kopf.configure(log_format=kopf.LogFormat.JSON)
    # Python warnings would otherwise print plain text between the JSON lines.
    logging.captureWarnings(True)
    from . import handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        standalone=True,
        clusterwide=not settings.watch_namespaces,
        namespaces=settings.watch_namespaces,
        liveness_endpoint=settings.liveness_endpoint,
    )


if __name__ == "__main__":
    main()
