"""`daeploy init` writes a project that deploys and whose own test passes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from cli_support import Daeploy, one_line_error

from daeploy.cli.packing import pack

FILES = ["service.py", "requirements.txt", "tests/test_service.py", "README.md", ".daeployignore"]


def test_init_asks_for_the_project_name_like_the_tutorial(daeploy: Daeploy, tmp_path: Path) -> None:
    result = daeploy("init", str(tmp_path), input="die_roller_service\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("project_name [my_project]: ")
    project = tmp_path / "die_roller_service"
    for name in FILES:
        assert (project / name).is_file(), name
    source = (project / "service.py").read_text()
    assert "from daeploy import service" in source
    assert "@service.entrypoint" in source
    ast.parse(source)
    assert "daeploy deploy die_roller_service 0.1.0 ." in (project / "README.md").read_text()


def test_init_takes_the_default_name(daeploy: Daeploy, tmp_path: Path) -> None:
    result = daeploy("init", str(tmp_path), input="\n")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "my_project" / "service.py").is_file()


def test_init_with_name_option_does_not_ask(daeploy: Daeploy, tmp_path: Path) -> None:
    result = daeploy("init", str(tmp_path), "--name", "my-app")
    assert result.exit_code == 0, result.output
    assert "project_name" not in result.output
    assert "daeploy deploy my_app 0.1.0 ." in (tmp_path / "my-app" / "README.md").read_text()


def test_init_refuses_an_existing_folder(daeploy: Daeploy, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    result = daeploy("init", str(tmp_path), "--name", "taken")
    assert result.exit_code == 2
    assert "already exists" in one_line_error(result)


def test_init_refuses_a_path_as_project_name(daeploy: Daeploy, tmp_path: Path) -> None:
    result = daeploy("init", str(tmp_path), "--name", "../escape")
    assert result.exit_code == 2
    assert "invalid project_name '../escape'" in one_line_error(result)
    assert not (tmp_path.parent / "escape").exists()


def test_new_project_packs_and_its_test_passes(daeploy: Daeploy, tmp_path: Path) -> None:
    assert daeploy("init", str(tmp_path), "--name", "fresh").exit_code == 0
    project = tmp_path / "fresh"
    assert "service.py" in pack(project).names
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
