"""Install the Debian packages the node needs, only when something is missing, and remember
exactly which packages that added, so ``purge`` can give the machine back as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from . import versions

INSTALLED_RECORD = versions.CACHE / "installed-debian-packages.txt"
"""Every package (with dependencies) that ``ensure_packages`` added to this machine."""


def _installed() -> set[str]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["ii"]}


def missing(packages: tuple[str, ...] = versions.DEBIAN_PACKAGES) -> list[str]:
    installed = _installed()
    return [p for p in packages if p not in installed]


def _apt_env() -> dict[str, str]:
    return dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def _apt(cmd: list[str]) -> None:
    """apt's and dpkg's chatter only when something fails."""
    proc = subprocess.run(cmd, env=_apt_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise RuntimeError("\n".join([*tail, f"{' '.join(cmd[:3])} failed ({proc.returncode})"]))


def ensure_packages(packages: tuple[str, ...] = versions.DEBIAN_PACKAGES) -> list[str]:
    """Install what is missing of ``packages`` (the node's by default); return the packages this
    call added (dependencies included)."""
    need = missing(packages)
    if not need:
        return []
    print(f"installing Debian packages: {' '.join(need)}", file=sys.stderr)
    before = _installed()
    # A policy that forbids starting services: Debian's containerd must not start its own daemon.
    policy = Path("/usr/sbin/policy-rc.d")
    had_policy = policy.exists()
    if not had_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        _apt(["apt-get", "update", "-qq"])
        _apt(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need])
    finally:
        if not had_policy:
            policy.unlink()
    added = sorted(_installed() - before)
    INSTALLED_RECORD.parent.mkdir(parents=True, exist_ok=True)
    known = set(INSTALLED_RECORD.read_text().split()) if INSTALLED_RECORD.exists() else set()
    INSTALLED_RECORD.write_text("\n".join(sorted(known | set(added))) + "\n")
    return added


def purge_installed() -> list[str]:
    """Purge what ``ensure_packages`` added; without a record, the node's own packages that a new
    machine of this kind does not have, and whatever they alone pulled in."""
    if INSTALLED_RECORD.exists():
        targets = INSTALLED_RECORD.read_text().split()
    else:
        targets = [p for p in versions.DEBIAN_PACKAGES if p not in versions.NEW_MACHINE_HAS]
    present = sorted(set(targets) & _installed())
    if present:
        _apt(["apt-get", "purge", "-y", "-qq", *present])
    _apt(["apt-get", "autoremove", "--purge", "-y", "-qq"])
    INSTALLED_RECORD.unlink(missing_ok=True)
    return present
