"""`daeploy init`: a ready-to-deploy service project, as in the tutorial."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

import click

from daeploy.cli.errors import CliError, InputError
from daeploy.names import MAX_SERVICE_NAME_LENGTH

# template file (flat, no dot files, so package data globs pick them up) -> project path
TEMPLATES = {
    "service.py.tmpl": "service.py",
    "requirements.txt.tmpl": "requirements.txt",
    "test_service.py.tmpl": "tests/test_service.py",
    "README.md.tmpl": "README.md",
    "daeployignore.tmpl": ".daeployignore",
}
PROJECT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def suggested_service_name(project_name: str) -> str:
    """A valid service name for the README's deploy example (``my-app`` -> ``my_app``)."""
    name = re.sub(r"[^a-z0-9]+", "_", project_name.lower()).strip("_")
    return name[:MAX_SERVICE_NAME_LENGTH].rstrip("_") or "my_service"


def create_project(parent: Path, project_name: str) -> Path:
    if not re.fullmatch(PROJECT_NAME_PATTERN, project_name):
        raise InputError(
            f"invalid project_name {project_name!r}: use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (it becomes a folder name)"
        )
    target = parent / project_name
    if target.exists():
        raise InputError(f"{target} already exists: choose another project_name or PATH")
    if parent.exists() and not parent.is_dir():
        raise InputError(f"PATH {parent} is a file: give a folder to create the project in")
    try:
        _write_templates(target, project_name)
    except OSError as exc:
        # Leave nothing half-written behind: the user will retry elsewhere, with the same name.
        shutil.rmtree(target, ignore_errors=True)
        where = exc.filename or target
        raise CliError(
            f"cannot create the project in {parent}: {where}: {exc.strerror or exc}; "
            "choose a folder you can write to as PATH"
        ) from None
    return target


def _write_templates(target: Path, project_name: str) -> None:
    values = {
        "{project_name}": project_name,
        "{service_name}": suggested_service_name(project_name),
    }
    templates = resources.files("daeploy.cli") / "templates"
    for template, relative in TEMPLATES.items():
        text = (templates / template).read_text(encoding="utf-8")
        for token, value in values.items():
            text = text.replace(token, value)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(text, encoding="utf-8")


@click.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--name", "project_name", help="Project (folder) name; asked for if not given.")
def init(path: Path, project_name: str | None) -> None:
    """Create a new service project in PATH/<project_name> (PATH defaults to here)."""
    if project_name is None:
        try:
            project_name = click.prompt("project_name", default="my_project")
        except click.Abort:
            raise InputError("no project_name given: type one, or pass --name NAME") from None
    target = create_project(path, project_name.strip())
    click.echo(f"Created service project {target}", err=True)
