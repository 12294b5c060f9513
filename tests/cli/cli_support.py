"""Helpers shared by the CLI tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from daeploy.cli.main import cli


class Daeploy:
    """Runs `daeploy ...` in-process, with separate stdout and stderr."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(cli, list(args), input=input, prog_name="daeploy")


def one_line_error(result: Result) -> str:
    """The single ``Error: ...`` line a failure must print, and nothing else on stderr."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return lines[0]


def write_service(folder: Path, body: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "service.py").write_text(
        body
        or "from daeploy import service\n\n\n@service.entrypoint\ndef f() -> int:\n    return 1\n"
    )
    return folder


def last_error_line(result: Result) -> str:
    """After progress lines on stderr, a failed wait ends with one ``Error: ...`` line.

    The service's own traceback may be among the progress lines; ours may not escape.
    """
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error: "), result.stderr
    assert not any(line.startswith("Error: ") for line in lines[:-1]), result.stderr
    return lines[-1]
