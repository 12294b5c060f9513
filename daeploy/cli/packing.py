"""A service folder packed into the tar.gz a folder deploy ships in a ConfigMap.

``.daeployignore`` uses gitignore globs (``*``, ``?``, ``[...]``, ``**``, a trailing ``/`` for
folders only, a leading or inner ``/`` to anchor at the folder, ``!`` to take a rule back).
The archive is deterministic (sorted, no owners, no gzip timestamp), so packing an unchanged
folder twice gives the same digest and a re-deploy without changes restarts nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from daeploy.cli.errors import CliError, InputError

IGNORE_FILE = ".daeployignore"
S2I_IGNORE_FILE = ".s2iignore"  # a Daeploy 1.x project's; read first, .daeployignore wins
ENTRYPOINT_FILE = "service.py"
# A ConfigMap may hold 1 MiB in total; leave room for the object's own metadata.
MAX_SOURCE_BYTES = 1_000_000
DEFAULT_IGNORES = (
    "__pycache__/",
    "*.pyc",
    "*.pyo",
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    ".tox/",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".DS_Store",
)


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    negate: bool
    folders_only: bool


def _glob_to_regex(glob: str) -> str:
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == n:
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2 :]:
            end = glob.index("]", i + 2)
            body = glob[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif glob[i] == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def compile_rule(line: str) -> Rule | None:
    """One gitignore line as a rule, or None for blanks and comments."""
    text = line.rstrip("\n").rstrip()
    if not text or text.startswith("#"):
        return None
    negate = text.startswith("!")
    if negate:
        text = text[1:]
    if text.startswith("\\"):
        text = text[1:]
    folders_only = text.endswith("/")
    text = text.rstrip("/")
    if not text:
        return None
    anchored = "/" in text
    text = text.lstrip("/")
    pattern = _glob_to_regex(text)
    if not anchored:
        pattern = "(?:.*/)?" + pattern
    return Rule(re.compile(f"^{pattern}$", re.DOTALL), negate, folders_only)


@dataclass
class IgnoreRules:
    rules: list[Rule] = field(default_factory=list)

    @classmethod
    def from_lines(cls, lines: list[str] | tuple[str, ...]) -> IgnoreRules:
        return cls([rule for rule in map(compile_rule, lines) if rule is not None])

    @classmethod
    def for_folder(cls, folder: Path) -> IgnoreRules:
        lines = list(DEFAULT_IGNORES)
        for ignore_file in (folder / S2I_IGNORE_FILE, folder / IGNORE_FILE):
            if not ignore_file.is_file():
                continue
            try:
                lines += ignore_file.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError:
                raise InputError(
                    f"{ignore_file} is not UTF-8 text: save it as UTF-8 (one pattern a line)"
                ) from None
        return cls.from_lines(lines)

    def ignored(self, relative: str, is_folder: bool) -> bool:
        """The last matching rule decides, as in git."""
        verdict = False
        for rule in self.rules:
            if rule.folders_only and not is_folder:
                continue
            if rule.regex.match(relative):
                verdict = not rule.negate
        return verdict


def _inside(folder: Path, link: Path) -> bool:
    root = folder.resolve()
    target = link.resolve()
    return target == root or root in target.parents


def included_paths(folder: Path, rules: IgnoreRules) -> list[tuple[str, Path]]:
    """(archive name, path) of everything to pack; an ignored folder is not entered."""
    found: list[tuple[str, Path]] = []

    def walk(directory: Path, prefix: str) -> None:
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                relative = prefix + entry.name
                is_folder = entry.is_dir(follow_symlinks=False)
                if rules.ignored(relative, is_folder):
                    continue
                if entry.is_symlink() and not _inside(folder, Path(entry.path)):
                    raise InputError(
                        f"{relative} in {folder} links to {os.readlink(entry.path)}, outside the "
                        f"folder, which the service will not have: copy it in, or list it in "
                        f"{IGNORE_FILE}"
                    )
                found.append((relative, Path(entry.path)))
                if is_folder:
                    walk(Path(entry.path), relative + "/")

    walk(folder, "")
    return found


@dataclass(frozen=True)
class PackedSource:
    data: bytes
    digest: str
    names: list[str]


def _size_text(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _largest(paths: list[tuple[str, Path]], count: int = 3) -> str:
    sizes = [(p.lstat().st_size, name) for name, p in paths if p.is_file() and not p.is_symlink()]
    biggest = sorted(sizes, reverse=True)[:count]
    return ", ".join(f"{name} ({_size_text(size)})" for size, name in biggest)


def _too_large(folder: Path, paths: list[tuple[str, Path]], limit: int) -> InputError:
    return InputError(
        f"{folder} packs to more than {_size_text(limit)}, the most a folder deploy can ship "
        f"(it travels in a ConfigMap); largest files: {_largest(paths)}. "
        f"List what the service does not need in {folder / IGNORE_FILE}, deploy through a "
        "registry (--registry HOST[/PATH]: the folder becomes an image, no such limit), "
        "or build an image and deploy it with --image"
    )


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = int(info.mtime)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def check_service_folder(folder: Path) -> None:
    if not folder.exists():
        raise InputError(f"folder {folder} does not exist: give the path of your service folder")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder: give the folder that holds service.py")
    if not (folder / ENTRYPOINT_FILE).is_file():
        raise InputError(
            f"folder {folder} has no {ENTRYPOINT_FILE}: a service folder needs a "
            f"{ENTRYPOINT_FILE} with your entrypoints (`daeploy init` creates one)"
        )


def pack(folder: Path, limit: int = MAX_SOURCE_BYTES) -> PackedSource:
    """Pack a service folder, refusing what a ConfigMap cannot hold."""
    try:
        return _pack(folder, limit)
    except OSError as exc:
        # An unreadable file or folder: a permission problem the user can fix or ignore.
        raise CliError(
            f"cannot read {exc.filename or folder}: {exc.strerror or exc}; make it readable, "
            f"or list it in {folder / IGNORE_FILE}"
        ) from None


def _pack(folder: Path, limit: int) -> PackedSource:
    check_service_folder(folder)
    rules = IgnoreRules.for_folder(folder)
    if rules.ignored(ENTRYPOINT_FILE, is_folder=False):
        raise InputError(
            f"{folder}/{IGNORE_FILE} excludes {ENTRYPOINT_FILE}, which every service needs: "
            "remove that rule"
        )
    paths = included_paths(folder, rules)
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, path in paths:
            tar.add(path, arcname=name, recursive=False, filter=_normalise)
            if buffer.tell() > limit:
                raise _too_large(folder, paths, limit)
    data = buffer.getvalue()
    if len(data) > limit:
        raise _too_large(folder, paths, limit)
    return PackedSource(data, hashlib.sha256(data).hexdigest(), [name for name, _ in paths])
