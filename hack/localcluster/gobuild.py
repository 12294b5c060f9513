"""Build Go binaries from the official modules through a small wrapper module.

Upstream modules such as Kubernetes, etcd and Traefik carry ``replace`` directives, so a plain
``go install module@version`` fails. A wrapper module that requires the upstream module, with
the upstream's version-pinned replaces copied and its local-path replaces dropped (or, for
Kubernetes' staging repos, turned into the published ``v0.x.y`` modules), builds the same code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import prerequisites, versions


@dataclass(frozen=True)
class GoComponent:
    name: str
    module: str
    version: str
    packages: tuple[str, ...]
    ldflags: tuple[str, ...] = ()
    staging_version: str | None = None
    """For Kubernetes: the published version of the ``./staging/src/...`` modules."""
    extra_env: dict[str, str] = field(default_factory=dict)
    output: str | None = None
    """File name for a single-package build whose path ends in a major version (``.../v3``)."""
    tags: tuple[str, ...] = ()
    """Go build tags, e.g. to leave out parts upstream makes optional."""

    @property
    def binaries(self) -> tuple[str, ...]:
        if self.output:
            return (self.output,)
        return tuple(p.rstrip("/").rsplit("/", 1)[-1] for p in self.packages)

    @property
    def bin_dir(self) -> Path:
        return versions.bin_dir(self.name, self.version)

    def binary(self, name: str | None = None) -> Path:
        return self.bin_dir / (name or self.binaries[0])

    def is_built(self) -> bool:
        return all((self.bin_dir / b).is_file() for b in self.binaries)


def parse_directives(gomod: str) -> list[tuple[str, str]]:
    """Return (verb, argument) pairs of a go.mod, with ``verb ( ... )`` blocks flattened."""
    out: list[tuple[str, str]] = []
    block: str | None = None
    for raw in gomod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block:
            if line == ")":
                block = None
            else:
                out.append((block, line))
            continue
        verb, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest == "(":
            block = verb
        else:
            out.append((verb, rest))
    return out


def wrapper_gomod(
    upstream: str, module: str, version: str, staging_version: str | None = None
) -> str:
    """The go.mod of a wrapper module that builds ``module@version`` as upstream pins it."""
    lines = [f"module local.build/{module.replace('/', '_')}", ""]
    replaces: list[str] = []
    for verb, arg in parse_directives(upstream):
        if verb in ("go", "godebug"):
            lines.append(f"{verb} {arg}")
        elif verb == "exclude":
            replaces.append(f"exclude {arg}")
        elif verb == "replace":
            old, _, new = (part.strip() for part in arg.partition("=>"))
            target = new.split()
            if len(target) == 2:
                replaces.append(f"replace {old} => {new}")
            elif staging_version and target[0].startswith("./staging/src/"):
                old_path = old.split()[0]
                replaces.append(f"replace {old_path} => {old_path} {staging_version}")
            # Other local-path replaces point inside the upstream repository; the published
            # modules they stand for resolve through the normal requirements.
    lines += ["", f"require {module} {version}", "", *replaces, ""]
    return "\n".join(lines)


def tools_go(packages: tuple[str, ...]) -> str:
    imports = "\n".join(f'\t_ "{p}"' for p in packages)
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CGO_ENABLED": "0",
            "GOTOOLCHAIN": "local",  # never fetch another toolchain
            "GOFLAGS": "-mod=mod -buildvcs=false",
            "GONOSUMDB": "",
        }
    )
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text().splitlines()[-25:]
        raise RuntimeError(f"{' '.join(cmd[:3])} failed in {cwd}:\n" + "\n".join(tail))


def upstream_gomod(module: str, version: str, env: dict[str, str], cwd: Path) -> str:
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(json.loads(out)["GoMod"]).read_text()


def build(component: GoComponent) -> float:
    """Build the component's binaries unless cached; return the seconds spent (0 when cached)."""
    if component.is_built():
        return 0.0
    problem = prerequisites.go_problem()
    if problem:
        raise prerequisites.PrerequisiteError(problem)
    start = time.monotonic()
    src = versions.src_dir(component.name, component.version)
    src.mkdir(parents=True, exist_ok=True)
    component.bin_dir.mkdir(parents=True, exist_ok=True)
    env = go_env() | component.extra_env
    log = src / "build.log"
    print(f"building {component.name} {component.version} (log: {log})", file=sys.stderr)
    gomod = upstream_gomod(component.module, component.version, env, src)
    (src / "go.mod").write_text(
        wrapper_gomod(gomod, component.module, component.version, component.staging_version)
    )
    (src / "tools.go").write_text(tools_go(component.packages))
    _run(["go", "mod", "tidy"], src, env, log)
    ldflags = " ".join(("-s", "-w", *component.ldflags))
    out_dir = (
        str(component.bin_dir / component.output)
        if component.output
        else str(component.bin_dir) + "/"
    )
    tags = ["-tags", ",".join(component.tags)] if component.tags else []
    cmd = [
        "go",
        "build",
        "-trimpath",
        *tags,
        "-ldflags",
        ldflags,
        "-o",
        out_dir,
        *component.packages,
    ]
    _run(cmd, src, env, log)
    missing = [b for b in component.binaries if not (component.bin_dir / b).is_file()]
    if missing:
        raise RuntimeError(f"{component.name}: build produced no {', '.join(missing)}")
    return time.monotonic() - start


_SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)")


def minor_of(version: str) -> str:
    match = _SEMVER.match(version)
    if not match:
        raise ValueError(f"not a Go module version: {version}")
    return match.group(2)
