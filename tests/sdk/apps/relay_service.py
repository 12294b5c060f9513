"""Calls recorder by name, as one service calls another (tests/cluster/test_traffic_cluster.py)."""

from daeploy import service
from daeploy.communication import call_service


@service.entrypoint
def relay(n: int = 0) -> int:
    return call_service("recorder", "hit", {"n": n})


if __name__ == "__main__":
    service.run()
