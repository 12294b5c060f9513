"""``python -m daeploy_dashboard``: serve the dashboard in its pod (settings from the env)."""

from __future__ import annotations

import sys

import uvicorn

from daeploy.monitoring import quiet
from daeploy_dashboard.app import create_app
from daeploy_dashboard.settings import Settings, SettingsError


def main() -> None:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"daeploy dashboard: {error}", file=sys.stderr)
        sys.exit(2)
    # The kubelet's probes (/~health/...) stay out of the access log.
    quiet.install()
    uvicorn.run(
        create_app(settings),
        host="0.0.0.0",
        port=settings.port,
        proxy_headers=True,
        forwarded_allow_ips="*",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
