"""Identity from the operator's environment variables, and defaults for local runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sdk_support import clean_env

from daeploy.contract import (
    NAMESPACE_ENV,
    PORT_ENV,
    RESOURCE_NAME_ENV,
    RESOURCE_UID_ENV,
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
)
from daeploy.identity import ConfigurationError, Identity
from daeploy.names import service_path, version_path


def test_identity_from_the_operator_environment() -> None:
    identity = Identity.from_env(
        {
            SERVICE_NAME_ENV: "die_roller",
            SERVICE_VERSION_ENV: "1.0.0-rc.1",
            NAMESPACE_ENV: "games",
            RESOURCE_NAME_ENV: "die-roller-v1-0-0-rc-1-0a1b2c3d",
            RESOURCE_UID_ENV: "uid-1",
            PORT_ENV: "9000",
        }
    )
    assert identity == Identity(
        "die_roller", "1.0.0-rc.1", "games", "die-roller-v1-0-0-rc-1-0a1b2c3d", "uid-1", 9000
    )
    assert identity.prefixes == (
        version_path("die_roller", "1.0.0-rc.1"),
        service_path("die_roller"),
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({PORT_ENV: "http"}, f"{PORT_ENV}='http' is not an integer"),
        ({PORT_ENV: "70000"}, f"{PORT_ENV}='70000' is out of range"),
        ({SERVICE_NAME_ENV: "Die-Roller"}, "invalid service name 'Die-Roller'"),
        ({SERVICE_VERSION_ENV: "v1"}, "invalid version 'v1'"),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Identity.from_env({SERVICE_NAME_ENV: "x", **env})


def test_local_name_comes_from_the_script_folder(tmp_path: Path) -> None:
    for folder, expected in (("Dice Roller", "dice_roller"), ("__", "service")):
        script = tmp_path / folder / "service.py"
        script.parent.mkdir()
        script.write_text(
            "from daeploy import service\n"
            "print(service.name, service.version, service.identity.port)\n"
        )
        result = subprocess.run(
            [sys.executable, str(script)],
            env=clean_env(),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert result.stdout.split() == [expected, "0.0.0", "8000"]
