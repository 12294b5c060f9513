"""``python -m daeploy.runtime [ARCHIVE]``: extract, install what is missing, run service.py.

Environment: ``DAEPLOY_SOURCE_ARCHIVE`` (archive path when none is given),
``DAEPLOY_WORKDIR`` (writable folder to extract into, default ``/tmp/daeploy/app``),
``DAEPLOY_TERMINATION_LOG`` (default ``/dev/termination-log``; written only if it exists).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import runpy
import shutil
import site
import sys
from pathlib import Path
from typing import NoReturn

from daeploy.contract import SOURCE_ARCHIVE_ENV, TERMINATION_LOG_ENV, WORKDIR_ENV
from daeploy.runtime.archive import UnsafeArchiveError, safe_extract
from daeploy.runtime.requirements import (
    InstallError,
    install,
    is_sdk,
    requirement_lines,
    unmet,
)

DEFAULT_WORKDIR = "/tmp/daeploy/app"
MARKER = ".daeploy-runtime"
PACKAGES = ".daeploy-packages"
USAGE = f"usage: python -m daeploy.runtime [ARCHIVE]  (or set {SOURCE_ARCHIVE_ENV})"


def fail(reason: str, code: int = 1) -> NoReturn:
    """One line on stderr and in the termination log, where ``kubectl describe`` shows it."""
    line = " ".join(reason.split())[:1000]
    sys.stderr.write(f"daeploy runtime: {line}\n")
    log = Path(os.environ.get(TERMINATION_LOG_ENV, "/dev/termination-log"))
    if log.exists() and os.access(log, os.W_OK):
        with contextlib.suppress(OSError):
            log.write_text(line + "\n")
    raise SystemExit(code)


def prepare_workdir(workdir: Path) -> None:
    """An empty folder; a previous run's folder (it carries our marker) is cleared first."""
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            fail(
                f"{WORKDIR_ENV} {workdir} is not empty and was not made by the runtime; "
                "point it at an empty or missing folder"
            )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).touch()


def service_folder(workdir: Path) -> Path:
    """``service.py`` at the top, or inside the archive's single top-level folder."""
    if (workdir / "service.py").is_file():
        return workdir
    folders = [p for p in workdir.iterdir() if p.is_dir() and p.name != PACKAGES]
    files = [p for p in workdir.iterdir() if p.is_file() and p.name != MARKER]
    if len(folders) == 1 and not files and (folders[0] / "service.py").is_file():
        return folders[0]
    fail("the archive has no service.py at its top level; pack the folder that holds service.py")


def prepare(archive: Path, workdir: Path) -> Path:
    """Extract and install; returns the folder that holds service.py."""
    if not archive.is_file():
        fail(f"source archive {archive} does not exist or is not a file")
    prepare_workdir(workdir)
    try:
        safe_extract(archive, workdir)
    except UnsafeArchiveError as error:
        fail(f"refusing source archive {archive}: {error}")
    folder = service_folder(workdir)
    requirements = folder / "requirements.txt"
    if requirements.is_file():
        for line in requirement_lines(requirements):
            if is_sdk(line):
                sys.stderr.write(
                    f"daeploy runtime: requirements.txt: {line!r} left out, the runtime image "
                    "brings the SDK\n"
                )
        missing = unmet(requirements)
        if missing:
            sys.stderr.write(f"daeploy runtime: installing {', '.join(missing)}\n")
            try:
                folders = [str(f) for f in install(requirements, workdir / PACKAGES)]
            except InstallError as error:
                fail(str(error))
            # In front: a version asked for in requirements.txt wins over the image's.
            sys.path[:0] = folders
            for folder_path in folders:
                site.addsitedir(folder_path)  # .pth files of what was installed
            os.environ["PYTHONPATH"] = os.pathsep.join(
                [*folders, *filter(None, [os.environ.get("PYTHONPATH")])]
            )
            importlib.invalidate_caches()
    return folder


def run(folder: Path) -> None:
    """Run service.py as a script would run: ``__main__``, its folder as cwd and on sys.path."""
    main = folder / "service.py"
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    sys.argv = [str(main)]
    runpy.run_path(str(main), run_name="__main__")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return
    if len(args) > 1:
        fail(f"expected at most one archive path, got {len(args)} arguments; {USAGE}", 2)
    source = args[0] if args else os.environ.get(SOURCE_ARCHIVE_ENV, "")
    if not source:
        fail(f"no source archive given; {USAGE}", 2)
    workdir = Path(os.environ.get(WORKDIR_ENV) or DEFAULT_WORKDIR)
    run(prepare(Path(source), workdir))


if __name__ == "__main__":
    main()
