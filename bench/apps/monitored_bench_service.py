"""The service bench/monitoring.py measures: the same small work behind two entrypoints, one
with ``monitor=True`` (its arguments and result stored as ``monitored_request`` and
``monitored_response``), one without. Served by the SDK's own ``service.run()`` on 127.0.0.1;
the monitoring store's file is ``$DAEPLOY_MONITOR_DB``."""

from daeploy import service


def work(value: float, label: str) -> dict:
    return {"value": value * 2, "label": label.upper()}


@service.entrypoint(monitor=True)
def monitored(value: float, label: str = "x") -> dict:
    return work(value, label)


@service.entrypoint
def plain(value: float, label: str = "x") -> dict:
    return work(value, label)


if __name__ == "__main__":
    service.run(host="127.0.0.1")
