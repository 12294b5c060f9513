"""`daeploy assign --weight/--shadow` and the TRAFFIC column, against a real API server (envtest)
and the real reconciler with traffic routes on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_envtest import ApiNamespace, OperatorLoop
from cli_support import Daeploy, one_line_error

from daeploy.contract import CLI_TRAFFIC_FIELD_MANAGER, MANAGED_BY_CLI, TRAFFIC_ROUTES_ENV
from daeploy.names import version_object_name

DIE_1 = version_object_name("die_roller", "1.0.0")
DIE_2 = version_object_name("die_roller", "2.0.0")
DIE_3 = version_object_name("die_roller", "3.0.0")


@pytest.fixture
def traffic_operator(apiserver: ApiNamespace) -> Iterator[OperatorLoop]:
    loop = OperatorLoop(apiserver.envtest, apiserver.namespace, {TRAFFIC_ROUTES_ENV: "traefik"})
    yield loop.start()
    loop.stop()


def _deploy(daeploy: Daeploy, version: str) -> None:
    image = f"localhost/die-roller:{version}"
    result = daeploy("deploy", "die_roller", version, "--image", image, "--timeout", "30")
    assert result.exit_code == 0, result.output


def _table(daeploy: Daeploy, *args: str) -> list[list[str]]:
    lines = daeploy("ls", "die_roller", *args).stdout.splitlines()
    return [line.split() for line in [lines[0], *lines[2:]]]


def _managers(obj: dict[str, Any]) -> dict[str, Any]:
    return {e["manager"]: e.get("fieldsV1") for e in obj["metadata"]["managedFields"]}


def test_versions_are_shadows_and_assign_weight_makes_a_canary(
    daeploy: Daeploy, apiserver: ApiNamespace, traffic_operator: OperatorLoop
) -> None:
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        _deploy(daeploy, version)
    traffic_operator.settle()
    assert _table(daeploy) == [
        ["MAIN", "NAME", "VERSION", "STATUS", "RUNNING", "TRAFFIC"],
        ["*", "die_roller", "1.0.0", "running", *_running(apiserver, DIE_1), "main", "100%"],
        ["die_roller", "2.0.0", "running", *_running(apiserver, DIE_2), "shadow"],
        ["die_roller", "3.0.0", "running", *_running(apiserver, DIE_3), "shadow"],
    ]

    result = daeploy("assign", "die_roller", "2.0.0", "--weight", "10", "--timeout", "20")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "Set die_roller 2.0.0: weight 10%, shadow on; it now gets: canary 10%"
    )
    canary = apiserver.must_get(DIE_2)
    assert canary["spec"]["weight"] == 10
    assert canary["spec"]["main"] is False  # still not main
    assert _managers(canary)[CLI_TRAFFIC_FIELD_MANAGER] == {
        "f:spec": {"f:shadow": {}, "f:weight": {}}
    }
    assert [row[-2:] for row in _table(daeploy)[1:]] == [
        ["main", "90%"],
        ["canary", "10%"],
        [_running(apiserver, DIE_3)[-1], "shadow"],
    ]

    # A redeploy of the canary leaves its weight alone: another field manager holds it.
    _deploy(daeploy, "2.0.0")
    assert apiserver.must_get(DIE_2)["spec"]["weight"] == 10
    assert "f:weight" not in str(_managers(apiserver.must_get(DIE_2))[MANAGED_BY_CLI])

    result = daeploy("assign", "die_roller", "3.0.0", "--no-shadow", "--timeout", "20")
    assert result.exit_code == 0, result.output
    assert "it now gets: no share" in result.stdout
    assert apiserver.must_get(DIE_3)["spec"]["shadow"] is False


def test_the_main_cannot_take_a_weight(
    daeploy: Daeploy, apiserver: ApiNamespace, traffic_operator: OperatorLoop
) -> None:
    _deploy(daeploy, "1.0.0")
    traffic_operator.settle()
    result = daeploy("assign", "die_roller", "1.0.0", "--weight", "20")
    assert result.exit_code != 0
    error = one_line_error(result)
    assert "is the main version" in error and "OTHER_VERSION --weight N" in error
    assert "weight" not in apiserver.must_get(DIE_1)["spec"]


def test_a_weight_out_of_range_is_refused_by_name(daeploy: Daeploy, tmp_path: Path) -> None:
    result = daeploy("assign", "die_roller", "2.0.0", "--weight", "150")
    assert result.exit_code == 2
    assert "--weight" in result.output and "0<=x<=100" in result.output


def _running(apiserver: ApiNamespace, object_name: str) -> list[str]:
    """The RUNNING cell split as the test splits rows: 'Running (since <date> <time>)'."""
    from daeploy.cli.resource import running_text

    return running_text(apiserver.must_get(object_name)).split()
