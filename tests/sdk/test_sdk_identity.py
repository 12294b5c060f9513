"""Identity from the operator's environment variables, and defaults for local runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sdk_support import clean_env

from daeploy.identity import ConfigurationError, Identity


def test_identity_from_the_operator_environment() -> None:
    identity = Identity.from_env(
        {
            "DAEPLOY_SERVICE_NAME": "die_roller",
            "DAEPLOY_SERVICE_VERSION": "1.0.0-rc.1",
            "DAEPLOY_NAMESPACE": "games",
            "DAEPLOY_RESOURCE_NAME": "die-roller-v1-0-0-rc-1-0a1b2c3d",
            "DAEPLOY_RESOURCE_UID": "uid-1",
            "DAEPLOY_PORT": "9000",
        }
    )
    assert identity == Identity(
        "die_roller", "1.0.0-rc.1", "games", "die-roller-v1-0-0-rc-1-0a1b2c3d", "uid-1", 9000
    )
    assert identity.prefixes == ("/services/die_roller_1.0.0-rc.1", "/services/die_roller")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DAEPLOY_PORT": "http"}, "DAEPLOY_PORT='http' is not an integer"),
        ({"DAEPLOY_PORT": "70000"}, "DAEPLOY_PORT='70000' is out of range"),
        ({"DAEPLOY_SERVICE_NAME": "Die-Roller"}, "invalid service name 'Die-Roller'"),
        ({"DAEPLOY_SERVICE_VERSION": "v1"}, "invalid version 'v1'"),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Identity.from_env({"DAEPLOY_SERVICE_NAME": "x", **env})


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
