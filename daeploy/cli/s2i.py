"""A Daeploy 1.x project folder as it is: its ``.s2i/environment`` becomes the version's
environment, as 1.x's source-to-image build made it. (``.s2iignore`` is read by packing.py.)

``APP_FILE`` is s2i's own setting (which file to run); here the file is always ``service.py``,
so it is checked, not passed on. ``-e`` options win over the file.
"""

from __future__ import annotations

from pathlib import Path

from daeploy.cli.errors import InputError
from daeploy.cli.spec import parse_env

ENVIRONMENT_FILE = Path(".s2i") / "environment"
APP_FILE = "APP_FILE"
ENTRYPOINT = "service.py"


def environment(folder: Path) -> list[dict[str, str]]:
    """The file's variables as spec env entries; none when the folder has no such file."""
    path = folder / ENVIRONMENT_FILE
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(
            f"{path} is not UTF-8 text: save it as UTF-8 (NAME=VALUE a line)"
        ) from None
    items: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise InputError(f"{path}, line {number}: {raw!r} is not NAME=VALUE; fix or remove it")
        if name == APP_FILE:
            if value != ENTRYPOINT:
                raise InputError(
                    f"{path}, line {number}: APP_FILE={value}, but a service runs {ENTRYPOINT}: "
                    f"rename {value} to {ENTRYPOINT}"
                )
            continue
        items.append(f"{name}={value}")
    try:
        return parse_env(items)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def merged(from_file: list[dict[str, str]], given: list[dict[str, str]]) -> list[dict[str, str]]:
    """The file's entries, then the options'; a name given both ways keeps the option's value."""
    values = {entry["name"]: entry["value"] for entry in [*from_file, *given]}
    return [{"name": name, "value": value} for name, value in values.items()]
