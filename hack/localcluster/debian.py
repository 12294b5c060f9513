"""Install the Debian packages the node needs, only when something is missing."""

from __future__ import annotations

import os
import subprocess
import sys

from . import versions


def missing(packages: tuple[str, ...] = versions.DEBIAN_PACKAGES) -> list[str]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", *packages],
        capture_output=True,
        text=True,
    ).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["ii"]}
    return [p for p in packages if p not in installed]


def ensure_packages() -> None:
    need = missing()
    if not need:
        return
    print(f"installing Debian packages: {' '.join(need)}", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # A policy that forbids starting services: Debian's containerd must not start its own daemon.
    policy = "/usr/sbin/policy-rc.d"
    had_policy = os.path.exists(policy)
    if not had_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need],
            check=True,
            env=env,
        )
    finally:
        if not had_policy:
            os.unlink(policy)
