"""Deciding whether ``requirements.txt`` needs pip at all, and running it when it does.

A folder whose requirements are already in the image (the common case: only the SDK) starts
without touching the network; anything missing or not checkable here goes to pip.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


class InstallError(RuntimeError):
    """pip could not install the requirements; the message is pip's last error line."""


def requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a requirements file, comments and continuations resolved."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


def _satisfied(requirement: Requirement, depth: int = 0) -> bool:
    if requirement.marker is not None and not requirement.marker.evaluate():
        return True
    if requirement.url or depth > 5:
        return False
    try:
        installed = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    if not requirement.specifier.contains(installed, prereleases=True):
        return False
    for extra in requirement.extras:
        for dependency in importlib.metadata.requires(requirement.name) or []:
            needed = Requirement(dependency)
            if needed.marker is None or not needed.marker.evaluate({"extra": extra}):
                continue
            needed.marker = None
            if not _satisfied(needed, depth + 1):
                return False
    return True


SDK = "daeploy"
FILTERED_NAME = ".daeploy-requirements.txt"


def is_sdk(line: str) -> bool:
    """A requirement on the SDK itself, which the runtime image brings (a 1.x project pins
    ``daeploy==1.x``, which must never replace it)."""
    try:
        return canonicalize_name(Requirement(line).name) == SDK
    except InvalidRequirement:
        return False


def unmet(path: Path) -> list[str]:
    """Lines pip has to handle: missing or mismatched packages, options, URLs, bad lines; a
    requirement on the SDK never counts."""
    missing = []
    for line in requirement_lines(path):
        if is_sdk(line):
            continue
        if line.startswith("-"):
            missing.append(line)
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            missing.append(line)
            continue
        if not _satisfied(requirement):
            missing.append(line)
    return missing


def install(path: Path, prefix: Path) -> list[Path]:
    """``pip install --prefix`` into a writable folder, the SDK's own lines left out; returns
    its package folders.

    Not ``--target``: that implies ``--ignore-installed`` and would download again everything
    the image already has. ``--prefix`` installs only what is missing; the image's
    site-packages are read-only for user 10001 anyway.
    """
    prefix.mkdir(parents=True, exist_ok=True)
    # Next to the original, so that -r, -c and --find-links with relative paths still resolve.
    filtered = path.with_name(FILTERED_NAME)
    filtered.write_text(
        "".join(f"{line}\n" for line in requirement_lines(path) if not is_sdk(line))
    )
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
        "--prefix",
        str(prefix),
        "-r",
        str(filtered),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=path.parent, check=False)
    sys.stderr.write(result.stdout[-4000:])
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        last = next((line for line in reversed(errors) if "ERROR" in line), None)
        last = last or (errors[-1] if errors else "no output")
        raise InstallError(
            f"pip install -r requirements.txt failed (exit {result.returncode}): {last.strip()}"
        )
    # lib/python3.11/site-packages, or dist-packages on Debian's patched Python.
    return sorted(
        folder
        for pattern in ("lib*/python3*/*-packages", "local/lib*/python3*/*-packages")
        for folder in prefix.glob(pattern)
        if folder.is_dir()
    )
