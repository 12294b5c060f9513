"""``python -m daeploy.runtime``: a packed folder extracted, installed and served."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest
from sdk_support import Starter, clean_env
from wheel_files import make_wheel

from daeploy.contract import (
    SERVICE_NAME_ENV,
    SOURCE_ARCHIVE_ENV,
    SOURCE_ARCHIVE_KEY,
    TERMINATION_LOG_ENV,
    WORKDIR_ENV,
)
from daeploy.names import service_path
from daeploy.runtime.archive import UnsafeArchiveError, safe_extract
from daeploy.runtime.requirements import requirement_lines, unmet

SERVICE = """\
from pathlib import Path

from daeploy import service
from helpers import GREETING


@service.entrypoint
def answer(question: str) -> dict:
    return {"greeting": GREETING, "question": question, "data": Path("data.txt").read_text()}


if __name__ == "__main__":
    service.run()
"""

EXTRA_SERVICE = """\
import daeploy_demo_extra
from daeploy import service


@service.entrypoint
def extra() -> str:
    return daeploy_demo_extra.VALUE


if __name__ == "__main__":
    service.run()
"""


def pack(folder: Path, archive: Path, top: str | None = None) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            tar.add(path, arcname=f"{top}/{name}" if top else name, recursive=False)
    return archive


def make_demo_wheel(directory: Path) -> Path:
    return make_wheel(
        directory, "daeploy_demo_extra", "0.1", 'VALUE = "installed by the runtime"\n'
    )


def runtime_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "daeploy.runtime", *args]


def test_packed_folder_is_extracted_and_served(start_service: Starter, tmp_path: Path) -> None:
    folder = tmp_path / "hello"
    folder.mkdir()
    (folder / "service.py").write_text(SERVICE)
    (folder / "helpers.py").write_text('GREETING = "hi"\n')
    (folder / "data.txt").write_text("from the folder")
    (folder / "requirements.txt").write_text(
        "# all in the image already\nfastapi\nhttpx>=0.20  # inline comment\n"
        'pydantic>=2; python_version >= "3.8"\nnot-on-this-python==1.0; python_version < "3.0"\n'
    )
    archive = pack(folder, tmp_path / SOURCE_ARCHIVE_KEY)
    workdir = tmp_path / "work"
    service = start_service(
        runtime_command(str(archive)),
        env={WORKDIR_ENV: str(workdir), SERVICE_NAME_ENV: "hello"},
        cwd=tmp_path,
    )
    response = httpx.post(service.url + service_path("hello") + "/answer", json={"question": "why"})
    assert response.json() == {"greeting": "hi", "question": "why", "data": "from the folder"}
    assert (workdir / "service.py").read_text() == SERVICE
    assert "installing" not in service.log()  # nothing was missing, pip never ran


def test_missing_requirements_are_installed(start_service: Starter, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_demo_wheel(wheels)
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "service.py").write_text(EXTRA_SERVICE)
    # A 1.x project pins the old SDK: left out, never installed over the image's.
    (folder / "requirements.txt").write_text("daeploy==1.4.0\ndaeploy-demo-extra==0.1\nfastapi\n")
    # A single top-level folder in the archive is fine too.
    archive = pack(folder, tmp_path / SOURCE_ARCHIVE_KEY, top="extra")
    service = start_service(
        runtime_command(),
        env={
            SOURCE_ARCHIVE_ENV: str(archive),
            WORKDIR_ENV: str(tmp_path / "work"),
            "PIP_NO_INDEX": "1",  # offline: only the local wheel folder
            "PIP_FIND_LINKS": str(wheels),
        },
    )
    assert httpx.post(service.url + "/extra").json() == "installed by the runtime"
    assert "installing daeploy-demo-extra==0.1\n" in service.log()
    assert "'daeploy==1.4.0' left out" in service.log()
    assert list((tmp_path / "work" / ".daeploy-packages").glob("lib*/python*/*/daeploy_demo_extra"))


def run_runtime(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    termination_log = tmp_path / "termination-log"
    termination_log.write_text("")
    return subprocess.run(
        runtime_command(*args),
        env=clean_env(
            {
                WORKDIR_ENV: str(tmp_path / "work"),
                TERMINATION_LOG_ENV: str(termination_log),
                **env,
            }
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_failed_install_exits_with_a_one_line_reason(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_demo_wheel(wheels)
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "service.py").write_text(EXTRA_SERVICE)
    (folder / "requirements.txt").write_text("daeploy-demo-extra==9.9\n")
    archive = pack(folder, tmp_path / SOURCE_ARCHIVE_KEY)
    result = run_runtime(tmp_path, str(archive), PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels))
    assert result.returncode == 1
    reason = (tmp_path / "termination-log").read_text()
    assert reason.count("\n") == 1
    assert reason.startswith("pip install -r requirements.txt failed (exit 1):")
    assert "daeploy-demo-extra==9.9" in reason
    assert f"daeploy runtime: {reason}" in result.stderr


def evil_archive(path: Path, kind: str) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        service = tarfile.TarInfo("service.py")
        service.size = 0
        tar.addfile(service, io.BytesIO(b""))
        member = tarfile.TarInfo(kind)
        if kind == "absolute":
            member.name = "/tmp/daeploy-evil-absolute"
        elif kind == "dotdot":
            member.name = "sub/../../outside.txt"
        elif kind == "symlink-absolute":
            member.type, member.linkname = tarfile.SYMTYPE, "/etc"
        elif kind == "symlink-escape":
            member.type, member.linkname = tarfile.SYMTYPE, "../../outside"
        elif kind == "hardlink-escape":
            member.type, member.linkname = tarfile.LNKTYPE, "../outside"
        elif kind == "device":
            member.type = tarfile.CHRTYPE
        elif kind == "fifo":
            member.type = tarfile.FIFOTYPE
        payload = b"evil" if member.type == tarfile.REGTYPE else b""
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    return path


EVIL = {
    "absolute": "has an absolute path",
    "dotdot": "contains '..'",
    "symlink-absolute": "points to absolute path '/etc'",
    "symlink-escape": "leaves the folder",
    "hardlink-escape": "leaves the folder",
    "device": "is a device or fifo",
    "fifo": "is a device or fifo",
}


@pytest.mark.parametrize("kind", sorted(EVIL))
def test_unsafe_archives_are_rejected(tmp_path: Path, kind: str) -> None:
    archive = evil_archive(tmp_path / "evil.tar.gz", kind)
    result = run_runtime(tmp_path, str(archive))
    assert result.returncode == 1
    reason = (tmp_path / "termination-log").read_text()
    assert reason.startswith(f"refusing source archive {archive}:")
    assert EVIL[kind] in reason
    assert not (tmp_path / "outside.txt").exists()
    assert not Path("/tmp/daeploy-evil-absolute").exists()
    # Nothing at all was extracted: members are checked before any is written.
    assert not (tmp_path / "work" / "service.py").exists()


def test_safe_extract_keeps_links_inside(tmp_path: Path) -> None:
    archive = tmp_path / "ok.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = tarfile.TarInfo("pkg/data.txt")
        data.size = 2
        tar.addfile(data, io.BytesIO(b"ok"))
        link = tarfile.TarInfo("pkg/alias.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "data.txt"
        tar.addfile(link)
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "pkg" / "alias.txt").read_text() == "ok"
    with pytest.raises(UnsafeArchiveError, match="more than the limit"):
        safe_extract(archive, tmp_path / "small", max_bytes=1)


@pytest.mark.parametrize(
    ("content", "args", "reason"),
    [
        (b"not a tar file", (), "is not a readable tar.gz archive"),
        (None, (), "does not exist or is not a file"),
        (None, ("a.tar.gz", "b.tar.gz"), "expected at most one archive path"),
    ],
)
def test_bad_invocations_explain_themselves(
    tmp_path: Path, content: bytes | None, args: tuple[str, ...], reason: str
) -> None:
    archive = tmp_path / SOURCE_ARCHIVE_KEY
    if content is not None:
        archive.write_bytes(content)
    result = run_runtime(tmp_path, *(args or (str(archive),)))
    assert result.returncode in (1, 2)
    assert reason in result.stderr
    assert reason in (tmp_path / "termination-log").read_text()


def test_no_archive_and_no_service_py(tmp_path: Path) -> None:
    result = run_runtime(tmp_path)
    assert result.returncode == 2
    assert "no source archive given" in result.stderr
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "main.py").write_text("")
    result = run_runtime(tmp_path, str(pack(folder, tmp_path / "s.tar.gz")))
    assert result.returncode == 1
    assert "no service.py at its top level" in result.stderr


def test_foreign_workdir_is_not_wiped(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "precious.txt").write_text("keep")
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "service.py").write_text("")
    result = run_runtime(tmp_path, str(pack(folder, tmp_path / "s.tar.gz")))
    assert result.returncode == 1
    assert "is not empty and was not made by the runtime" in result.stderr
    assert (work / "precious.txt").read_text() == "keep"


def test_requirement_checks(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "fastapi  # in the image\n"
        "httpx>=0.1,\\\n  <99\n"
        "fastapi<0.1\n"
        "surely-not-installed-daeploy-pkg\n"
        'ancient==1.0; python_version < "3.0"\n'
        "pydantic[email]\n"
        "-r other.txt\n"
        "demo @ https://example.invalid/demo.whl\n"
        "not a requirement !!\n"
        "daeploy==1.4.0\n"
    )
    assert requirement_lines(requirements)[1] == "httpx>=0.1, <99"
    assert unmet(requirements) == [
        "fastapi<0.1",
        "surely-not-installed-daeploy-pkg",
        "pydantic[email]",  # the extra needs email-validator, which is not installed
        "-r other.txt",
        "demo @ https://example.invalid/demo.whl",
        "not a requirement !!",
    ]
