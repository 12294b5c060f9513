"""What every verb needs before its first command: the checks no script can fix (reported up
front, one line each with the fix), then the Debian packages, then every program on PATH."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import debian

MIN_GO = (1, 24)
MIN_PYTHON = (3, 11)

PROGRAMS: dict[str, str] = {
    "iptables": "iptables",
    "ip": "iproute2",
    "nsenter": "util-linux",
    "mount": "mount",
    "umount": "mount",
    "sysctl": "procps",
    "openssl": "openssl",
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "conntrack": "conntrack",
    "buildah": "buildah",
    "mmdebstrap": "mmdebstrap",
    "fuse-overlayfs": "fuse-overlayfs",
    "gcc": "gcc",
    "curl": "curl",
}
"""Every program the tool runs, and the Debian package that brings it."""


class PrerequisiteError(Exception):
    """Problems a script cannot fix; each line names one and its fix."""


def go_version() -> tuple[int, int] | None:
    go = shutil.which("go")
    if not go:
        return None
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout
    match = re.match(r"go(\d+)\.(\d+)", out.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def go_problem() -> str | None:
    found = go_version()
    want = ".".join(map(str, MIN_GO))
    if found is None:
        return (
            f"Go is not installed: install Go >= {want} (https://go.dev/doc/install) and put "
            "`go` on PATH; it builds the cluster's components once"
        )
    if found < MIN_GO:
        have = ".".join(map(str, found))
        return f"Go {have} is too old: install Go >= {want} and put it first on PATH"
    return None


def host_problems(needs_go: bool) -> list[str]:
    """What this machine lacks that no script here can install."""
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append("not root: run it with sudo (network namespaces, mounts, containerd)")
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "amd64"):
        problems.append(
            f"{platform.system()}/{platform.machine()} is not supported: use Linux on x86_64"
        )
    if sys.version_info < MIN_PYTHON:
        problems.append("Python 3.11 or newer is needed: install python3.11 and run with it")
    if not (shutil.which("apt-get") and shutil.which("dpkg-query")):
        problems.append("no apt-get/dpkg: use Debian 12 (or install containerd, runc, iptables, "
                        "buildah and mmdebstrap by hand)")  # fmt: skip
    cgroup = Path("/sys/fs/cgroup")
    if not cgroup.is_dir() or not any(cgroup.iterdir()):
        problems.append("no cgroup filesystem at /sys/fs/cgroup: boot with cgroups mounted")
    if not Path("/proc/self/ns/net").exists():
        problems.append("the kernel has no network namespaces: use a kernel with CONFIG_NET_NS")
    filesystems = (
        Path("/proc/filesystems").read_text() if Path("/proc/filesystems").exists() else ""
    )
    if "overlay" not in filesystems and not Path("/sys/module/overlay").exists():
        problems.append("no overlay filesystem: modprobe overlay (containerd's snapshotter)")
    if needs_go:
        problem = go_problem()
        if problem:
            problems.append(problem)
    return problems


def missing_programs() -> list[str]:
    return [p for p in PROGRAMS if shutil.which(p) is None]


def ensure(needs_go: bool = False) -> None:
    """Fail up front with every unfixable problem, else install what is missing, then check
    that every program the tool runs is really there."""
    problems = host_problems(needs_go)
    if problems:
        raise PrerequisiteError("\n".join(problems))
    debian.ensure_packages()
    gone = missing_programs()
    if gone:
        raise PrerequisiteError(
            "\n".join(
                f"{p} is missing although its package is installed: apt-get install --reinstall "
                f"{PROGRAMS[p]}"
                for p in gone
            )
        )
