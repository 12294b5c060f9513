"""What ``daeploy deploy`` accepts as PATH: a folder, a ``.tar.gz`` of one, or a git URL.

An archive is extracted and a repository cloned into a temporary folder on the user's machine
(git's own credentials apply), then deployed like any folder; the folder is removed after.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daeploy.cli.errors import InputError
from daeploy.runtime.archive import UnsafeArchiveError, safe_extract

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
_GIT_URL = re.compile(r"^(?:git\+)?(?:https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:|\.git(?:#.*)?$")


def is_git_url(text: str) -> bool:
    return bool(_GIT_URL.search(text)) and not Path(text).exists()


def _single_folder(root: Path) -> Path:
    """The archive's folder: its top, or its one top-level folder when service.py is there."""
    if (root / "service.py").is_file():
        return root
    children = list(root.iterdir())
    if len(children) == 1 and children[0].is_dir() and (children[0] / "service.py").is_file():
        return children[0]
    return root


@contextmanager
def service_folder(text: str) -> Iterator[Path]:
    if is_git_url(text):
        url, _, ref = text.removeprefix("git+").partition("#")
        git = shutil.which("git")
        if git is None:
            raise InputError(f"{text} is a git URL but git is not installed: install git")
        with tempfile.TemporaryDirectory(prefix="daeploy-git-") as tmp:
            command = [git, "clone", "--quiet", "--depth=1"]
            command += ["--branch", ref] if ref else []
            done = subprocess.run([*command, url, tmp], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise InputError(
                    f"git clone {url} failed: {done.stderr.strip().splitlines()[-1:]}; check "
                    "the URL (a branch or tag goes after #) and your git credentials"
                )
            yield Path(tmp)
        return
    path = Path(text)
    if path.is_file() and text.endswith(ARCHIVE_SUFFIXES):
        with tempfile.TemporaryDirectory(prefix="daeploy-archive-") as tmp:
            try:
                safe_extract(path, Path(tmp))
            except UnsafeArchiveError as error:
                raise InputError(f"refusing {path}: {error}") from None
            yield _single_folder(Path(tmp))
        return
    yield path
