"""A Daeploy 1.x project folder deploys as it is: .s2i/environment and .s2iignore (issue 14)."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

import pytest
from cli_envtest import ApiNamespace, OperatorLoop
from cli_support import Daeploy, write_service

from daeploy.cli.errors import InputError
from daeploy.cli.packing import pack
from daeploy.cli.s2i import environment, merged
from daeploy.contract import PORT_ENV, SOURCE_ARCHIVE_KEY
from daeploy.names import version_object_name


def _project(root: Path, env_text: str) -> Path:
    folder = write_service(root / "svc")
    (folder / ".s2i").mkdir()
    (folder / ".s2i" / "environment").write_text(env_text)
    return folder


def test_environment_is_read_as_1x_wrote_it(tmp_path: Path) -> None:
    folder = _project(tmp_path, "# 1.x template\nAPP_FILE = service.py\nLEVEL = debug\nA=b=c\n\n")
    assert environment(folder) == [
        {"name": "LEVEL", "value": "debug"},
        {"name": "A", "value": "b=c"},
    ]
    assert environment(write_service(tmp_path / "plain")) == []
    given = [{"name": "LEVEL", "value": "info"}]
    assert merged(environment(folder), given) == [
        {"name": "LEVEL", "value": "info"},
        {"name": "A", "value": "b=c"},
    ]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("APP_FILE = app.py\n", "rename app.py to service.py"),
        ("just words\n", "line 1: 'just words' is not NAME=VALUE"),
        (f"{PORT_ENV}=1\n", "is set by Daeploy"),
    ],
)
def test_a_bad_environment_file_names_the_file_and_the_fix(
    tmp_path: Path, text: str, names: str
) -> None:
    folder = _project(tmp_path, text)
    with pytest.raises(InputError) as refused:
        environment(folder)
    assert str(folder / ".s2i" / "environment") in str(refused.value)
    assert names in str(refused.value)


def test_s2iignore_is_honoured_and_daeployignore_wins(tmp_path: Path) -> None:
    folder = write_service(tmp_path / "svc")
    (folder / "data.csv").write_text("x\n")
    (folder / "notes.txt").write_text("x\n")
    (folder / "keep.csv").write_text("x\n")
    (folder / ".s2iignore").write_text("*.csv\nnotes.txt\n")
    (folder / ".daeployignore").write_text("!keep.csv\n")
    names = pack(folder).names
    assert "data.csv" not in names and "notes.txt" not in names
    assert "keep.csv" in names and "service.py" in names


def test_a_1x_project_deploys_with_its_environment(
    daeploy: Daeploy, apiserver: ApiNamespace, operator: OperatorLoop, tmp_path: Path
) -> None:
    folder = _project(tmp_path, "APP_FILE = service.py\nLEVEL = debug\nMODE = fast\n")
    (folder / ".s2iignore").write_text("secret.txt\n")
    (folder / "secret.txt").write_text("no\n")
    result = daeploy(
        "deploy", "die_roller", "1.0.0", str(folder), "-e", "MODE=slow", "--timeout", "30"
    )
    assert result.exit_code == 0, result.output
    assert "Environment from .s2i/environment: LEVEL, MODE" in result.stderr
    obj = apiserver.must_get(version_object_name("die_roller", "1.0.0"))
    env = {e["name"]: e["value"] for e in obj["spec"]["env"]}
    assert env["LEVEL"] == "debug" and env["MODE"] == "slow"
    config_map = apiserver.config_map(f"{version_object_name('die_roller', '1.0.0')}-source")
    archive = base64.b64decode(config_map["binaryData"][SOURCE_ARCHIVE_KEY])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert "secret.txt" not in tar.getnames()
