"""``requirements.txt`` turned into files for the cluster's platform, on the user's machine.

pip installs wheels only, for Linux x86_64 and the base image's CPython, into a folder that
becomes one layer; nothing is built from source (a package without a wheel is named and the
build stops before anything is pushed). The base image's packages are pinned as constraints,
so the SDK's own dependencies keep their versions, and are left out of the layer. ``daeploy``
itself comes with the base image: a requirement on it (a 1.x project pins ``daeploy==1.x``) is
dropped, and said.
"""

from __future__ import annotations

import compileall
import hashlib
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion

from daeploy.images.base import SDK_DISTRIBUTION, BaseImage, canonical
from daeploy.images.layers import tree_entries
from daeploy.runtime.requirements import requirement_lines

REQUIREMENTS_FILE = "requirements.txt"
# The base images are Debian bookworm (glibc 2.36) on x86_64: every manylinux tag it can run.
GLIBC_MINOR = 36
PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(GLIBC_MINOR, 16, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
_NO_MATCH = re.compile(r"No matching distribution found for (?P<req>\S+)")
_NO_VERSION = re.compile(r"Could not find a version that satisfies the requirement (?P<req>\S+)")
_PATH_OPTIONS = ("-f", "--find-links", "-c", "--constraint")
_INCLUDE_OPTIONS = ("-r", "--requirement")


class DependencyError(RuntimeError):
    """The requirements cannot become a layer; the message names the package and the fix."""


@dataclass(frozen=True)
class Requirements:
    lines: tuple[str, ...]
    """Every line pip gets: includes inlined, local paths made absolute, the SDK left out."""
    dropped: tuple[str, ...] = ()
    local_paths: tuple[Path, ...] = field(default=())
    """Folders and files the lines point at: their content is part of the layer's identity."""
    added: tuple[str, ...] = ()
    """Lines that are not in requirements.txt: the ``data`` extra for 1.x code."""


def _split_option(line: str) -> tuple[str, str] | None:
    for option in (*_PATH_OPTIONS, *_INCLUDE_OPTIONS):
        for sep in ("=", " "):
            if line.startswith(option + sep):
                return option, line[len(option) + 1 :].strip()
        if option.startswith("-") and not option.startswith("--") and line.startswith(option):
            rest = line[len(option) :].strip()
            if rest:
                return option, rest
    return None


def _is_sdk(line: str) -> bool:
    try:
        return canonical(Requirement(line).name) == SDK_DISTRIBUTION
    except InvalidRequirement:
        return False


DATA_EXTRA = "data"
_DATA_TYPES_IMPORT = re.compile(
    r"^\s*(from\s+daeploy\.data_types\s+import|import\s+daeploy\.data_types"
    r"|from\s+daeploy\s+import\s+[^#\n]*\bdata_types\b)",
    re.MULTILINE,
)
_SCANNED_FILES = 500
LEGACY_SDK_VERSIONS = tuple(f"1.{minor}.{patch}" for minor in range(5) for patch in range(10))
"""A pin that admits one of these is a 1.x project's: 1.x's SDK always brought numpy and pandas."""


def data_extra() -> tuple[str, ...]:
    """The requirement lines of the SDK's ``data`` extra, as this installation declares them."""
    import importlib.metadata

    found = []
    for line in importlib.metadata.requires(SDK_DISTRIBUTION) or ():
        requirement = Requirement(line)
        marker = requirement.marker
        if marker and marker.evaluate({"extra": DATA_EXTRA}) and not marker.evaluate({"extra": ""}):
            found.append(f"{requirement.name}{requirement.specifier}")
    return tuple(found)


def _pins_legacy_sdk(dropped: tuple[str, ...]) -> bool:
    for line in dropped:
        specifier = Requirement(line).specifier
        if str(specifier) and any(specifier.contains(v) for v in LEGACY_SDK_VERSIONS):
            return True
    return False


def _imports_data_types(folder: Path) -> bool:
    for count, path in enumerate(sorted(folder.rglob("*.py"))):
        if count >= _SCANNED_FILES:
            break
        relative = path.relative_to(folder).parts
        if any(part.startswith(".") or part in ("venv", "__pycache__") for part in relative):
            continue
        try:
            if _DATA_TYPES_IMPORT.search(path.read_text(errors="replace")):
                return True
        except OSError:
            continue
    return False


def with_data_extra(folder: Path, requirements: Requirements) -> Requirements:
    """Add numpy and pandas where 1.x code counts on them without naming them.

    Daeploy 1.x's SDK depended on both, so a 1.x project (``daeploy==1.x`` pinned) or any
    service that uses ``daeploy.data_types`` (1.x's ndarray example has no requirements.txt at
    all) ran with them; here they are the ``data`` extra and come only when asked for.
    """
    if not (_pins_legacy_sdk(requirements.dropped) or _imports_data_types(folder)):
        return requirements
    named = set()
    for line in requirements.lines:
        try:
            named.add(canonical(Requirement(line).name))
        except InvalidRequirement:
            continue
    extra = tuple(line for line in data_extra() if canonical(Requirement(line).name) not in named)
    return replace(requirements, lines=requirements.lines + extra, added=extra)


def read(folder: Path) -> Requirements:
    """The folder's requirements (none without requirements.txt), plus the ``data`` extra where
    1.x code needs it (``with_data_extra``)."""
    return with_data_extra(folder, _read_file(folder))


def _read_file(folder: Path) -> Requirements:
    path = folder / REQUIREMENTS_FILE
    if not path.is_file():
        return Requirements(())
    lines: list[str] = []
    dropped: list[str] = []
    local: list[Path] = []
    seen: set[Path] = set()

    def take(file: Path) -> None:
        if file in seen:
            return
        seen.add(file)
        for line in requirement_lines(file):
            option = _split_option(line)
            if option and option[0] in _INCLUDE_OPTIONS:
                included = (file.parent / option[1]).resolve()
                if not included.is_file():
                    raise DependencyError(
                        f"{file.name}: {line!r} names {included}, which does not exist"
                    )
                take(included)
            elif option and "://" not in option[1]:
                target = (file.parent / option[1]).resolve()
                local.append(target)
                lines.append(f"{option[0]} {target}")
            elif _is_sdk(line):
                dropped.append(line)
            else:
                lines.append(line)

    take(path.resolve())
    return Requirements(tuple(lines), tuple(dropped), tuple(local))


def unmet(requirements: Requirements, base: BaseImage) -> list[str]:
    """The lines the base image does not satisfy (options always count: pip must run)."""
    missing = []
    for line in requirements.lines:
        if line.startswith("-"):
            if not _split_option(line):
                missing.append(line)
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            missing.append(line)
            continue
        if requirement.marker is not None and not requirement.marker.evaluate(
            {"python_version": base.python, "sys_platform": "linux", "platform_system": "Linux"}
        ):
            continue
        have = base.packages.get(canonical(requirement.name))
        try:
            fits = have is not None and requirement.specifier.contains(have, prereleases=True)
        except InvalidVersion:
            fits = False
        if requirement.url or requirement.extras or not fits:
            missing.append(line)
    return missing


def _fingerprint(path: Path) -> list[object]:
    if path.is_file():
        stat = path.stat()
        return [str(path), stat.st_size, stat.st_mtime_ns]
    if path.is_dir():
        return [_fingerprint(p) for p in sorted(path.iterdir()) if p.is_file()]
    return [str(path), None]


def layer_key(requirements: Requirements, base: BaseImage) -> str:
    """What the dependency layer is a function of; the same key reuses the cached layer."""
    identity = {
        "lines": requirements.lines,
        "local": [_fingerprint(p) for p in requirements.local_paths],
        "base": base.digest,
        "platforms": PLATFORMS,
        "python": base.python,
        "format": 1,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _failure(output: str, base: BaseImage) -> DependencyError:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for pattern in (_NO_MATCH, _NO_VERSION):
        found = [m["req"] for m in map(pattern.search, lines) if m]
        if found:
            package = found[-1]
            return DependencyError(
                f"{package} has no wheel for Linux x86_64 / CPython {base.python} (or does "
                "not exist): the image is built from wheels only, nothing is compiled. Choose "
                f"a version of {package} that publishes such a wheel, or build one "
                f"(`pip wheel {package}` on Linux) and point requirements.txt at its folder "
                "with --find-links"
            )
    if any("ResolutionImpossible" in line or "conflict is caused by" in line for line in lines):
        cause = [line for line in lines if line.startswith(("The user requested", "daeploy "))]
        cause += [line for line in lines if "depends on" in line]
        return DependencyError(
            "requirements.txt conflicts with the runtime image's packages (the SDK's own "
            f"dependencies keep their versions): {'; '.join(cause[:6]) or lines[-1]}. "
            "Loosen the pin in requirements.txt"
        )
    last = next((line for line in reversed(lines) if "ERROR" in line), lines[-1] if lines else "")
    return DependencyError(f"pip could not install requirements.txt: {last}")


def _remove_shared(target: Path, base: BaseImage) -> list[str]:
    """Drop what the base already has at the same version (the constraints made it so)."""
    removed = []
    for info in sorted(target.glob("*.dist-info")):
        name, _, version = info.name[: -len(".dist-info")].rpartition("-")
        if base.site_packages.get(canonical(name)) != version:
            continue
        record = info / "RECORD"
        if record.is_file():
            for row in record.read_text().splitlines():
                relative = row.split(",", 1)[0]
                path = (target / relative).resolve()
                if target.resolve() in path.parents and path.is_file():
                    path.unlink()
        shutil.rmtree(info, ignore_errors=True)
        removed.append(canonical(name))
    for folder in sorted(target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed


def install(requirements: Requirements, base: BaseImage, target: Path) -> None:
    """pip install, wheels only, for the base's platform, into ``target`` (made empty)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="daeploy-req-") as tmp:
        folder = Path(tmp)
        (folder / "requirements.txt").write_text("\n".join(requirements.lines) + "\n")
        (folder / "constraints.txt").write_text(
            "".join(f"{name}=={version}\n" for name, version in base.site_packages.items())
        )
        command = [
            sys.executable, "-m", "pip", "install",
            "--target", str(target),
            "--only-binary=:all:",
            *(f"--platform={platform}" for platform in PLATFORMS),
            f"--python-version={base.python}",
            "--implementation=cp",
            f"--abi=cp{base.python.replace('.', '')}",
            "--no-compile", "--no-warn-script-location",
            "--disable-pip-version-check", "--no-input",
            "-c", str(folder / "constraints.txt"),
            "-r", str(folder / "requirements.txt"),
        ]  # fmt: skip
        env = {**os.environ, "PIP_REQUIRE_VIRTUALENV": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise _failure(result.stdout + "\n" + result.stderr, base)
    _remove_shared(target, base)
    if f"{sys.version_info.major}.{sys.version_info.minor}" == base.python:
        # Compiled once here (checked by hash, not by time: the layer's times are fixed), so no
        # pod compiles numpy at every start in a read-only site-packages.
        compileall.compile_dir(
            str(target),
            quiet=1,
            workers=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )


def layer_entries(target: Path, base: BaseImage) -> list[tuple[str, Path]]:
    """The installed files where the base's Python finds them; scripts on its PATH."""
    entries: list[tuple[str, Path]] = []
    for child in sorted(target.iterdir()):
        if child.name == "bin" and child.is_dir():
            entries += tree_entries(child, "usr/local/bin")
        elif child.is_dir():
            entries.append((f"{base.site_dir}/{child.name}", child))
            entries += tree_entries(child, f"{base.site_dir}/{child.name}")
        else:
            entries.append((f"{base.site_dir}/{child.name}", child))
    return entries
